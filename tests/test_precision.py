"""Precision as a setting: auto detects what the device runs fast; both paths train."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
import torch

from scalesearch.arch.spec import ArchSpec, BlockSpec, EmbedSpec, HeadSpec, StageSpec
from scalesearch.errors import ConfigError
from scalesearch.train import precision as precision_module
from scalesearch.train.config import ProxyConfig
from scalesearch.train.data import load_dataset
from scalesearch.train.precision import resolve_precision
from scalesearch.train.proxy import train_proxy

CPU = torch.device("cpu")
TINY = ArchSpec(
    "tiny",
    16,
    (
        StageSpec(
            16,
            1,
            1,
            EmbedSpec(4, 4, 0),
            BlockSpec(local_perception="lpu", attention="light", ffn="irffn", mlp_ratio=2.0),
        ),
    ),  # fmt: skip
    HeadSpec("conv_pool", hidden_dim=32),
    num_classes=10,
)


def _flags_here() -> set[str]:
    """Read independently of the module under test."""
    text = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").is_file() else ""
    line = next((x for x in text.splitlines() if x.startswith("flags")), "flags :")
    return set(line.split(":", 1)[1].split())


def test_auto_picks_what_this_cpu_runs_fast_and_says_why() -> None:
    chosen = resolve_precision("auto", CPU)
    fast = _flags_here() & {"avx512_bf16", "amx_bf16"}
    assert chosen.name == ("bf16" if fast else "fp32")
    if fast:
        assert all(flag in chosen.reason for flag in fast)
    else:
        assert "neither AVX-512 BF16 nor AMX" in chosen.reason


@pytest.mark.parametrize(
    ("flags", "expected"),
    [({"avx2", "avx512_bf16"}, "bf16"), ({"amx_bf16", "amx_tile"}, "bf16"), ({"avx2"}, "fp32")],
)
def test_auto_follows_the_flags(monkeypatch, flags, expected) -> None:
    monkeypatch.setattr(precision_module, "cpu_flags", lambda: flags)
    assert resolve_precision("auto", CPU).name == expected


def test_fixed_precisions_and_bad_ones() -> None:
    assert resolve_precision("bf16", CPU).name == "bf16"
    assert resolve_precision("fp32", CPU).reason == "as asked"
    with pytest.raises(ConfigError, match="precision must be one of fp32, bf16, auto"):
        resolve_precision("fp16", CPU)
    with pytest.raises(ConfigError, match="precision must be one of"):
        ProxyConfig(precision="half")


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_both_precisions_train(precision: str) -> None:
    data = load_dataset("synthetic", resolution=16)
    config = ProxyConfig(dataset="synthetic", epochs=4, batch_size=32, lr=3e-3, precision=precision)
    result = train_proxy(TINY, data, config, device=CPU)
    assert result.status == "completed" and result.precision == precision
    assert result.train_losses[-1] < result.train_losses[0]  # the loss falls
    assert result.val_accuracies[-1] > max(0.2, result.val_accuracies[0] - 0.05)  # above chance


def test_training_keys_stay_those_of_0_1_at_the_old_settings() -> None:
    old = json.loads(ProxyConfig().key_json())
    assert "precision" not in old and "resolution_scale" not in old and old["seed"] == 0
    new = json.loads(dataclasses.replace(ProxyConfig(), precision="bf16").key_json())
    assert new["precision"] == "bf16"
    # The validation batch changes no accuracy: keyed at 0.1's 256 whatever it is.
    assert old["eval_batch_size"] == 256 and ProxyConfig().eval_batch_size == 128
    for size in (64, 256, 512):
        assert dataclasses.replace(ProxyConfig(), eval_batch_size=size).key_json() == (
            ProxyConfig().key_json()
        )


@pytest.mark.parametrize("space", ["cvt_compound", "cmt_compound"])
def test_bf16_autocast_follows_fp32_through_the_cpu_fast_paths(space: str) -> None:
    """Under CPU bf16 autocast, depthwise convs run in fp32 and attention as GEMMs with an
    fp32 softmax (`scalesearch.arch.blocks`): the logits and every gradient, the shared
    position bias included, stay those of fp32 within bf16's rounding."""
    from scalesearch.arch.model import build_model
    from scalesearch.search.space import load_space

    torch.manual_seed(0)
    spec = load_space(space).member(-2)
    model = build_model(spec).eval()  # BatchNorm on running statistics: the same both ways
    images = torch.randn(4, 3, spec.resolution, spec.resolution)
    outputs = {}
    for bf16 in (False, True):
        model.zero_grad()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            logits = model(images)
        logits.float().logsumexp(1).sum().backward()
        grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
        outputs[bf16] = (logits.float().detach(), grads)
    (fp32, fp32_grads), (bf16, bf16_grads) = outputs[False], outputs[True]
    assert bf16_grads.keys() == fp32_grads.keys()
    assert (bf16 - fp32).abs().max() <= 0.05 * fp32.abs().max()
    for name, grad in fp32_grads.items():
        if grad.abs().max() > 1e-6:
            cosine = torch.nn.functional.cosine_similarity(
                grad.flatten(), bf16_grads[name].flatten(), dim=0
            )
            assert cosine > 0.98, (name, float(cosine))
