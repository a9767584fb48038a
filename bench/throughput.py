"""Training throughput in fp32 and bf16, against the same run's GEMM rates and HF's CvT-13.

Per model: forward+backward+SGD images/s, the achieved GFLOP/s (training FLOPs counted as 3×
the forward's), and that over the same run's fp32 and bf16 GEMM rate (2048³, the practical
peak). Models: the cmt_compound and cvt_compound φ = 1 members at their proxy batch on one
thread; CMT-Ti, CMT-S and CvT-13 at batch 8 on two threads; HF transformers' CvT-13 beside
ours, in both precisions. bf16 runs as autocast, as training does. Where this CPU emulates
bf16 (no AVX-512 BF16, no AMX: `scalesearch.train.precision`) the bf16 models are not timed —
their GEMM rate is printed instead, which says why.

A second table trains the two φ = 1 members as `scalesearch proxy` does (`train_proxy` at the
space's shipped proxy settings, one thread, `precision: auto`) and prints the achieved rate
(6 × MACs × training images/s) over the same run's one-thread fp32 GEMM rate (issue 27's
target: ≥ 0.6), and the share of the trial's seconds outside training (validation and set-up;
target ≤ 15%).

    python bench/throughput.py [--seconds 10] [--precisions fp32 bf16] [--proxy-only]
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import time

import torch
from torch.utils.flop_counter import FlopCounterMode

from scalesearch.arch.cost import _EXTRA_FORMULAS
from scalesearch.arch.model import build_model
from scalesearch.search.space import load_space
from scalesearch.train.precision import resolve_precision


def gemm_gflops(dtype: torch.dtype, threads: int, seconds: float, n: int = 2048) -> float:
    torch.set_num_threads(threads)
    a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
    a @ b
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds or count < 1:
        a @ b
        count += 1
    return 2 * n**3 * count / (time.perf_counter() - start) / 1e9


def logits(model, images):
    out = model(images)
    return out.logits if hasattr(out, "logits") else out


def training_flops(model, images) -> int:
    """3× the counted forward FLOPs (a backward costs two forwards; torch's backward formula
    for grouped convolutions overcounts, so the forward is counted)."""
    counter = FlopCounterMode(display=False, custom_mapping=_EXTRA_FORMULAS)
    with counter:  # not no_grad: the module tracker then rejects the shared position bias
        logits(model.eval(), images)
    model.train()
    return 3 * counter.get_total_flops()


def images_per_second(model, images, bf16: bool, seconds: float) -> float:
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-4)
    cast = torch.autocast("cpu", dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        with cast:
            out = logits(model, images)
        out.float().logsumexp(1).mean().backward()
        optimizer.step()

    for _ in range(2):
        step()
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds or count < 3:
        step()
        count += 1
    return count * images.shape[0] / (time.perf_counter() - start)


def _models():
    """(label, model, input side, batch, threads)."""
    out = []
    for space_name in ("cmt_compound", "cvt_compound"):
        space = load_space(space_name)
        spec = space.realize(1).spec
        out.append(
            (f"{space_name} φ1", build_model(spec), spec.resolution, space.proxy.batch_size, 1)
        )
    for name in ("cmt-ti", "cmt-s", "cvt-13"):
        model = build_model(name)
        out.append((name, model, model.spec.resolution, 8, 2))
    try:
        from transformers import CvtConfig, CvtForImageClassification

        out.append(("hf cvt-13", CvtForImageClassification(CvtConfig(num_labels=1000)), 224, 8, 2))
    except ImportError:
        pass
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="timed seconds per case")
    parser.add_argument("--precisions", nargs="+", default=["fp32", "bf16"])
    parser.add_argument("--proxy-only", action="store_true", help="only the proxy-trial table")
    args = parser.parse_args()
    torch.manual_seed(0)
    auto = resolve_precision("auto", torch.device("cpu"))
    print(f"auto precision on this CPU: {auto.name} ({auto.reason})")
    gemm = {
        (p, t): gemm_gflops(torch.float32 if p == "fp32" else torch.bfloat16, t, 3.0)
        for p in args.precisions
        for t in (1, 2)
    }
    for (p, t), rate in gemm.items():
        print(f"GEMM 2048³ {p}, {t} thread(s): {rate:.1f} GFLOP/s")
    proxy_trials(gemm[("fp32", 1)] if ("fp32", 1) in gemm else gemm_gflops(torch.float32, 1, 3.0))
    if args.proxy_only:
        return
    timed_bf16 = auto.name == "bf16"
    print(f"{'model':18s} {'batch':>5s} {'thr':>3s} {'prec':>5s} {'img/s':>8s} {'GFLOP/s':>8s} "
          f"{'of fp32 GEMM':>12s} {'of bf16 GEMM':>12s}")  # fmt: skip
    rates: dict[tuple[str, str], float] = {}
    for label, model, size, batch, threads in _models():
        torch.set_num_threads(threads)
        images = torch.randn(batch, 3, size, size)
        flops = training_flops(model, images)
        for p in args.precisions:
            if p == "bf16" and not timed_bf16:
                print(
                    f"{label:18s} {batch:5d} {threads:3d} {p:>5s}  not timed: bf16 is emulated here"
                )
                continue
            rate = images_per_second(model, images, p == "bf16", args.seconds)
            rates[(label, p)] = rate
            gflops = flops / batch * rate / 1e9
            of32 = gflops / gemm[("fp32", threads)] if ("fp32", threads) in gemm else float("nan")
            of16 = gflops / gemm[("bf16", threads)] if ("bf16", threads) in gemm else float("nan")
            print(f"{label:18s} {batch:5d} {threads:3d} {p:>5s} {rate:8.2f} {gflops:8.1f} "
                  f"{of32:12.0%} {of16:12.0%}")  # fmt: skip
    for p in args.precisions:
        if ("cvt-13", p) in rates and ("hf cvt-13", p) in rates:
            print(f"cvt-13 over HF's CvT-13, {p}, same run: "
                  f"{rates[('cvt-13', p)] / rates[('hf cvt-13', p)]:.2f}×")  # fmt: skip


def proxy_trials(fp32_gemm_1thread: float, seeds: int = 2) -> None:
    """The φ = 1 members trained by `train_proxy` at their space's shipped proxy settings."""
    from scalesearch.arch.cost import count_cost
    from scalesearch.train.data import load_dataset
    from scalesearch.train.proxy import train_proxy, train_resolution

    print(f"{'proxy trial (shipped)':22s} {'prec':>5s} {'train s':>8s} {'other s':>8s} "
          f"{'outside':>8s} {'img/s':>7s} {'6·MACs·img/s':>13s} {'of fp32 GEMM':>12s}")  # fmt: skip
    for space_name in ("cmt_compound", "cvt_compound"):
        space = load_space(space_name)
        proxy = dataclasses.replace(space.proxy, threads=1)
        spec = space.realize(1).spec
        data = load_dataset(
            proxy.dataset, None, train_resolution(spec, proxy), seed=0,
            max_images=proxy.images_needed,
        )  # fmt: skip
        spec = spec.replace(num_classes=data.num_classes)
        macs = count_cost(spec).macs
        for seed in range(seeds):
            result = train_proxy(spec, data, dataclasses.replace(proxy, seed=seed), macs=macs)
            trained = result.step_seconds
            other = result.seconds - trained
            gflops = 6 * macs * result.images_per_second / 1e9
            print(f"{space_name + f' seed {seed}':22s} {result.precision:>5s} {trained:8.1f} "
                  f"{other:8.1f} {other / result.seconds:8.0%} {result.images_per_second:7.1f} "
                  f"{gflops:9.1f} GF/s {gflops / fp32_gemm_1thread:12.2f}")  # fmt: skip


if __name__ == "__main__":
    main()
