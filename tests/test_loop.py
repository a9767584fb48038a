"""The one training loop's weight-decay groups, as the official recipes set them."""

from __future__ import annotations

import pytest

from scalesearch.arch.model import build_model
from scalesearch.train.loop import param_groups


@pytest.mark.parametrize("preset", ["cvt-13", "cmt-ti"])
def test_no_decay_on_biases_norms_class_tokens_and_position_biases(preset: str) -> None:
    model = build_model(preset, num_classes=10, resolution=64 if preset == "cmt-ti" else 96)
    decay, no_decay = param_groups(model, weight_decay=0.05)
    assert decay["weight_decay"] == 0.05 and no_decay["weight_decay"] == 0.0
    names = {id(p): n for n, p in model.named_parameters()}
    skipped = {names[id(p)] for p in no_decay["params"]}
    decayed = {names[id(p)] for p in decay["params"]}
    assert not skipped & decayed and len(skipped | decayed) == len(names)
    listed = model.no_weight_decay()  # class tokens and relative position biases
    assert all(model.get_parameter(n).ndim <= 1 or n in listed for n in skipped)
    assert all(model.get_parameter(n).ndim > 1 for n in decayed)
    if preset == "cvt-13":
        assert any(n.endswith("cls_token") for n in skipped)
    else:
        position = [n for n in skipped if model.get_parameter(n).ndim == 3]
        assert position and all(n.endswith(".bias") for n in position)  # relative position bias
        assert not any(model.get_parameter(n).ndim == 3 for n in decayed)
