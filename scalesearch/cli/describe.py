"""What `describe` and `scale` report, as plain data (their JSON): stages, parts, counted cost."""

from __future__ import annotations

from typing import Any

from scalesearch.arch.cost import count_cost
from scalesearch.arch.equal_cost import Member
from scalesearch.arch.spec import ArchSpec
from scalesearch.search.space import Coefficients, SearchSpace


def describe_spec(spec: ArchSpec) -> dict[str, Any]:
    """A plain-data description of `spec` at its own resolution (the JSON of `describe`)."""
    cost = count_cost(spec)
    stages = []
    for i, (stage, grid, stage_cost) in enumerate(
        zip(spec.stages, spec.geometry(spec.resolution), cost.stages)
    ):
        block = stage.block
        stages.append(
            {
                "index": i,
                "grid": [grid.height, grid.width],
                "tokens": grid.tokens,
                "kv_tokens": grid.kv_tokens,
                "dim": stage.dim,
                "depth": stage.depth,
                "num_heads": stage.num_heads,
                "embed": f"{stage.embed.kernel_size}/{stage.embed.stride}",
                "local_perception": block.local_perception,
                "attention": block.attention,
                "ffn": block.ffn,
                "mlp_ratio": block.mlp_ratio,
                "class_token": spec.cls_stage >= 0 and i >= spec.cls_stage,
                "params": stage_cost.params,
                "macs": stage_cost.macs,
            }
        )
    return {
        "name": spec.name,
        "params": cost.params,
        "macs": cost.macs,
        "resolution": spec.resolution,
        "num_classes": spec.num_classes,
        "total_stride": spec.total_stride,
        "spec_hash": spec.spec_hash(),
        "stem": None if spec.stem is None else {"out_chs": spec.stem.out_chs},
        "head": spec.head.kind,
        "init": spec.init,
        "drop_path": _drop_path_label(spec),
        "stages": stages,
        "spec": spec.to_dict(),
    }


def _drop_path_label(spec: ArchSpec) -> str:
    """How stochastic depth ramps: over the whole network (CMT) or per stage (CvT)."""
    if spec.drop_path_rate > 0:
        return f"{spec.drop_path_rate:g} over all blocks"
    rates = [s.drop_path_rate for s in spec.stages]
    return "none" if not any(rates) else "per stage " + "/".join(f"{r:g}" for r in rates)


def member_cost(member: Member) -> dict[str, Any]:
    """A member's target and realised cost and the coefficients it realised."""
    alpha, beta, gamma = member.effective
    return {
        "target_macs": member.target_macs,
        "cost_ratio": member.cost_ratio,
        "within_tolerance": member.within_tolerance,
        "effective": {"alpha": alpha, "beta": beta, "gamma": gamma},
    }


def describe_family(
    space: SearchSpace, phis: list[float], coefficients: Coefficients
) -> list[dict[str, Any]]:
    """One plain-data row per φ (the JSON of `scale`), with the MACs ratio to the row before."""
    rows: list[dict[str, Any]] = []
    for phi in phis:
        member = space.realize(phi, coefficients)
        spec = member.spec
        cost = count_cost(spec)
        previous = rows[-1]["macs"] if rows else None
        rows.append(
            {
                "phi": phi,
                "alpha": coefficients.alpha,
                "beta": coefficients.beta,
                "gamma": coefficients.gamma,
                **member_cost(member),
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
