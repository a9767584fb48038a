"""Inference latency of a network, measured: the cost MACs do not tell.

Equal MACs can run at very different speeds (activations, memory traffic and kernel counts
decide runtime; Dollár et al., 2021), so latency is measured on the device the model runs
on: the median of timed forward passes after warm-up (`torch.utils.benchmark`, which also
synchronises CUDA). A latency is only comparable with latencies measured on the same device
type: the device name is recorded beside it.
"""

from __future__ import annotations

import platform
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn


@dataclass(frozen=True)
class Latency:
    """Median milliseconds per forward pass at batch 1 and at `batch`, and where."""

    ms_batch1: float
    ms_batch: float
    batch: int
    device: str
    threads: int

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def device_name(device: torch.device) -> str:
    """The device model ("NVIDIA H200", "AMD EPYC (2 threads)"): what a latency is tied to."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"{_cpu_model()} ({torch.get_num_threads()} threads)"


def _cpu_model() -> str:
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


@torch.no_grad()
def measure_latency(
    model: nn.Module,
    resolution: int,
    batch: int = 8,
    device: torch.device | str = "cpu",
    min_seconds: float = 0.5,
    in_chs: int = 3,
) -> Latency:
    """Median forward time of `model` (eval mode) on random images, batch 1 and `batch`.

    `min_seconds` of timed runs per batch size after a warm-up pass; the model is left in
    the mode it came in.
    """
    from torch.utils import benchmark

    device = torch.device(device)
    was_training = model.training
    model.eval()
    medians = []
    try:
        for size in (1, batch):
            images = torch.randn(size, in_chs, resolution, resolution, device=device)
            model(images)  # warm-up: first-call allocations and kernel selection
            timer = benchmark.Timer(
                stmt="model(images)",
                globals={"model": model, "images": images},
                num_threads=torch.get_num_threads(),
            )
            medians.append(timer.blocked_autorange(min_run_time=min_seconds).median * 1e3)
    finally:
        model.train(was_training)
    return Latency(medians[0], medians[1], batch, device_name(device), torch.get_num_threads())
