"""Does bf16 training rank architectures as fp32 does? Kendall τ beside the two-seed ceiling.

Trains architectures spread over a space (`proxy_fidelity.spread_points`: (α, β) on the
constraint at the search φ plus the defaults at two other φ, each realised at equal cost;
12 distinct for cmt_compound) on Fashion-MNIST in fp32 and in bf16 autocast, with two seeds each, and prints Kendall τ of the
validation accuracies between the precisions (same seed: same init and data order, only the
arithmetic differs) beside τ between the two fp32 seeds — the seed noise, the level that
"bf16 does not change the ranking" has to reach. Where bf16 is emulated (no AVX-512 BF16,
no AMX) it is hours slow; run it where `auto` picks bf16. Runs are cached by config.

    python bench/precision_ranking.py [--space cmt_compound] [--epochs 2] [--images 2400]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
from pathlib import Path

from scipy.stats import kendalltau
from training_cache import spread_points, train_cached, train_point

RUNS = (("fp32", 0), ("fp32", 1), ("bf16", 0), ("bf16", 1))


def _train(job: dict) -> dict:
    result = train_point(job)
    return {**job, "accuracy": result.val_accuracies[-1], "seconds": result.seconds,
            "precision_used": result.precision, "macs": result.macs}  # fmt: skip


def _jobs(space_name: str, epochs: int, images: int, val_images: int) -> list[dict]:
    from scalesearch.decode import encode
    from scalesearch.search.space import load_space

    space = load_space(space_name)
    proxy = dataclasses.replace(
        space.proxy, dataset="fashion-mnist", threads=1, epochs=epochs,
        max_train_images=images, val_images=val_images,
    )  # fmt: skip
    return [
        {"space": space_name, "alpha": a, "beta": b, "gamma": round(g, 6), "phi": phi,
         "precision": precision, "seed": seed,
         "config": encode(dataclasses.replace(proxy, precision=precision, seed=seed))}
        for a, b, g, phi in spread_points(space)
        for precision, seed in RUNS
    ]  # fmt: skip


def _key(job: dict) -> str:
    keys = ("space", "alpha", "beta", "gamma", "phi", "precision", "seed", "config")
    return json.dumps({k: job[k] for k in keys}, sort_keys=True)


def report(jobs: list[dict], cache: dict) -> None:
    table: dict[tuple, dict] = {}
    for job in jobs:
        if _key(job) in cache:
            point = (job["alpha"], job["beta"], job["phi"])
            table.setdefault(point, {})[(job["precision"], job["seed"])] = cache[_key(job)]
    points = sorted(p for p, runs in table.items() if len(runs) == len(RUNS))
    if len(points) < 2:
        print("fewer than two architectures have every run: nothing to rank yet")
        return
    print(f"\n{'alpha':>5} {'beta':>5} {'phi':>4} " + " ".join(f"{p} s{s}" for p, s in RUNS))
    for p in points:
        cells = " ".join(f"{table[p][r]['accuracy']:7.4f}" for r in RUNS)
        print(f"{p[0]:5.2f} {p[1]:5.2f} {p[2]:4g} {cells}")
    acc = {r: [table[p][r]["accuracy"] for p in points] for r in RUNS}

    def tau(a, b) -> float:
        return kendalltau(acc[a], acc[b]).statistic

    seeds = tau(("fp32", 0), ("fp32", 1))
    same = [tau(("fp32", s), ("bf16", s)) for s in (0, 1)]
    cross = [tau(("fp32", 0), ("bf16", 1)), tau(("fp32", 1), ("bf16", 0))]
    print(f"\n{len(points)} architectures, Kendall tau of validation accuracy:")
    print(f"  fp32 seed 0 vs fp32 seed 1 (the seed noise):      {seeds:6.3f}")
    print(f"  fp32 vs bf16, same seed (s0, s1):                 {same[0]:6.3f} {same[1]:6.3f}")
    print(f"  fp32 vs bf16, other seed (as two fp32 seeds are): {cross[0]:6.3f} {cross[1]:6.3f}")
    bf16_gap = statistics.mean(
        table[p][("bf16", s)]["accuracy"] - table[p][("fp32", s)]["accuracy"]
        for p in points for s in (0, 1)
    )  # fmt: skip
    seconds = {
        prec: statistics.mean(table[p][(prec, s)]["seconds"] for p in points for s in (0, 1))
        for prec in ("fp32", "bf16")
    }
    print(f"  mean bf16 − fp32 accuracy: {100 * bf16_gap:+.2f} points; seconds per run: "
          f"fp32 {seconds['fp32']:.1f}, bf16 {seconds['bf16']:.1f} "
          f"({seconds['fp32'] / seconds['bf16']:.2f}× faster in bf16)")  # fmt: skip
    verdict = "within" if min(cross + same) >= seeds - 0.1 else "BELOW"
    print(f"  verdict: bf16's agreement with fp32 is {verdict} the seed noise (margin 0.1)")


def _describe(done: dict) -> str:
    return (
        f"{done['precision']} s{done['seed']} a={done['alpha']:.2f} b={done['beta']:.2f} "
        f"phi={done['phi']:g}: {done['accuracy']:.4f} in {done['seconds']:.0f} s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--space", default="cmt_compound")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--images", type=int, default=2400)
    parser.add_argument("--val-images", type=int, default=3000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--cache", type=Path, default=Path(__file__).parent / "results" / "precision_ranking.json"
    )
    parser.add_argument("--report-only", action="store_true")
    args = parser.parse_args()
    cache = json.loads(args.cache.read_text()) if args.cache.exists() else {}
    jobs = _jobs(args.space, args.epochs, args.images, args.val_images)
    if not args.report_only:
        train_cached(jobs, _train, _key, cache, args.cache, args.workers, _describe)
    report(jobs, cache)


if __name__ == "__main__":
    main()
