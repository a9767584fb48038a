"""Parameters and MACs of a spec, counted on the `meta` device (no memory, milliseconds).

MACs are multiply-adds, what papers call FLOPs: torch's FlopCounterMode counts 2 FLOPs per
multiply-add, so MACs = counted FLOPs / 2. Like the reference numbers, this counts
convolutions, matrix products and attention, not norms or activations.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import torch
from torch.utils.flop_counter import flop_registry, sdpa_flop_count, shape_wrapper

from scalesearch.arch.model import HybridNet
from scalesearch.arch.runtime_counts import NONE, RuntimeCounter, RuntimeCounts, with_stand_ins
from scalesearch.arch.spec import ArchSpec

aten = torch.ops.aten


def _cpu_flash_sdpa_flops(query_shape, key_shape, value_shape, *args, **kwargs) -> int:
    """FLOPs of SDPA's CPU kernel, which torch's counter does not know: Q·Kᵀ and P·V."""
    return sdpa_flop_count(query_shape, key_shape, value_shape)


# torch's flop counter ignores ops it has no formula for, so SDPA's CPU kernel would count as
# zero: its formula is added (as FlopCounterMode's `custom_mapping` takes it).
_EXTRA_FORMULAS = {aten._scaled_dot_product_flash_attention_for_cpu: _cpu_flash_sdpa_flops}
# The counter's formulas, by operator, as FlopCounterMode applies them.
_FORMULAS = {**flop_registry, **{k: shape_wrapper(f) for k, f in _EXTRA_FORMULAS.items()}}


@dataclass(frozen=True)
class StageCost:
    params: int
    macs: int
    runtime: RuntimeCounts = NONE


@dataclass(frozen=True)
class ModelCost:
    """Counted cost of a network at one input resolution (batch 1)."""

    params: int
    macs: int
    resolution: int
    stages: tuple[StageCost, ...]
    runtime: RuntimeCounts = NONE  # `arch.runtime_counts`, from the same pass


def meta_model(spec: ArchSpec) -> HybridNet:
    """The network on the `meta` device: real shapes, no storage, built in milliseconds."""
    with torch.device("meta"):
        return HybridNet(spec, init_weights=False).eval()


def count_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def count_cost(spec: ArchSpec, resolution: int | None = None) -> ModelCost:
    """Counts parameters and MACs of `spec` for one image of side `resolution`.

    One meta pass counts the runtime counts too (`ModelCost.runtime`, per stage as well). A
    count takes a tenth of a second; specs are frozen values, so each (spec, size) is
    counted once per process (the driver, the report and export ask for the same ones).

    Args:
        spec: the architecture.
        resolution: input side; defaults to the spec's own resolution.
    """
    return _count(spec, spec.resolution if resolution is None else resolution)


@functools.lru_cache(maxsize=4096)
def _count(spec: ArchSpec, resolution: int) -> ModelCost:
    spec.geometry(resolution)  # a clear SpecError if the network cannot take this size
    model = meta_model(spec)
    params, stage_params = count_params(model), [count_params(stage) for stage in model.stages]
    images = torch.empty(1, spec.in_chs, resolution, resolution, device="meta")
    # torch's FlopCounterMode, formulas and all, but without its module tracker, which
    # rejects a parameter shared between modules (the relative position bias) under no_grad:
    # the runtime counts need the pass as inference runs it. Norms and GELUs stand in.
    model = with_stand_ins(model)
    with torch.no_grad(), RuntimeCounter(model, _FORMULAS) as counter:
        model(images)
    stages = tuple(
        StageCost(params=p, macs=flops // 2, runtime=counts)
        for p, (counts, flops) in zip(stage_params, counter.per_stage)
    )
    return ModelCost(params, counter.flops // 2, resolution, stages, counter.counts())
