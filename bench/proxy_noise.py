"""Where a proxy's seed noise comes from, and proxies with less of it at the same cost.

On Fashion-MNIST (Debian's package), for three equal-cost members of `cmt_compound` at φ = 1
(the default coefficients, a deep and a wide one) and the default member of `cvt_compound`:

1. **The parts of the seed.** The shipped proxy trained with one part of the seed varied at a
   time (the training subset, the validation images, the initialisation, the data order with
   augmentation and dropout), the others held at 0, over `--seeds` seeds: each part's sd,
   beside the sd when the whole seed varies, and the binomial sd of the validation sample
   (√(p(1−p)/n), what a finite validation set alone would give).
2. **Proxies at the same training cost.** Variants of the proxy (the same number of training
   images seen, so the same training time): per variant, the seed sd pooled over the members
   and each member's, the seconds per trial (training and validation, two trials side by side
   as in a search), and the correlation of paired outcomes: at equal seed, how much two
   architectures' accuracies move together (common random numbers make paired differences
   quieter by that much).

Results are cached in bench/results/proxy_noise.json, keyed by the precision this machine
trains in (`precision: auto`: bf16 with AVX-512 BF16, else fp32; rows of the other precision
are kept but never mixed into a table); resumable: rerun to fill what is missing. Two
trainings run at once, one thread each.

    python bench/proxy_noise.py [--seeds 6] [--parts] [--variants shipped fixed-val ...]
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import math
import statistics
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from scalesearch.search.space import Coefficients, load_space
from scalesearch.train.config import ProxyConfig

RESULTS = Path(__file__).resolve().parent / "results" / "proxy_noise.json"
# (space, α, β): γ is solved from the constraint, the member realised at equal cost.
MEMBERS = {
    "cmt-default": ("cmt_compound", 1.2, 1.3),
    "cmt-deep": ("cmt_compound", 1.45, 1.15),
    "cmt-wide": ("cmt_compound", 1.0, 1.55),
    "cvt-default": ("cvt_compound", 1.2, 1.1),
}
# Each variant changes the shipped proxy (2 epochs x 1,200 images, batch 16, peak lr 2e-3
# after a 0.2-epoch warm-up, label smoothing 0.1) at the same number of training images seen.
VARIANTS = {
    "shipped": {},
    "fixed-val": {"val_seed": 0},
    "fixed-val+ema": {"val_seed": 0, "ema_horizon": 0.25},
    "fixed-val+tta": {"val_seed": 0, "tta_flip": True},
    "one epoch of 2,400": {"epochs": 1, "max_train_images": 2400},
    "lr 1e-3, warm-up 0.5": {"lr": 1e-3, "warmup_epochs": 0.5},
    "batch 32": {"batch_size": 32},
    "no label smoothing": {"label_smoothing": 0.0},
}
PARTS = ("subset", "validation", "init", "order")
PARTS_MEMBERS = ("cmt-default", "cmt-wide")


def _proxy(variant: str) -> ProxyConfig:
    shipped = load_space("cmt_compound").proxy
    return dataclasses.replace(shipped, dataset="fashion-mnist", **VARIANTS[variant])


def _train(job: tuple[str, str, dict]) -> dict:
    """One training: (variant, member, seed parts) → accuracy, seconds, validation size."""
    import time

    import torch

    from scalesearch.train.data import load_dataset
    from scalesearch.train.proxy import train_proxy
    from scalesearch.train.proxy_data import SeedParts

    variant, member, parts = job
    torch.set_num_threads(1)
    name, alpha, beta = MEMBERS[member]
    space = load_space(name)
    gamma = space.scaling.constraint.solve_gamma(alpha, beta)
    spec = space.member(space.scaling.search_phi, Coefficients(alpha, beta, gamma))
    data = _dataset(load_dataset)
    config = _proxy(variant)
    start = time.perf_counter()
    result = train_proxy(spec, data, config, seeds=SeedParts(**parts))
    return {
        "variant": variant,
        "member": member,
        "parts": parts,
        "accuracy": result.val_accuracy,
        "val_images": result.val_images,
        "seconds": time.perf_counter() - start,
        "train_seconds": result.seconds,
        "precision": result.precision,
    }


_DATA = {}


def _dataset(load_dataset):
    if "fashion" not in _DATA:
        _DATA["fashion"] = load_dataset("fashion-mnist")
    return _DATA["fashion"]


def _machine_precision() -> str:
    """What `precision: auto` trains in on this machine: the cache's key, since a seed sd
    measured in bf16 is not one measured in fp32."""
    import torch

    from scalesearch.train.precision import resolve_precision

    return resolve_precision("auto", torch.device("cpu")).name


PRECISION = _machine_precision()


def _key(variant: str, member: str, parts: dict) -> str:
    return f"{PRECISION}|{variant}|{member}|" + ",".join(f"{k}={parts[k]}" for k in PARTS)


def _all(seed: int) -> dict:
    return dict.fromkeys(PARTS, seed)


def _jobs(
    seeds: int, variants: list[str], members: list[str], parts: bool, part_seeds: int
) -> list[tuple[str, str, dict]]:
    jobs = [(v, m, _all(s)) for v in variants for m in members for s in range(seeds)]
    if parts:  # on two members: the parts' shares, at a fraction of the variants' cost
        for part, member, s in itertools.product(PARTS, PARTS_MEMBERS, range(1, part_seeds)):
            jobs.append(("shipped", member, {**_all(0), part: s}))
    return jobs


def run(jobs: list[tuple[str, str, dict]]) -> dict[str, dict]:
    done = json.loads(RESULTS.read_text()) if RESULTS.is_file() else {}
    done = {k: v for k, v in done.items() if "precision" in v}  # older rows: not attributable
    todo = [j for j in jobs if _key(*j) not in done]
    print(f"{len(jobs) - len(todo)} trainings cached, {len(todo)} to train", flush=True)
    with ProcessPoolExecutor(max_workers=2) as pool:
        for row in pool.map(_train, todo):
            done[_key(row["variant"], row["member"], row["parts"])] = row
            RESULTS.parent.mkdir(parents=True, exist_ok=True)
            RESULTS.write_text(json.dumps(done, indent=1))
            print(f"  {row['variant']:<22} {row['member']:<12} {row['parts']} "
                  f"{row['accuracy']:.4f} {row['seconds']:.1f} s", flush=True)  # fmt: skip
    return done


def _sd(values: list[float]) -> float:
    return statistics.stdev(values) if len(values) > 1 else math.nan


def _pooled(series: list[list[float]]) -> float:
    dof = sum(len(s) - 1 for s in series if len(s) > 1)
    return math.sqrt(sum((len(s) - 1) * _sd(s) ** 2 for s in series if len(s) > 1) / dof)


def parts_table(done: dict, seeds: int) -> None:
    print(f"\nThe parts of the seed (shipped proxy, Fashion-MNIST, phi = 1, {PRECISION}):")
    print(f"{'part varied':<22}" + "".join(f"{m:>14}" for m in PARTS_MEMBERS)
          + f"{'pooled sd':>11}{'share':>8}")  # fmt: skip
    cmt = list(PARTS_MEMBERS)
    whole = _pooled(
        [[done[_key("shipped", m, _all(s))]["accuracy"] for s in range(seeds)] for m in cmt]
    )
    for part in (*PARTS, "all"):
        series = []
        for m in cmt:
            runs = [_all(s) if part == "all" else {**_all(0), part: s} for s in range(seeds)]
            series.append([done[_key("shipped", m, p)]["accuracy"] for p in runs])
        pooled = _pooled(series)
        cells = "".join(f"{100 * _sd(s):>13.2f} " for s in series)
        print(f"{part:<22}{cells}{100 * pooled:>10.2f}{(pooled / whole) ** 2:>8.0%}")
    rows = [done[_key("shipped", m, _all(s))] for m in cmt for s in range(seeds)]
    binomial = statistics.fmean(
        math.sqrt(r["accuracy"] * (1 - r["accuracy"]) / r["val_images"]) for r in rows
    )
    print(
        f"{'binomial (validation)':<22}{'':>42}{100 * binomial:>10.2f}{(binomial / whole) ** 2:>8.0%}"
    )
    print("(sd in points; share = sd² over the whole seed's sd²; the parts need not add up)")


def variants_table(done: dict, seeds: int, variants: list[str], members: list[str]) -> None:
    print("\nProxies at the same training cost (Fashion-MNIST, phi = 1, "
          f"{seeds} seeds each, {PRECISION}):")  # fmt: skip
    head = "".join(f"{m:>13}" for m in members)
    print(f"{'variant':<24}{head}{'pooled sd':>11}{'mean acc':>10}{'s/trial':>9}{'paired r':>10}")
    for v in variants:
        series = {m: [done[_key(v, m, _all(s))]["accuracy"] for s in range(seeds)] for m in members}
        seconds = statistics.fmean(
            done[_key(v, m, _all(s))]["seconds"] for m in members for s in range(seeds)
        )
        mean = statistics.fmean(a for s in series.values() for a in s)
        cells = "".join(f"{100 * _sd(s):>13.2f}" for s in series.values())
        print(f"{v:<24}{cells}{100 * _pooled(list(series.values())):>11.2f}{mean:>10.2%}"
              f"{seconds:>9.1f}{_paired_r(list(series.values())):>10.2f}")  # fmt: skip


def _paired_r(series: list[list[float]]) -> float:
    """The mean Pearson correlation over pairs of members of their accuracies at equal seed."""
    rs = [statistics.correlation(a, b) for a, b in itertools.combinations(series, 2)
          if _sd(a) > 0 and _sd(b) > 0]  # fmt: skip
    return statistics.fmean(rs) if rs else math.nan


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=6)
    default = list(VARIANTS)
    parser.add_argument("--variants", nargs="+", default=default, choices=list(VARIANTS))
    parser.add_argument("--parts", action="store_true", help="also split the seed into parts")
    parser.add_argument("--part-seeds", type=int, default=6, help="seeds per part")
    parser.add_argument("--members", nargs="+", default=list(MEMBERS), choices=list(MEMBERS))
    args = parser.parse_args()
    done = run(_jobs(args.seeds, args.variants, args.members, args.parts, args.part_seeds))
    if args.parts:
        parts_table(done, args.part_seeds)
    variants_table(done, args.seeds, args.variants, args.members)


if __name__ == "__main__":
    main()
