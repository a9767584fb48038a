"""The runtime counts come from the MACs' own meta pass, through two shortcuts that must change
no count: norms and GELUs run as stand-ins, and a member's counts are its shape's counts at
depths 1 and 2 extended linearly. Both are checked against the real network counted directly,
on the paper presets and on realised members of every shipped space."""

from __future__ import annotations

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from scalesearch.arch.cost import _FORMULAS, count_cost, meta_model
from scalesearch.arch.equal_cost import count_runtime
from scalesearch.arch.presets import PRESETS
from scalesearch.arch.runtime_counts import RuntimeCounter, RuntimeCounts
from scalesearch.arch.spec import ArchSpec
from scalesearch.search.space import list_spaces, load_space


def _direct(spec: ArchSpec) -> tuple[RuntimeCounts, int]:
    """The real network (its own norms and activations) counted in one inference pass."""
    model = meta_model(spec)
    images = torch.empty(1, spec.in_chs, spec.resolution, spec.resolution, device="meta")
    with torch.no_grad(), RuntimeCounter(model, _FORMULAS) as counter:
        model(images)
    return counter.counts(), counter.flops // 2


def _members() -> list[ArchSpec]:
    specs = []
    for name in list_spaces():
        space = load_space(name)
        if space.base.resolution > 64:
            continue  # the ImageNet spaces' members are the presets' shapes, counted below
        s = space.scaling
        specs.append(space.realize(0, s.defaults).spec)
        specs.append(space.realize(2, s.defaults).spec)
        specs.append(space.realize_strategy("depth", 1, s.defaults, {}).spec)
    return specs


@pytest.mark.parametrize("name", list(PRESETS))
def test_a_presets_counts_are_those_of_the_real_network(name: str) -> None:
    spec = PRESETS[name]
    counts, macs = _direct(spec)
    assert count_runtime(spec) == counts
    assert count_cost(spec).runtime == counts
    assert count_cost(spec).macs == macs


def test_realised_members_counts_are_those_of_the_real_network() -> None:
    for spec in _members():
        counts, macs = _direct(spec)
        assert count_runtime(spec) == counts, spec.name
        assert count_cost(spec).macs == macs, spec.name
        cost = count_cost(spec)
        total = sum((stage.runtime for stage in cost.stages), RuntimeCounts(0, 0, 0, 0))
        assert total.layers < counts.layers  # the stem and head run outside the stages


def test_macs_are_those_of_torchs_flop_counter() -> None:
    """The pass uses the flop counter's own formulas without its module tracker; where the
    tracker works (no parameter shared between modules under autograd), both agree."""
    spec = load_space("cmt_compound").base
    model = meta_model(spec).requires_grad_(False)
    counter = FlopCounterMode(display=False)
    with counter:
        model(torch.empty(1, spec.in_chs, spec.resolution, spec.resolution, device="meta"))
    assert count_cost(spec).macs == counter.get_total_flops() // 2 > 0


def test_a_count_at_another_resolution_is_the_network_at_that_size() -> None:
    spec = load_space("cmt_compound").base
    larger = spec.replace(resolution=spec.resolution * 2)
    assert count_runtime(spec, larger.resolution) == _direct(larger)[0]
    assert count_runtime(larger).activations > count_runtime(spec).activations
