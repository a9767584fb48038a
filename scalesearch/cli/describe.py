"""What `scalesearch describe` shows: a spec's stages, parts and counted cost."""

from __future__ import annotations

from typing import Any

from rich import box
from rich.console import Console
from rich.table import Table

from scalesearch.arch.cost import count_cost
from scalesearch.arch.spec import ArchSpec


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
        "stages": stages,
        "spec": spec.to_dict(),
    }


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


def render_description(desc: dict[str, Any], console: Console) -> None:
    """Prints a description as a per-stage table with totals."""
    table = Table(
        title=(
            f"{desc['name']}: {desc['params']:,} params, {desc['macs'] / 1e9:.3f} GMACs "
            f"at {desc['resolution']}×{desc['resolution']}, {desc['num_classes']} classes"
        ),
        caption="MACs = multiply-adds (papers call them FLOPs), counted for one image.",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        collapse_padding=True,
    )
    for column in ("#", "grid", "dim/heads", "depth", "embed", "block parts", "params",
                   "MMACs"):
        table.add_column(column, justify="left" if column == "block parts" else "right",
                         no_wrap=True)
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
    console.print(f"{stem}head {desc['head']}, total stride {desc['total_stride']}, "
                  f"spec hash {desc['spec_hash']}")
