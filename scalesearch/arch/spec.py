"""Architecture specs: the data that describes one network of the CvT–CMT family.

A spec is a frozen dataclass tree (`ArchSpec` → `StageSpec` → `EmbedSpec`, `BlockSpec`),
validated on construction, serialisable to JSON and back, with a stable hash. Models are
built from specs (`scalesearch.arch.model.build_model`); specs never hold modules or tensors.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from dataclasses import dataclass
from typing import Any, Literal

from scalesearch.decode import DecodeError, decode, encode
from scalesearch.errors import SpecError

LocalPerception = Literal["none", "lpu"]
AttentionKind = Literal["linear", "conv", "light"]
FeedForwardKind = Literal["mlp", "irffn"]
Activation = Literal["gelu", "quick_gelu"]
AttentionScale = Literal["head_dim", "dim"]
HeadKind = Literal["cls_token", "conv_pool", "pool"]


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise SpecError(message)


def conv_out(size: int, kernel: int, stride: int, padding: int) -> int:
    """Output length of a convolution along one axis (PyTorch's floor rule)."""
    return (size + 2 * padding - kernel) // stride + 1


@dataclass(frozen=True)
class StemSpec:
    """The CMT stem: conv 3×3 stride 2, then two convs 3×3 stride 1, each → GELU → BN."""

    out_chs: int

    def __post_init__(self) -> None:
        _require(self.out_chs > 0, f"stem.out_chs must be > 0, but got out_chs={self.out_chs}")


@dataclass(frozen=True)
class EmbedSpec:
    """Convolutional token embedding: a (possibly overlapping) strided conv, then LayerNorm."""

    kernel_size: int
    stride: int
    padding: int = 0

    def __post_init__(self) -> None:
        _require(
            self.kernel_size >= 1 and self.stride >= 1,
            f"embed kernel_size and stride must be >= 1, but got "
            f"kernel_size={self.kernel_size}, stride={self.stride}",
        )
        _require(
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
        _require(
            self.proj_kernel >= 1 and self.proj_kernel % 2 == 1,
            f"block.proj_kernel must be odd and >= 1, but got proj_kernel={self.proj_kernel}",
        )
        for name in ("q_stride", "kv_stride", "kv_reduction"):
            value = getattr(self, name)
            _require(value >= 1, f"block.{name} must be >= 1, but got {name}={value}")
        _require(self.mlp_ratio > 0, f"block.mlp_ratio must be > 0, but got {self.mlp_ratio}")
        _require(self.norm_eps > 0, f"block.norm_eps must be > 0, but got {self.norm_eps}")


@dataclass(frozen=True)
class StageSpec:
    """One stage: a token embedding, then `depth` blocks of width `dim`.

    `drop_path_rate` is the stochastic-depth rate at the stage's last block; rates ramp
    linearly from the previous stage's last rate (0 before the first stage), which gives
    CvT's per-stage ramps and, with rising per-stage values, CMT's network-wide ramp.
    """

    dim: int
    depth: int
    num_heads: int
    embed: EmbedSpec
    block: BlockSpec = BlockSpec()
    drop_path_rate: float = 0.0

    def __post_init__(self) -> None:
        _require(self.dim > 0, f"stage dim must be > 0, but got dim={self.dim}")
        _require(self.depth >= 1, f"stage depth must be >= 1, but got depth={self.depth}")
        _require(self.num_heads >= 1, f"num_heads must be >= 1, but got {self.num_heads}")
        _require(
            self.dim % self.num_heads == 0,
            f"dim must be divisible by num_heads, but got dim={self.dim}, "
            f"num_heads={self.num_heads}",
        )
        _require(
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
        _require(self.hidden_dim > 0, f"head.hidden_dim must be > 0, but got {self.hidden_dim}")
        _require(
            0.0 <= self.dropout < 1.0, f"head.dropout must be in [0, 1), but got {self.dropout}"
        )
        _require(
            self.cls_stage is None or self.kind == "cls_token",
            f"head.cls_stage is only for kind 'cls_token', but got kind={self.kind!r}",
        )


@dataclass(frozen=True)
class StageGeometry:
    """Token grid of a stage at a given input size (derived, never stored)."""

    height: int
    width: int
    kv_height: int
    kv_width: int

    @property
    def tokens(self) -> int:
        return self.height * self.width

    @property
    def kv_tokens(self) -> int:
        return self.kv_height * self.kv_width


@dataclass(frozen=True)
class ArchSpec:
    """A whole network: optional stem, stages, head, and the input it is built for."""

    name: str
    resolution: int
    stages: tuple[StageSpec, ...]
    head: HeadSpec = HeadSpec()
    stem: StemSpec | None = None
    in_chs: int = 3
    num_classes: int = 1000

    def __post_init__(self) -> None:
        _require(len(self.stages) >= 1, "an ArchSpec needs at least one stage, but got none")
        _require(self.in_chs >= 1, f"in_chs must be >= 1, but got {self.in_chs}")
        _require(self.num_classes >= 1, f"num_classes must be >= 1, but got {self.num_classes}")
        _require(self.resolution >= 1, f"resolution must be >= 1, but got {self.resolution}")
        if self.head.kind == "cls_token":
            stage = self.cls_stage
            _require(
                0 <= stage < len(self.stages),
                f"head.cls_stage must index a stage (0..{len(self.stages) - 1}), but got {stage}",
            )
            for i in range(stage, len(self.stages)):
                _require(
                    self.stages[i].block.ffn == "mlp",
                    f"stages[{i}].block.ffn must be 'mlp' where a class token exists (stage "
                    f">= cls_stage={stage}): IRFFN needs a grid; use head kind 'conv_pool' or "
                    f"'pool', or a later cls_stage",
                )
        self.geometry(self.resolution)  # raises SpecError when a kernel or stride does not fit

    @property
    def cls_stage(self) -> int:
        """Index of the stage where the class token joins (-1 tokens: no class token)."""
        if self.head.kind != "cls_token":
            return -1
        return len(self.stages) - 1 if self.head.cls_stage is None else self.head.cls_stage

    @property
    def total_stride(self) -> int:
        """Product of the stem's and embeddings' strides: how much the input shrinks."""
        stride = 2 if self.stem is not None else 1
        return stride * math.prod(s.embed.stride for s in self.stages)

    def geometry(self, resolution: int) -> list[StageGeometry]:
        """Token grids of every stage for a square input of side `resolution`.

        Raises:
            SpecError: a kernel does not fit its input, or a reduction does not divide the grid.
        """
        size = resolution
        if self.stem is not None:
            size = conv_out(size, 3, 2, 1)
        grids = []
        for i, stage in enumerate(self.stages):
            embed = stage.embed
            _require(
                size + 2 * embed.padding >= embed.kernel_size,
                f"stages[{i}].embed.kernel_size={embed.kernel_size} does not fit a "
                f"{size}x{size} grid (padding {embed.padding}) at resolution {resolution}; "
                f"use a larger resolution or a smaller kernel",
            )
            size = conv_out(size, embed.kernel_size, embed.stride, embed.padding)
            grids.append(self._stage_geometry(i, stage, size, resolution))
        return grids

    def _stage_geometry(
        self, index: int, stage: StageSpec, size: int, resolution: int
    ) -> StageGeometry:
        block = stage.block
        if block.attention == "conv":
            pad = block.proj_kernel // 2
            _require(
                size + 2 * pad >= block.proj_kernel,
                f"stages[{index}].block.proj_kernel={block.proj_kernel} does not fit the "
                f"{size}x{size} grid at resolution {resolution}",
            )
            kv = conv_out(size, block.proj_kernel, block.kv_stride, pad)
        elif block.attention == "light" and block.kv_reduction > 1:
            k = block.kv_reduction
            _require(
                size % k == 0,
                f"stages[{index}].block.kv_reduction={k} must divide the stage's "
                f"{size}x{size} token grid at resolution {resolution}; use a resolution "
                f"that is a multiple of {self.total_stride} or a smaller kv_reduction",
            )
            kv = size // k
        else:
            kv = size
        return StageGeometry(size, size, kv, kv)

    def to_dict(self) -> dict[str, Any]:
        return encode(self)

    def to_json(self) -> str:
        """Canonical JSON: sorted keys, no spaces, so equal specs give equal strings."""
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ArchSpec:
        try:
            return decode(cls, data)
        except DecodeError as err:
            raise SpecError(f"invalid spec: {err}") from err

    @classmethod
    def from_json(cls, text: str) -> ArchSpec:
        return cls.from_dict(json.loads(text))

    def spec_hash(self) -> str:
        """A stable 16-hex-digit hash of the architecture (the name is not part of it)."""
        data = self.to_dict()
        data.pop("name")
        canonical = json.dumps(data, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()[:16]

    def replace(self, **changes: Any) -> ArchSpec:
        return dataclasses.replace(self, **changes)
