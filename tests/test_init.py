"""The presets start as the official codes do: init statistics and stochastic depth."""

from __future__ import annotations

import pytest
import torch

from scalesearch.arch.blocks import DropPath
from scalesearch.arch.model import build_model
from scalesearch.arch.presets import PRESETS
from scalesearch.search.space import load_space
from tests.official_init import group_ratios

SCHEME = {name: "cvt" if name.startswith("cvt") else "cmt" for name in PRESETS}


@pytest.fixture(scope="module", params=sorted(PRESETS))
def seeded_preset(request):
    torch.manual_seed(0)
    return request.param, build_model(request.param)


def test_every_parameter_group_matches_the_official_rule(seeded_preset) -> None:
    name, model = seeded_preset
    ratios = group_ratios(model, SCHEME[name])
    for role, (std_ratio, mean_z, count) in ratios.items():
        if mean_z == 0.0 and std_ratio < 1e-12:  # a constant (norms, zero biases): exact
            continue
        assert abs(std_ratio - 1.0) <= 0.10, (name, role, std_ratio, count)
        assert abs(mean_z) <= 0.10, (name, role, mean_z, count)


def test_constants_are_exact(seeded_preset) -> None:
    name, model = seeded_preset
    for module in model.modules():
        if isinstance(module, (torch.nn.LayerNorm, torch.nn.BatchNorm2d)):
            assert torch.equal(module.weight, torch.ones_like(module.weight))
            assert torch.equal(module.bias, torch.zeros_like(module.bias))


def test_the_rules_differ_where_the_papers_do() -> None:
    """Depthwise convs: CMT's fan_out rule gives √(2/(C·9)); CvT keeps PyTorch's default,
    1/√(3·9). Before 0.2 both presets used √(2/9) (12–34× CMT's)."""
    torch.manual_seed(0)
    cmt = build_model("cmt-ti")
    lpu = cmt.stages[3].blocks[0].lpu.conv.weight  # 368 channels
    assert lpu.std().item() == pytest.approx((2 / (368 * 9)) ** 0.5, rel=0.1)
    assert cmt.stages[0].rel_pos.bias.std().item() == pytest.approx(1.0, rel=0.05)
    cvt = build_model("cvt-13")
    q = cvt.stages[2].blocks[0].attn.q_conv.conv.weight
    assert q.std().item() == pytest.approx((1 / 27) ** 0.5, rel=0.1)
    assert cvt.head.fc.bias.abs().max() > 0  # PyTorch's default, as the official code
    assert cmt.head.fc.bias.abs().max() == 0


def test_v0_keeps_the_weights_of_scalesearch_0_1() -> None:
    # Recorded with scalesearch 0.1 (git 2da8512): Σ|w| over every float tensor of the
    # state dict of a seeded build. A spec stored without `init` rebuilds to these weights.
    spec = load_space("cmt_compound").base.replace(init="v0")
    torch.manual_seed(0)
    state = build_model(spec).state_dict()
    total = sum(float(v.double().abs().sum()) for v in state.values() if v.is_floating_point())
    assert total == pytest.approx(18237.474667137518, rel=1e-9)


def _official_rates(name: str) -> list[list[float]]:
    """Per block, as the official code computes it (torch.linspace, as both codes do)."""
    spec = PRESETS[name]
    depths = [s.depth for s in spec.stages]
    if name.startswith("cvt"):  # DROP_PATH_RATE [0, 0, r]: linspace(0, r, depth) per stage
        rate = {"cvt-w24": 0.3}.get(name, 0.1)
        return [
            torch.linspace(0, rate if i == 2 else 0.0, d).tolist() for i, d in enumerate(depths)
        ]
    rate = {"cmt-ti": 0.1, "cmt-xs": 0.08, "cmt-s": 0.1, "cmt-b": 0.25}[name]
    flat = torch.linspace(0, rate, sum(depths)).tolist()  # one ramp over all blocks
    out, begin = [], 0
    for d in depths:
        out.append(flat[begin : begin + d])
        begin += d
    return out


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_drop_path_block_by_block(name: str) -> None:
    with torch.device("meta"):
        model = build_model(name)
    built = [[m.rate for m in stage.modules() if isinstance(m, DropPath)] for stage in model.stages]
    official = _official_rates(name)
    assert [len(s) for s in built] == [len(s) for s in official]
    for ours, theirs in zip(built, official):
        assert ours == pytest.approx(theirs, abs=1e-6)


def test_a_scaled_member_keeps_its_base_rule() -> None:
    from scalesearch.arch.scaling import scale_spec

    cmt = scale_spec(PRESETS["cmt-ti"], alpha=1.2, beta=1.0, gamma=1.0, phi=2)
    rates = [r for stage in cmt.drop_path_rates() for r in stage]
    assert sum(s.depth for s in cmt.stages) > 16  # deeper than the base
    assert rates == pytest.approx(torch.linspace(0, 0.1, len(rates)).tolist(), abs=1e-6)
    assert cmt.init == "cmt"
    cvt = scale_spec(PRESETS["cvt-13"], alpha=1.2, beta=1.0, gamma=1.0, phi=2)
    last = cvt.drop_path_rates()[2]
    assert last == pytest.approx(torch.linspace(0, 0.1, cvt.stages[2].depth).tolist())
    assert cvt.init == "cvt"
