"""The block family's parts by name: one table of builders, not if/elif (timm's byobnet).

Every switch a spec names — local perception, attention, feed-forward, classifier head,
activation — is a kind here, and every value it may take a registered builder. A builder
takes the spec it is for (a `StageSpec` for a block's parts, the `ArchSpec` for the head) and
returns the module (or None: no local perception). `create` is the one way to build a part:
a name the registry does not hold is the spec's one-line error, never a silent default. The
spec's `Literal` types list the same names; `tests/test_model_contract.py` holds the two
equal.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from torch import nn

from scalesearch.arch.blocks import (
    Attention,
    InvertedResidualFFN,
    LocalPerception,
    Mlp,
    QuickGELU,
)
from scalesearch.arch.heads import ClassTokenHead, ConvPoolHead, PoolHead
from scalesearch.errors import SpecError

Builder = Callable[..., nn.Module | None]
_PARTS: dict[str, dict[str, Builder]] = {}


def register(kind: str, name: str) -> Callable[[Builder], Builder]:
    """Registers a builder of part `kind` (e.g. "attention") under `name` (e.g. "light")."""

    def add(builder: Builder) -> Builder:
        _PARTS.setdefault(kind, {})[name] = builder
        return builder

    return add


def create(kind: str, name: str, spec: Any) -> nn.Module | None:
    """The part `kind` named `name`, built for `spec`.

    Raises:
        SpecError: no such part; the message lists the known ones.
    """
    builders = _PARTS.get(kind, {})
    if name not in builders:
        known = ", ".join(builders) or "none"
        raise SpecError(f"{kind} must be one of {known}, but got {name!r}")
    return builders[name](spec)


def part_names(kind: str) -> tuple[str, ...]:
    """The names registered for a kind of part ("local_perception", "attention", ...)."""
    return tuple(_PARTS.get(kind, {}))


def kinds() -> tuple[str, ...]:
    return tuple(_PARTS)


# -- the parts of CvT and CMT --------------------------------------------------------------
@register("local_perception", "none")
def _no_local_perception(stage) -> None:
    return None


@register("local_perception", "lpu")
def _lpu(stage) -> nn.Module:
    return LocalPerception(stage.dim)


def _attention(stage) -> nn.Module:
    block = stage.block
    return Attention(
        stage.dim,
        stage.num_heads,
        block.attention,
        block.proj_kernel,
        block.kv_stride,
        block.kv_reduction,
        block.qkv_bias,
        scale_by_dim=block.attn_scale == "dim",
    )


for _kind in ("linear", "conv", "light"):
    register("attention", _kind)(_attention)


@register("ffn", "mlp")
def _mlp(stage) -> nn.Module:
    return Mlp(stage.dim, stage.hidden_dim, create("act", stage.block.act, stage))


@register("ffn", "irffn")
def _irffn(stage) -> nn.Module:
    return InvertedResidualFFN(stage.dim, stage.hidden_dim)


@register("act", "gelu")
def _gelu(stage) -> nn.Module:
    return nn.GELU()


@register("act", "quick_gelu")
def _quick_gelu(stage) -> nn.Module:
    return QuickGELU()


@register("head", "cls_token")
def _cls_token_head(spec) -> nn.Module:
    return ClassTokenHead(spec.stages[-1].dim, spec.num_classes, spec.head.dropout)


@register("head", "conv_pool")
def _conv_pool_head(spec) -> nn.Module:
    head = spec.head
    return ConvPoolHead(spec.stages[-1].dim, head.hidden_dim, spec.num_classes, head.dropout)


@register("head", "pool")
def _pool_head(spec) -> nn.Module:
    return PoolHead(spec.stages[-1].dim, spec.num_classes, spec.head.dropout)
