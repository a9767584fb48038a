"""The published CvT and CMT variants as spec values, in one table.

Every number comes from ../shared/reference/architectures.md (the papers and their
official code); tests check parameter counts and MACs against that table.
"""

from __future__ import annotations

from scalesearch.arch.spec import ArchSpec, BlockSpec, EmbedSpec, HeadSpec, StageSpec, StemSpec
from scalesearch.errors import UnknownModelError

# CvT: convolutional projections with stride-2 keys/values, QuickGELU MLPs, the official
# code's dim^-0.5 attention scale, and a class token joining in the last stage.
CVT_BLOCK = BlockSpec(
    attention="conv",
    proj_kernel=3,
    kv_stride=2,
    qkv_bias=True,
    attn_scale="dim",
    ffn="mlp",
    mlp_ratio=4.0,
    act="quick_gelu",
    norm_eps=1e-5,
)
CVT_EMBEDS = (EmbedSpec(7, 4, 2), EmbedSpec(3, 2, 1), EmbedSpec(3, 2, 1))


def _cvt(name: str, dims, depths, heads, drop_path: float, resolution: int) -> ArchSpec:
    stages = tuple(
        StageSpec(dim, depth, h, embed, CVT_BLOCK, drop_path if i == 2 else 0.0)
        for i, (dim, depth, h, embed) in enumerate(zip(dims, depths, heads, CVT_EMBEDS))
    )
    return ArchSpec(name, resolution, stages, HeadSpec("cls_token"), init="cvt")


# CMT: stem, 2×2 patch embeddings, LPU + lightweight attention (k = 8/4/2/1) + IRFFN,
# and the conv head. Stochastic depth is one linear ramp over all blocks, to the rate of the
# official training command (Ti 0.1, XS 0.08, S 0.1, B 0.25).
CMT_REDUCTIONS = (8, 4, 2, 1)
CMT_HEADS = (1, 2, 4, 8)


def _cmt(name, resolution, stem, dims, depths, ratio, head_dropout, drop_path) -> ArchSpec:
    stages = tuple(
        StageSpec(
            dim,
            depth,
            heads,
            EmbedSpec(2, 2, 0),
            BlockSpec(
                local_perception="lpu",
                attention="light",
                kv_reduction=k,
                qkv_bias=True,
                ffn="irffn",
                mlp_ratio=ratio,
                norm_eps=1e-6,
            ),
        )
        for dim, depth, heads, k in zip(dims, depths, CMT_HEADS, CMT_REDUCTIONS)
    )
    head = HeadSpec("conv_pool", hidden_dim=1280, dropout=head_dropout)
    return ArchSpec(
        name, resolution, stages, head, StemSpec(stem), init="cmt", drop_path_rate=drop_path
    )


PRESETS: dict[str, ArchSpec] = {
    "cvt-13": _cvt("cvt-13", (64, 192, 384), (1, 2, 10), (1, 3, 6), 0.1, 224),
    "cvt-21": _cvt("cvt-21", (64, 192, 384), (1, 4, 16), (1, 3, 6), 0.1, 224),
    "cvt-w24": _cvt("cvt-w24", (192, 768, 1024), (2, 2, 20), (3, 12, 16), 0.3, 384),
    "cmt-ti": _cmt("cmt-ti", 160, 16, (46, 92, 184, 368), (2, 2, 10, 2), 3.6, 0.1, 0.1),
    "cmt-xs": _cmt("cmt-xs", 192, 16, (52, 104, 208, 416), (3, 3, 12, 3), 3.77, 0.1, 0.08),
    "cmt-s": _cmt("cmt-s", 224, 32, (64, 128, 256, 512), (3, 3, 16, 3), 4.0, 0.1, 0.1),
    "cmt-b": _cmt("cmt-b", 256, 38, (76, 152, 304, 608), (4, 4, 20, 4), 4.0, 0.3, 0.25),
}


def list_presets() -> list[str]:
    return list(PRESETS)


def get_preset(name: str) -> ArchSpec:
    """The preset called `name` (case-insensitive).

    Raises:
        UnknownModelError: naming the known presets.
    """
    key = name.lower()
    if key not in PRESETS:
        raise UnknownModelError(f"unknown model {name!r}; known presets: {', '.join(PRESETS)}")
    return PRESETS[key]
