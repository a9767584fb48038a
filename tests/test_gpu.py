"""The CUDA paths, behind the same switches as the CPU ones: run with `pytest -m gpu` on a
machine with a CUDA device. Skipped elsewhere (CI has none; this project is lent none)."""

from __future__ import annotations

import pytest
import torch

from scalesearch.arch.model import build_model
from scalesearch.search.space import load_space
from scalesearch.train.config import ProxyConfig
from scalesearch.train.data import load_dataset
from scalesearch.train.precision import resolve_precision
from scalesearch.train.proxy import train_proxy

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]


def test_auto_picks_bf16_on_a_bf16_gpu() -> None:
    chosen = resolve_precision("auto", torch.device("cuda"))
    assert chosen.name == ("bf16" if torch.cuda.is_bf16_supported() else "fp32")
    assert torch.cuda.get_device_name() in chosen.reason


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_a_proxy_trains_on_the_gpu(precision: str) -> None:
    spec = load_space("cmt_compound").base
    data = load_dataset("digits", resolution=spec.resolution)
    config = ProxyConfig(dataset="digits", epochs=3, batch_size=64, precision=precision)
    result = train_proxy(spec, data, config, device=torch.device("cuda"))
    assert result.status == "completed" and result.device.startswith("cuda")
    assert result.train_losses[-1] < result.train_losses[0]
    assert result.latency is not None and "NVIDIA" in result.latency.device


def test_bf16_logits_follow_fp32_on_the_gpu() -> None:
    torch.manual_seed(0)
    model = build_model("cmt-ti", num_classes=10).cuda().eval()
    images = torch.randn(4, 3, 160, 160, device="cuda")
    with torch.no_grad():
        fp32 = model(images)
        with torch.autocast("cuda", dtype=torch.bfloat16):
            bf16 = model(images).float()
    assert (bf16.argmax(1) == fp32.argmax(1)).float().mean() >= 0.75
    assert (bf16 - fp32).abs().max() < 0.1 * fp32.abs().max() + 0.05
