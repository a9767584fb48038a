"""The published variants against the official code's counts (../shared/reference)."""

from __future__ import annotations

import pytest
import torch

from scalesearch.arch.cost import count_cost
from scalesearch.arch.model import build_model
from scalesearch.arch.presets import PRESETS, list_presets

# (preset, input) → (params, MACs) of the official code, from reference/architectures.md.
REFERENCE = {
    ("cvt-13", 224): (19_997_480, 4.566e9),
    ("cvt-13", 384): (19_997_480, 16.269e9),
    ("cvt-21", 224): (31_622_696, 7.178e9),
    ("cvt-21", 384): (31_622_696, 24.849e9),
    ("cvt-w24", 384): (277_196_392, 194.22e9),
    ("cmt-ti", 160): (9_492_426, 0.639e9),
    ("cmt-xs", 192): (15_247_208, 1.547e9),
    ("cmt-s", 224): (26_256_160, 4.032e9),
    ("cmt-b", 256): (45_715_076, 9.317e9),
}


def test_every_preset_has_a_reference() -> None:
    assert set(list_presets()) == {name for name, _ in REFERENCE}


@pytest.mark.parametrize(("name", "resolution"), sorted(REFERENCE))
def test_params_and_macs_match_official_code(name: str, resolution: int) -> None:
    params, macs = REFERENCE[(name, resolution)]
    # CvT's counts do not depend on the build resolution (no position parameters).
    cost = count_cost(PRESETS[name].replace(resolution=resolution))
    assert cost.params == params
    assert cost.macs == pytest.approx(macs, rel=0.02)
    # In fact the structure is the same, so the MACs agree to the reference's rounding.
    assert cost.macs == pytest.approx(macs, rel=2e-3)


def test_published_input_sizes() -> None:
    sizes = {name: spec.resolution for name, spec in PRESETS.items()}
    assert sizes == {
        "cvt-13": 224,
        "cvt-21": 224,
        "cvt-w24": 384,
        "cmt-ti": 160,
        "cmt-xs": 192,
        "cmt-s": 224,
        "cmt-b": 256,
    }


def _train_step_check(model: torch.nn.Module, images: torch.Tensor, classes: int) -> None:
    logits = model(images)
    assert logits.shape == (images.shape[0], classes)
    assert torch.isfinite(logits).all()
    logits.logsumexp(dim=1).mean().backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None]
    assert not missing, f"parameters without a gradient: {missing}"
    assert all(torch.isfinite(p.grad).all() for p in model.parameters())


@pytest.mark.parametrize("name", [n for n in PRESETS if n != "cvt-w24"])
def test_forward_backward_small_input(name: str) -> None:
    torch.manual_seed(0)
    model = build_model(name, num_classes=7, resolution=64)
    _train_step_check(model, torch.randn(2, 3, 64, 64), 7)


@pytest.mark.slow
def test_forward_backward_cvt_w24() -> None:
    torch.manual_seed(0)
    model = build_model("cvt-w24", num_classes=3, resolution=32)
    _train_step_check(model, torch.randn(2, 3, 32, 32), 3)
