"""The one training loop's weight-decay groups, as the official recipes set them, and the
BatchNorm statistics a weight average is validated with."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from scalesearch.arch.model import build_model
from scalesearch.train.data import prepare_batch
from scalesearch.train.loop import Batching, param_groups, refresh_batchnorm
from scalesearch.train.splits import Split


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


def test_a_weight_average_is_validated_with_statistics_of_its_own_weights() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU())
    model[1].running_mean.fill_(50.0)  # an averaged buffer that matches no weights
    images = torch.randint(0, 256, (300, 1, 8, 8), dtype=torch.uint8)
    split = Split(images, torch.zeros(300, dtype=torch.long))
    batching = Batching(resolution=8, flip=False, device=torch.device("cpu"))
    refresh_batchnorm(model, split, batching, images=256, batch_size=64)
    with torch.no_grad():
        features = model[0](prepare_batch(images[:256], 8, train=False, flip=False))
    expected = features.mean(dim=(0, 2, 3))  # four equal batches: the mean of their means
    torch.testing.assert_close(model[1].running_mean, expected, rtol=1e-4, atol=1e-5)
    assert model[1].momentum == 0.1  # the model trains on as before
