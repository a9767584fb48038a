"""The parts of a spec: stem, token embedding, block switches, stage and head.

Frozen dataclasses validated on construction; `scalesearch.arch.spec.ArchSpec` puts them
together into a network (and re-exports them, so either module can be imported).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Literal, get_args, get_origin, get_type_hints

from scalesearch.errors import SpecError

LocalPerception = Literal["none", "lpu"]
AttentionKind = Literal["linear", "conv", "light"]
FeedForwardKind = Literal["mlp", "irffn"]
Activation = Literal["gelu", "quick_gelu"]
AttentionScale = Literal["head_dim", "dim"]
HeadKind = Literal["cls_token", "conv_pool", "pool"]


def require(condition: bool, message: str) -> None:
    if not condition:
        raise SpecError(message)


def require_choices(spec: object, where: str) -> None:
    """Every `Literal` field of a part holds one of its values (a spec made in Python, not
    decoded from JSON, is checked too): "block.ffn must be one of mlp, irffn, but got 'x'"."""
    for name, choices in _choices(type(spec)).items():
        value = getattr(spec, name)
        require(
            value in choices,
            f"{where}.{name} must be one of {', '.join(choices)}, but got {value!r}",
        )


@functools.cache
def _choices(cls: type) -> dict[str, tuple[str, ...]]:
    hints = get_type_hints(cls)
    return {k: get_args(v) for k, v in hints.items() if get_origin(v) is Literal}


def conv_out(size: int, kernel: int, stride: int, padding: int) -> int:
    """Output length of a convolution along one axis (PyTorch's floor rule)."""
    return (size + 2 * padding - kernel) // stride + 1


@dataclass(frozen=True)
class StemSpec:
    """The CMT stem: conv 3×3 stride 2, then two convs 3×3 stride 1, each → GELU → BN."""

    out_chs: int

    def __post_init__(self) -> None:
        require(self.out_chs > 0, f"stem.out_chs must be > 0, but got out_chs={self.out_chs}")


@dataclass(frozen=True)
class EmbedSpec:
    """Convolutional token embedding: a (possibly overlapping) strided conv, then LayerNorm."""

    kernel_size: int
    stride: int
    padding: int = 0

    def __post_init__(self) -> None:
        require(
            self.kernel_size >= 1 and self.stride >= 1,
            f"embed kernel_size and stride must be >= 1, but got "
            f"kernel_size={self.kernel_size}, stride={self.stride}",
        )
        require(
            0 <= self.padding < self.kernel_size,
            f"embed padding must satisfy 0 <= padding < kernel_size, but got "
            f"padding={self.padding}, kernel_size={self.kernel_size}",
        )


@dataclass(frozen=True)
class BlockSpec:
    """The parts of every block of a stage; each field is a switch of the block family.

    Attributes:
        local_perception: "lpu" adds a 3×3 depthwise conv back to the tokens (CMT).
        attention: "linear" (ViT), "conv" (CvT convolutional projection) or "light"
            (CMT: keys/values reduced by a depthwise kv_reduction×kv_reduction conv, plus a
            learned relative position bias shared by the stage's blocks).
        proj_kernel: depthwise kernel of the convolutional projection (odd, "same" padding).
        q_stride, kv_stride: strides of the convolutional projection for queries and keys/values.
        kv_reduction: k of the lightweight attention (1 means no reduction).
        qkv_bias: bias on the query/key/value linears.
        attn_scale: "head_dim" scales logits by head_dim^-0.5; "dim" by dim^-0.5, the
            official CvT code's quirk (kept so the preset trains like the original).
        ffn: "mlp" (Linear–act–Linear) or "irffn" (CMT's inverted residual feed-forward).
        mlp_ratio: hidden width over dim (hidden = int(dim * mlp_ratio), as both codes do).
        act: the MLP's activation; CvT's official code uses QuickGELU.
        norm_eps: LayerNorm epsilon inside blocks (CvT 1e-5, CMT 1e-6).
    """

    local_perception: LocalPerception = "none"
    attention: AttentionKind = "linear"
    proj_kernel: int = 3
    q_stride: int = 1
    kv_stride: int = 2
    kv_reduction: int = 1
    qkv_bias: bool = True
    attn_scale: AttentionScale = "head_dim"
    ffn: FeedForwardKind = "mlp"
    mlp_ratio: float = 4.0
    act: Activation = "gelu"
    norm_eps: float = 1e-5

    def __post_init__(self) -> None:
        require_choices(self, "block")
        require(
            self.proj_kernel >= 1 and self.proj_kernel % 2 == 1,
            f"block.proj_kernel must be odd and >= 1, but got proj_kernel={self.proj_kernel}",
        )
        for name in ("q_stride", "kv_stride", "kv_reduction"):
            value = getattr(self, name)
            require(value >= 1, f"block.{name} must be >= 1, but got {name}={value}")
        require(self.mlp_ratio > 0, f"block.mlp_ratio must be > 0, but got {self.mlp_ratio}")
        require(self.norm_eps > 0, f"block.norm_eps must be > 0, but got {self.norm_eps}")


@dataclass(frozen=True)
class StageSpec:
    """One stage: a token embedding, then `depth` blocks of width `dim`.

    `drop_path_rate` is the stochastic-depth rate at the stage's last block; rates ramp
    linearly from the previous stage's last rate (0 before the first stage): CvT's rule,
    `linspace(0, rate, depth)` in the one stage that has a rate. A network-wide ramp (CMT's)
    is `ArchSpec.drop_path_rate` instead.
    """

    dim: int
    depth: int
    num_heads: int
    embed: EmbedSpec
    block: BlockSpec = BlockSpec()
    drop_path_rate: float = 0.0

    def __post_init__(self) -> None:
        require(self.dim > 0, f"stage dim must be > 0, but got dim={self.dim}")
        require(self.depth >= 1, f"stage depth must be >= 1, but got depth={self.depth}")
        require(self.num_heads >= 1, f"num_heads must be >= 1, but got {self.num_heads}")
        require(
            self.dim % self.num_heads == 0,
            f"dim must be divisible by num_heads, but got dim={self.dim}, "
            f"num_heads={self.num_heads}",
        )
        require(
            0.0 <= self.drop_path_rate < 1.0,
            f"drop_path_rate must be in [0, 1), but got {self.drop_path_rate}",
        )

    @property
    def hidden_dim(self) -> int:
        return int(self.dim * self.block.mlp_ratio)


@dataclass(frozen=True)
class HeadSpec:
    """The classifier head.

    Attributes:
        kind: "cls_token" (CvT: a class token joins at stage `cls_stage`, LayerNorm, Linear),
            "conv_pool" (CMT: 1×1 conv to `hidden_dim`, BN, Swish, average pool, Linear), or
            "pool" (LayerNorm, average pool, Linear).
        cls_stage: index of the stage the class token joins (default: the last stage).
        hidden_dim: width of the conv head's 1×1 conv.
        dropout: dropout before the final Linear.
    """

    kind: HeadKind = "cls_token"
    cls_stage: int | None = None
    hidden_dim: int = 1280
    dropout: float = 0.0

    def __post_init__(self) -> None:
        require_choices(self, "head")
        require(self.hidden_dim > 0, f"head.hidden_dim must be > 0, but got {self.hidden_dim}")
        require(
            0.0 <= self.dropout < 1.0, f"head.dropout must be in [0, 1), but got {self.dropout}"
        )
        require(
            self.cls_stage is None or self.kind == "cls_token",
            f"head.cls_stage is only for kind 'cls_token', but got kind={self.kind!r}",
        )
