"""What `scalesearch scale` shows: a space's family, one member per φ, with counted cost."""

from __future__ import annotations

from typing import Any

from rich import box
from rich.console import Console
from rich.table import Table

from scalesearch.arch.cost import count_cost
from scalesearch.search.space import Coefficients, SearchSpace


def describe_family(
    space: SearchSpace, phis: list[float], coefficients: Coefficients
) -> list[dict[str, Any]]:
    """One plain-data row per φ (the JSON of `scale`), with the MACs ratio to the row before."""
    rows: list[dict[str, Any]] = []
    for phi in phis:
        spec = space.member(phi, coefficients)
        cost = count_cost(spec)
        previous = rows[-1]["macs"] if rows else None
        rows.append(
            {
                "phi": phi,
                "alpha": coefficients.alpha,
                "beta": coefficients.beta,
                "gamma": coefficients.gamma,
                "resolution": spec.resolution,
                "depths": [s.depth for s in spec.stages],
                "dims": [s.dim for s in spec.stages],
                "params": cost.params,
                "macs": cost.macs,
                "macs_ratio": None if previous is None else cost.macs / previous,
                "spec_hash": spec.spec_hash(),
                "spec": spec.to_dict(),
            }
        )
    return rows


def render_family(space: SearchSpace, rows: list[dict[str, Any]], console: Console) -> None:
    c = rows[0]
    constraint = space.scaling.constraint
    product = constraint.product(c["alpha"], c["beta"], c["gamma"])
    table = Table(
        title=f"{space.name}: α={c['alpha']:.3f} β={c['beta']:.3f} γ={c['gamma']:.3f}",
        caption=(
            f"α·β^{constraint.width_exponent:g}·γ² = {product:.2f} (target {constraint.target:g}). "
            "MACs = multiply-adds (papers call them FLOPs); ratio = MACs over the row above."
        ),
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        collapse_padding=True,
    )
    for column in ("φ", "input", "depths", "widths", "params", "MMACs", "ratio"):
        table.add_column(column, justify="right", no_wrap=True)
    for r in rows:
        ratio = "" if r["macs_ratio"] is None else f"{r['macs_ratio']:.2f}×"
        table.add_row(
            f"{r['phi']:g}", str(r["resolution"]), "/".join(map(str, r["depths"])),
            "/".join(map(str, r["dims"])), f"{r['params'] / 1e6:.3f}M",
            f"{r['macs'] / 1e6:,.1f}", ratio,
        )
    console.print(table)
