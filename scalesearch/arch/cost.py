"""Parameters and MACs of a spec, counted on the `meta` device (no memory, milliseconds).

MACs are multiply-adds, what papers call FLOPs: torch's FlopCounterMode counts 2 FLOPs per
multiply-add, so MACs = counted FLOPs / 2. Like the reference numbers, this counts
convolutions, matrix products and attention, not norms or activations.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import torch
from torch.utils.flop_counter import FlopCounterMode, sdpa_flop_count

from scalesearch.arch.model import HybridNet
from scalesearch.arch.spec import ArchSpec

aten = torch.ops.aten


def _cpu_flash_sdpa_flops(query_shape, key_shape, value_shape, *args, **kwargs) -> int:
    """FLOPs of SDPA's CPU kernel, which torch's counter does not know: Q·Kᵀ and P·V."""
    return sdpa_flop_count(query_shape, key_shape, value_shape)


# The counter ignores ops it has no formula for, so SDPA's CPU kernel would count as zero.
_EXTRA_FORMULAS = {aten._scaled_dot_product_flash_attention_for_cpu: _cpu_flash_sdpa_flops}


@dataclass(frozen=True)
class StageCost:
    params: int
    macs: int


@dataclass(frozen=True)
class ModelCost:
    """Counted cost of a network at one input resolution (batch 1)."""

    params: int
    macs: int
    resolution: int
    stages: tuple[StageCost, ...]


def meta_model(spec: ArchSpec) -> HybridNet:
    """The network on the `meta` device: real shapes, no storage, built in milliseconds."""
    with torch.device("meta"):
        return HybridNet(spec, init_weights=False).eval()


def count_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


# Shape-preserving modules whose arithmetic is not counted. On `meta` they run through
# torch's Python decompositions and took over half of a count; swapped for identities
# (after the parameters are counted) they cost nothing and change no count.
_UNCOUNTED = (torch.nn.BatchNorm2d, torch.nn.LayerNorm, torch.nn.GELU)


def _without_uncounted(model: torch.nn.Module) -> torch.nn.Module:
    for parent in model.modules():
        for name, child in parent.named_children():
            if isinstance(child, _UNCOUNTED):
                setattr(parent, name, torch.nn.Identity())
    return model


def count_cost(spec: ArchSpec, resolution: int | None = None) -> ModelCost:
    """Counts parameters and MACs of `spec` for one image of side `resolution`.

    A count takes about half a second; specs are frozen values, so each (spec, size) is
    counted once per process (the driver, the report and export ask for the same ones).

    Args:
        spec: the architecture.
        resolution: input side; defaults to the spec's own resolution.
    """
    return _count(spec, spec.resolution if resolution is None else resolution)


@functools.lru_cache(maxsize=4096)
def _count(spec: ArchSpec, resolution: int) -> ModelCost:
    spec.geometry(resolution)  # a clear SpecError if the network cannot take this size
    # Frozen rather than no_grad: the counter's module tracker rejects parameters passed
    # between modules under no_grad (the shared relative position bias is one).
    model = meta_model(spec).requires_grad_(False)
    params, stage_params = count_params(model), [count_params(stage) for stage in model.stages]
    images = torch.empty(1, spec.in_chs, resolution, resolution, device="meta")
    counter = FlopCounterMode(display=False, custom_mapping=_EXTRA_FORMULAS)
    with counter:
        _without_uncounted(model)(images)
    per_module = counter.get_flop_counts()
    stages = tuple(
        StageCost(
            params=stage_params[i],
            macs=sum(per_module.get(f"HybridNet.stages.{i}", {}).values()) // 2,
        )
        for i in range(len(stage_params))
    )
    return ModelCost(params, counter.get_total_flops() // 2, resolution, stages)
