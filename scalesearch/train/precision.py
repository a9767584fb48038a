"""Training precision as a setting: fp32, bf16, or auto (bf16 where the hardware runs it fast).

bf16 runs as autocast: parameters, optimizer state and the loss stay fp32; matrix products
and convolutions run in bf16. "auto" detects, it does not guess: CUDA devices that support
bf16; CPUs with AVX-512 BF16 or AMX (their bf16 GEMMs run about 4× fp32's). A CPU without
them emulates bf16 — measured on an AVX2-only EPYC: 0.8 GFLOP/s against 53 in fp32, 65×
slower — so auto keeps fp32 there, and says why.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path

import torch

from scalesearch.errors import ConfigError

PRECISIONS = ("fp32", "bf16", "auto")
_FAST_CPU_FLAGS = ("avx512_bf16", "amx_bf16")


@dataclass(frozen=True)
class Precision:
    """The precision a run trains in, and why it was chosen."""

    name: str  # "fp32" or "bf16"
    reason: str

    def autocast(self, device: torch.device) -> contextlib.AbstractContextManager:
        if self.name != "bf16":
            return contextlib.nullcontext()
        return torch.autocast(device.type, dtype=torch.bfloat16)


def cpu_flags() -> set[str]:
    """The CPU's feature flags as the kernel reports them (empty where /proc has none)."""
    path = Path("/proc/cpuinfo")
    if not path.is_file():
        return set()
    for line in path.read_text().splitlines():
        if line.startswith("flags"):
            return set(line.split(":", 1)[1].split())
    return set()


def resolve_precision(requested: str, device: torch.device) -> Precision:
    """fp32 and bf16 as asked; auto by what `device` runs fast."""
    if requested not in PRECISIONS:
        raise ConfigError(
            f"precision must be one of {', '.join(PRECISIONS)}, but got {requested!r}"
        )
    if requested != "auto":
        return Precision(requested, "as asked")
    if device.type == "cuda":
        if torch.cuda.is_bf16_supported():
            return Precision("bf16", f"{torch.cuda.get_device_name(device)} supports bf16")
        return Precision("fp32", f"{torch.cuda.get_device_name(device)} has no bf16")
    found = sorted(cpu_flags() & set(_FAST_CPU_FLAGS))
    if found:
        return Precision("bf16", f"this CPU has {' and '.join(found)}")
    return Precision(
        "fp32",
        "this CPU has neither AVX-512 BF16 nor AMX, so bf16 would be emulated (tens of times "
        "slower than fp32)",
    )
