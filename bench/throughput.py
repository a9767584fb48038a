"""Training throughput of the presets on this machine's CPU, beside a plain fp32 GEMM.

Prints forward+backward images/s (batch 8, native input, 2 threads), the achieved GFLOP/s
(training FLOPs counted with torch's FlopCounterMode over forward *and* backward), and
the ratio to a large fp32 GEMM measured in the same run — the machine's practical peak.
If `transformers` is installed, HF's CvtForImageClassification (CvT-13) runs beside ours.

    python bench/throughput.py [--models cvt-13 cmt-ti cmt-s] [--seconds 20]

Reference (official code, this machine type, ±15% noise): CvT-13 4.42, CMT-Ti 19.0,
CMT-S 4.2 images/s; the target is 1.3× those.
"""

from __future__ import annotations

import argparse
import time

import torch
from torch.utils.flop_counter import FlopCounterMode

from scalesearch.arch.cost import _EXTRA_FORMULAS
from scalesearch.arch.model import build_model

REFERENCE_IMAGES_PER_S = {"cvt-13": 4.42, "cmt-ti": 19.0, "cmt-s": 4.2, "hf-cvt-13": 4.89}
BATCH = 8


def gemm_gflops(seconds: float, n: int = 2048) -> float:
    """fp32 GEMM rate of this machine: the ceiling any model's GFLOP/s is compared to."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b  # warm-up
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        a @ b
        count += 1
    return 2 * n**3 * count / (time.perf_counter() - start) / 1e9


def training_flops(model: torch.nn.Module, images: torch.Tensor) -> int:
    """FLOPs of one forward+backward step: 3× the counted forward FLOPs.

    The backward pass of a matmul or conv costs two forwards (input and weight gradients).
    Counting backward directly is wrong in torch 2.13: its convolution_backward formula
    ignores `groups`, which overcounts a depthwise conv's backward by the channel count.
    """
    counter = FlopCounterMode(display=False, custom_mapping=_EXTRA_FORMULAS)
    with counter:
        logits(model.eval(), images)
    model.train()
    return 3 * counter.get_total_flops()


def logits(model: torch.nn.Module, images: torch.Tensor) -> torch.Tensor:
    out = model(images)
    return out.logits if hasattr(out, "logits") else out


def images_per_second(model: torch.nn.Module, images: torch.Tensor, seconds: float) -> float:
    """Steady-state forward+backward+SGD rate, after two warm-up steps."""
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-4)

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        logits(model, images).logsumexp(1).mean().backward()
        optimizer.step()

    for _ in range(2):
        step()
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds or count < 3:
        step()
        count += 1
    return count * images.shape[0] / (time.perf_counter() - start)


def hf_cvt13() -> torch.nn.Module | None:
    try:
        from transformers import CvtConfig, CvtForImageClassification
    except ImportError:
        return None
    return CvtForImageClassification(CvtConfig(num_labels=1000))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["cvt-13", "cmt-ti", "cmt-s"])
    parser.add_argument("--seconds", type=float, default=20.0, help="timed seconds per model")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    peak = gemm_gflops(min(args.seconds, 5.0))
    print(f"fp32 GEMM 2048³, {args.threads} threads: {peak:.1f} GFLOP/s")
    print(
        f"{'model':10s} {'input':>5s} {'img/s':>7s} {'vs ref':>7s} {'GFLOP/s':>8s} {'of GEMM':>8s}"
    )
    models: list[tuple[str, torch.nn.Module, int]] = []
    for name in args.models:
        model = build_model(name)
        models.append((name, model, model.spec.resolution))
    hf = hf_cvt13()
    if hf is not None:
        models.append(("hf-cvt-13", hf, 224))
    rates = {}
    for name, model, size in models:
        model.train()
        images = torch.randn(BATCH, 3, size, size)
        flops = training_flops(model, images)
        rate = images_per_second(model, images, args.seconds)
        rates[name] = rate
        gflops = flops / BATCH * rate / 1e9
        ref = REFERENCE_IMAGES_PER_S.get(name)
        vs_ref = f"{rate / ref:6.2f}×" if ref else "      -"
        print(f"{name:10s} {size:5d} {rate:7.2f} {vs_ref} {gflops:8.1f} {gflops / peak:7.0%}")
    if "hf-cvt-13" in rates and "cvt-13" in rates:
        print(
            f"cvt-13 vs HF transformers CvT-13, same run: {rates['cvt-13'] / rates['hf-cvt-13']:.2f}×"
        )


if __name__ == "__main__":
    main()
