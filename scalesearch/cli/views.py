"""How the CLI shows things: every table and progress bar, from plain data."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Container, Iterator, Sequence
from typing import Any

from rich import box
from rich.console import Console
from rich.table import Table

from scalesearch.formatting import human, milliseconds
from scalesearch.search.costs import cell
from scalesearch.search.results.frontier import FrontierPoint
from scalesearch.search.results.latencies import RunLatencies
from scalesearch.search.space import SearchSpace
from scalesearch.stats import format_accuracy


def _parts_label(stage: dict[str, Any], block: dict[str, Any]) -> str:
    attention = {
        "linear": "attn",
        "conv": f"convproj/{block['kv_stride']}",
        "light": f"light/{block['kv_reduction']}",
    }[stage["attention"]]
    parts = [
        "lpu" if stage["local_perception"] == "lpu" else None,
        attention,
        f"{stage['ffn']}×{stage['mlp_ratio']:g}",
        "cls" if stage["class_token"] else None,
    ]
    return "+".join(p for p in parts if p)


def numbers_table(
    title: str,
    caption: str,
    columns: Sequence[str],
    left: Container[str] = (),
    no_wrap: bool = True,
) -> Table:
    """A table in the house style: no edge padding and collapsed padding (80 columns, a log
    file or a narrow terminal, must not cut a figure), columns right-aligned but `left`."""
    table = Table(
        title=title, caption=caption, box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True
    )
    for column in columns:
        justify = "left" if column in left else "right"
        table.add_column(column, justify=justify, no_wrap=no_wrap)
    return table


def render_description(desc: dict[str, Any], console: Console) -> None:
    """Prints a description as a per-stage table with totals."""
    table = numbers_table(
        f"{desc['name']}: {desc['params']:,} params, {desc['macs'] / 1e9:.3f} GMACs "
        f"at {desc['resolution']}×{desc['resolution']}, {desc['num_classes']} classes",
        "MACs = multiply-adds (papers call them FLOPs), counted for one image.",
        ("#", "grid", "dim/heads", "depth", "embed", "block parts", "params", "MMACs"),
        left={"block parts"},
    )
    for s, spec_stage in zip(desc["stages"], desc["spec"]["stages"]):
        table.add_row(
            str(s["index"]),
            f"{s['grid'][0]}×{s['grid'][1]}",
            f"{s['dim']}/{s['num_heads']}",
            str(s["depth"]),
            s["embed"],
            _parts_label(s, spec_stage["block"]),
            f"{s['params'] / 1e6:.3f}M",
            f"{s['macs'] / 1e6:,.1f}",
        )
    console.print(table)
    stem = f"stem {desc['stem']['out_chs']} ch, " if desc["stem"] else ""
    console.print(
        f"{stem}head {desc['head']}, total stride {desc['total_stride']}, "
        f"init {desc['init']}, drop path {desc['drop_path']}, spec hash {desc['spec_hash']}"
    )
    if "target_macs" in desc:
        console.print(_cost_line(desc))


def _cost_line(row: dict[str, Any]) -> str:
    """The equal-cost promise of a space member, kept or not, in words."""
    e = row["effective"]
    kept = "within tolerance" if row["within_tolerance"] else "OUTSIDE the tolerance"
    return (
        f"target {row['target_macs'] / 1e6:,.1f} MMACs (base × c^φ); realised "
        f"{row['cost_ratio']:.3f}× the target, {kept}; effective α={e['alpha']:.3f} "
        f"β={e['beta']:.3f} γ={e['gamma']:.3f}"
    )


def render_family(space: SearchSpace, rows: list[dict[str, Any]], console: Console) -> None:
    c = rows[0]
    constraint = space.scaling.constraint
    product = constraint.product(c["alpha"], c["beta"], c["gamma"])
    table = numbers_table(
        f"{space.name}: α={c['alpha']:.3f} β={c['beta']:.3f} γ={c['gamma']:.3f}",
        f"α·β^{constraint.width_exponent:g}·γ² = {product:.2f} (target {constraint.target:g}). "
        "MACs = multiply-adds (papers call them FLOPs); ratio = MACs over the row above; "
        "×target = MACs over the base's × c^φ; eff = the α/β/γ the rounding realised.",
        ("φ", "input", "depths", "widths", "params", "MMACs", "ratio", "×target", "eff α/β/γ"),
    )
    for r in rows:
        ratio = "" if r["macs_ratio"] is None else f"{r['macs_ratio']:.2f}×"
        e = r["effective"]
        flag = "" if r["within_tolerance"] else " !"
        table.add_row(
            f"{r['phi']:g}",
            str(r["resolution"]),
            "/".join(map(str, r["depths"])),
            "/".join(map(str, r["dims"])),
            f"{r['params'] / 1e6:.3f}M",
            f"{r['macs'] / 1e6:,.1f}",
            ratio,
            f"{r['cost_ratio']:.3f}{flag}",
            f"{e['alpha']:.2f}/{e['beta']:.2f}/{e['gamma']:.2f}",
        )
    console.print(table)


def render_frontiers(
    family: list[FrontierPoint],
    search: list[FrontierPoint],
    console: Console,
    hypervolumes: tuple[float, float] | None = None,
) -> None:
    """The run's two frontiers, each on its own axes (each from its own study)."""
    hv = hypervolumes or (None, None)
    if family:
        render_frontier(
            family,
            "Family frontier: accuracy against MACs across φ (the scaled models, trained alike)",
            console,
            hv[0],
        )
    else:
        console.print(
            "No family trained yet: the family frontier (accuracy against MACs) comes with it."
        )
    costs = ", ".join(c for c in (search[0].costs or {}) if c != "macs") if search else ""
    against = costs or "MACs"
    phi = f" at φ = {search[0].phi:g}" if search else ""
    render_frontier(
        search, f"Search frontier{phi}: accuracy against {against} (proxy training)", console, hv[1]
    )


def render_frontier(
    points: list[FrontierPoint], title: str, console: Console, hypervolume: float | None = None
) -> None:
    """One frontier in 80 columns (a log file or a narrow terminal must not cut the error)."""
    volume = "" if hypervolume is None else f", hypervolume {hypervolume:.4f}"
    extra = [c for c in (points[0].costs or {}) if c != "macs"] if points else []
    columns = ["trial", "φ", "accuracy ± se", "seeds", "MACs", "params", *extra, "α/β/γ"]
    table = numbers_table(
        f"{title}: {len(points)} points{volume}",
        "MACs = multiply-adds (papers call them FLOPs); ± = standard error, in points.",
        ["ms" if column == "latency" else column for column in columns],
    )
    for p in points:
        c = p.coefficients
        coefficients = "/".join(
            f"{c[k]:.2f}" if c.get(k) is not None else "-" for k in ("alpha", "beta", "gamma")
        )
        table.add_row(
            str(p.trial),
            f"{p.phi:g}",
            format_accuracy(p.accuracy, p.accuracy_se),
            str(p.seeds),
            human(p.macs),
            human(p.params),
            *(_cost(p, c) for c in extra),
            coefficients,
        )
    console.print(table)
    if "latency" in extra:
        console.print("ms = inference latency at batch 1 on the device that measured it.")


def render_quiet_latency(
    frontiers: dict[str, list[FrontierPoint]], latency: RunLatencies, console: Console
) -> None:
    """The frontier points' batch-1 latency as the run's quiet timing measured it (timed
    once the trainings ended, nothing else training), then where and how repeatably: a
    latency is shown with its device and its pass-to-pass agreement, or not at all."""
    if not latency.timed and not latency.unmeasured:
        return  # not timed (latency_passes 0, or the run's trainings have not ended)
    rows = [
        (name, p, latency.timed[p.spec_hash])
        for name, points in frontiers.items()
        for p in points
        if p.spec_hash in latency.timed
    ]
    if rows:
        table = numbers_table(
            "Latency of the frontier points (nothing else training)",
            "ms: batch 1, median of the passes; apart: their spread.",
            ("frontier", "trial", "φ", "ms", "apart"),
        )
        for name, p, timed in rows:
            spread = f"{timed.spread:.0%}"
            table.add_row(name, str(p.trial), f"{p.phi:g}", milliseconds(timed.ms_batch1), spread)
        console.print(table)
    console.print(latency.words(), markup=False)


def _cost(point: FrontierPoint, cost: str) -> str:
    return cell(cost, (point.costs or {}).get(cost))


@contextlib.contextmanager
def epoch_progress(epochs: int, name: str, console: Console) -> Iterator[Callable]:
    """A progress bar over epochs; yields the callback that advances it."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    columns = [
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.fields[status]}"),
        TimeElapsedColumn(),
    ]
    with Progress(*columns, console=console, transient=console.stderr) as progress:
        task = progress.add_task(f"proxy {name}", total=epochs, status="")

        def on_epoch(epoch) -> None:
            progress.update(
                task,
                advance=1,
                status=(
                    f"epoch {epoch.epoch}: val {epoch.val_accuracy:.1%}, loss {epoch.train_loss:.3f}"
                ),
            )

        yield on_epoch


def render_plan(decision, console: Console) -> None:
    """The two ways to spend a compute, predicted by the joint law with their 95% bands."""
    from scalesearch.formatting import percent_band, points_band
    from scalesearch.joint_law import FLOPS_PER_MAC_IMAGE

    at = decision.at
    out = numbers_table(
        f"{decision.multiple:.3g}× the training compute of φ {at.phi:g} "
        f"({human(at.compute, 'FLOPs')})",
        "Training compute = 6 · MACs · images seen (FLOPs); 95% bands of the joint law.",
        ("spend on", "MACs", "images seen", "compute", "accuracy", "95% band", "gain"),
        no_wrap=False,
    )
    out.add_row(
        "now", human(at.macs), f"{at.images:,.0f}", human(at.compute),
        format_accuracy(1 - at.error, at.se), "", "",
    )  # fmt: skip
    for option in (decision.size, decision.training):
        compute = FLOPS_PER_MAC_IMAGE * option.macs * option.images
        out.add_row(
            "a larger φ" if option.name == "size" else "longer training",
            human(option.macs),
            f"{option.images:,.0f}",
            human(compute),
            f"{option.accuracy:.2%}",
            percent_band(option.accuracy_band),
            f"{100 * option.gain:+.2f} ({points_band(option.gain_band)})",
        )
    console.print(out)
