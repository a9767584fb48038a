"""Inference latency of a network, measured: the cost MACs do not tell.

Equal MACs can run at very different speeds (activations, memory traffic and kernel counts
decide runtime; Dollár et al., 2021), so latency is measured on the device the model runs
on: the median of timed forward passes after warm-up (`torch.utils.benchmark`, which also
synchronises CUDA). A latency is only comparable with latencies measured on the same device
type: the device name is recorded beside it.
"""

from __future__ import annotations

import platform
import statistics
from dataclasses import dataclass
from itertools import combinations
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


@dataclass(frozen=True)
class Timed:
    """A network timed in several interleaved passes: the medians over passes, and each
    pass's batch-1 median (their spread is how repeatable this one timing was)."""

    ms_batch1: float
    ms_batch: float
    batch: int
    passes_ms: tuple[float, ...]

    @property
    def spread(self) -> float:
        """(slowest pass − fastest pass) / median, at batch 1."""
        return (max(self.passes_ms) - min(self.passes_ms)) / self.ms_batch1


def time_interleaved(
    models: dict[str, tuple[nn.Module, int]],
    batch: int = 8,
    passes: int = 3,
    min_seconds: float = 0.1,
    device: torch.device | str = "cpu",
    settled: float = 0.10,
    most_passes: int = 9,
) -> dict[str, Timed]:
    """Each network of `models` (key → (network, resolution)) timed in `passes` passes,
    the networks interleaved within a pass, each value the median over passes.

    Interleaving spreads a slow moment of the machine (another process waking, a frequency
    step) over the networks instead of onto the one timed while it lasted: a pass timed
    alone would carry it whole. Passes go on, up to `most_passes`, until the last `passes`
    agree (median spread at most `settled`), and only those count: right after a heavy
    load the machine is slow to settle (measured on a 2-core VM after two trainings: the
    first 3 passes spread 26%, the next 3 4%). The passes' agreement (`pass_agreement`)
    says how far the ranking of the networks is to be trusted.
    """
    runs: dict[str, list[Latency]] = {key: [] for key in models}
    for done in range(1, most_passes + 1):
        for key, (model, resolution) in models.items():
            runs[key].append(measure_latency(model, resolution, batch, device, min_seconds))
        timed = {key: _timed(latencies[-passes:], batch) for key, latencies in runs.items()}
        if done >= passes and statistics.median(t.spread for t in timed.values()) <= settled:
            break
    return timed


def _timed(latencies: list[Latency], batch: int) -> Timed:
    return Timed(
        statistics.median(t.ms_batch1 for t in latencies),
        statistics.median(t.ms_batch for t in latencies),
        batch,
        tuple(t.ms_batch1 for t in latencies),
    )


def pass_agreement(timed: dict[str, Timed]) -> float:
    """The least Kendall τ between any two passes' batch-1 rankings of the networks (1: every
    pass ranked them alike; NaN with fewer than two networks or passes)."""
    from scipy.stats import kendalltau

    rows = list(timed.values())
    if len(rows) < 2 or len(rows[0].passes_ms) < 2:
        return float("nan")
    columns = list(zip(*(t.passes_ms for t in rows)))
    return min(float(kendalltau(a, b).statistic) for a, b in combinations(columns, 2))
