"""Hypervolume against trials for TPE, NSGA-II and random on cmt_compound.

A tabular benchmark: every (α, β) of a 0.1-step grid over the space's ranges is proxy-
trained once at the search φ (γ solved and the member realised at equal cost, as in a real
search) on `--dataset` (Fashion-MNIST by default: MNIST saturates and leaves nothing to
learn) and cached in bench/results/search_efficiency.json; then each sampler (the search's own
`make_sampler`) runs many seeded searches over the grid, reading results from the table. The
yardstick is the hypervolume of the whole grid; the target: the default sampler
reaches 95% of it in at most half the trials random search needs (median over the seeds).

    python bench/search_efficiency.py [--seeds 20] [--trials 48] [--images 1200]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import optuna
from optuna.trial import TrialState

from scalesearch.arch.cost import count_cost
from scalesearch.search.results.frontier import FrontierPoint, hypervolume
from scalesearch.search.run import samplers
from scalesearch.search.space import Coefficients, load_space
from scalesearch.search.store.schema import DIRECTIONS

# Kept in the repository: the table took 49 proxy trainings (about 30 min on 2 cores).
CACHE = Path(__file__).resolve().parent / "results" / "search_efficiency.json"
GRID = [round(1.0 + 0.1 * i, 1) for i in range(7)]


def _point(alpha: float, beta: float, images: int, dataset: str, seed: int = 0) -> dict:
    """One grid point: counted, and proxy-trained when within the MACs budget."""
    import torch

    from scalesearch.train.data import load_dataset
    from scalesearch.train.proxy import train_proxy

    torch.set_num_threads(1)
    space = load_space("cmt_compound")
    gamma = space.scaling.constraint.solve_gamma(alpha, beta)
    spec = space.member(space.scaling.search_phi, Coefficients(alpha, beta, gamma))
    macs = count_cost(spec).macs
    if macs > space.search.max_macs:
        return {"alpha": alpha, "beta": beta, "macs": macs, "accuracy": None}
    proxy = dataclasses.replace(space.proxy, max_train_images=images, dataset=dataset, seed=seed)
    data = load_dataset(proxy.dataset, None, resolution=spec.resolution, seed=seed)
    result = train_proxy(spec, data, proxy)
    row = {"alpha": alpha, "beta": beta, "macs": macs, "accuracy": result.val_accuracy}
    return row if seed == 0 else {**row, "seed": seed}


def _prefix(dataset: str, images: int) -> str:
    """Cache key of a table: the space's init is in it, so results trained under another
    initialisation (0.1's "v0") are never read as this code's."""
    init = load_space("cmt_compound").base.init
    return f"cmt_compound/{dataset}/images={images}/equal-cost/init={init}"


def seed_noise(grid: dict, images: int, dataset: str, points: int) -> float | None:
    """The table's own noise: `points` grid points (spread over it) trained again with seed 1;
    the pooled sd of one accuracy between the two seeds. A sampler cannot find structure
    finer than this."""
    if points < 1:
        return None
    key = f"{_prefix(dataset, images)}/seed1"
    cached = json.loads(CACHE.read_text()) if CACHE.is_file() else {}
    rows = cached.get(key, [])
    chosen = sorted(grid)[:: max(1, len(grid) // points)][:points]
    todo = [p for p in chosen if p not in {(r["alpha"], r["beta"]) for r in rows}]
    if todo:
        print(f"training {len(todo)} grid points again with seed 1 ...", flush=True)
        with ProcessPoolExecutor(max_workers=2) as pool:
            jobs = [*zip(*todo), [images] * len(todo), [dataset] * len(todo), [1] * len(todo)]
            for row in pool.map(_point, *jobs):
                rows.append(row)
                cached[key] = rows
                CACHE.write_text(json.dumps(cached))
    pairs = [(grid[(r["alpha"], r["beta"])]["accuracy"], r["accuracy"]) for r in rows]
    return statistics.mean((a - b) ** 2 / 2 for a, b in pairs) ** 0.5


def table(images: int, dataset: str) -> dict[tuple[float, float], dict]:
    key = _prefix(dataset, images)
    cached = json.loads(CACHE.read_text()) if CACHE.is_file() else {}
    rows = cached.get(key, [])
    done = {(r["alpha"], r["beta"]) for r in rows}
    todo = [(a, b) for a in GRID for b in GRID if (a, b) not in done]
    if todo:
        print(f"proxy-training {len(todo)} grid points (cached in {CACHE}) ...", flush=True)
        with ProcessPoolExecutor(max_workers=2) as pool:
            jobs = [*zip(*todo), [images] * len(todo), [dataset] * len(todo)]
            for row in pool.map(_point, *jobs):
                rows.append(row)
                cached[key] = rows
                CACHE.parent.mkdir(exist_ok=True)
                CACHE.write_text(json.dumps(cached))
                print(
                    f"  α={row['alpha']} β={row['beta']}: {row['macs'] / 1e6:.1f} MMACs, "
                    f"accuracy {row['accuracy']}",
                    flush=True,
                )
    return {(r["alpha"], r["beta"]): r for r in rows}


def _hypervolume(points: list[tuple[float, int]], max_macs: float) -> float:
    front = [
        FrontierPoint("", 0, acc, 0.0, 1, macs, 0, "search", 1.0, {}, {}, costs={"macs": macs})
        for acc, macs in points
    ]
    return hypervolume(front, {"macs": max_macs})


def search(
    grid: dict, sampler: str, seed: int, trials: int, max_macs: float
) -> tuple[list[float], list[float]]:
    """Hypervolume and best accuracy so far after each trial of one seeded search."""
    study = optuna.create_study(
        directions=list(DIRECTIONS), sampler=samplers.make_sampler(sampler, seed)
    )
    curve, best_so_far = [], []
    for _ in range(trials):
        trial = study.ask()
        alpha = trial.suggest_float("alpha", GRID[0], GRID[-1], step=0.1)
        beta = trial.suggest_float("beta", GRID[0], GRID[-1], step=0.1)
        row = grid[(round(alpha, 1), round(beta, 1))]
        if row["accuracy"] is None:
            study.tell(trial, state=TrialState.PRUNED)
        else:
            study.tell(trial, [row["accuracy"], row["macs"]])
        best = [(t.values[0], t.values[1]) for t in study.best_trials]
        curve.append(_hypervolume(best, max_macs))
        best_so_far.append(max((b[0] for b in best), default=0.0))
    return curve, best_so_far


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--trials", type=int, default=48)
    parser.add_argument("--images", type=int, default=1200, help="proxy training images")
    parser.add_argument("--dataset", default="fashion-mnist")
    parser.add_argument("--noise-points", type=int, default=8, help="retrained with seed 1")
    parser.add_argument("--val-images", type=int, default=2400, help="as the space's proxy")
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)

    max_macs = load_space("cmt_compound").search.max_macs
    grid = table(args.images, args.dataset)
    trained = [(r["accuracy"], r["macs"]) for r in grid.values() if r["accuracy"] is not None]
    optimum = _hypervolume(trained, max_macs)
    print(
        f"\n{len(grid)} grid points ({len(trained)} within budget); "
        f"hypervolume of the whole grid {optimum:.4f}"
    )
    noise = seed_noise(grid, args.images, args.dataset, args.noise_points)
    if noise is not None:
        print(
            f"seed noise of the table ({args.noise_points} points, two seeds): one accuracy "
            f"varies by {100 * noise:.2f} points (sd)"
        )
    accuracies = sorted(acc for acc, _ in trained)
    top = accuracies[int(0.9 * (len(accuracies) - 1))]  # the grid's 90th percentile
    macs = [m for _, m in trained]
    spread = statistics.pstdev(accuracies)
    se = statistics.mean((a * (1 - a) / args.val_images) ** 0.5 for a in accuracies)
    print(
        f"MACs of the grid: {min(macs) / 1e6:.1f}-{max(macs) / 1e6:.1f} M (equal cost); accuracy "
        f"{accuracies[0]:.4f}-{accuracies[-1]:.4f}, sd {100 * spread:.2f} points against a "
        f"binomial se of {100 * se:.2f} per point; top-10% threshold {top:.4f}"
    )
    print(
        f"{'sampler':8s} {'HV@8':>7s} {'HV@16':>7s} {'HV@48':>7s} {'to 95% HV':>10s} "
        f"{'to top 10%':>11s} {'reached':>8s}"
    )
    needed: dict[str, tuple[float, float]] = {}
    for sampler in ("tpe", "nsga2", "random"):
        runs = [search(grid, sampler, seed, args.trials, max_macs) for seed in range(args.seeds)]
        miss = args.trials + 1
        hv_hits = [
            next((i + 1 for i, v in enumerate(c) if v >= 0.95 * optimum), miss) for c, _ in runs
        ]
        top_hits = [next((i + 1 for i, a in enumerate(b) if a >= top), miss) for _, b in runs]
        needed[sampler] = (statistics.median(hv_hits), statistics.median(top_hits))
        at = [statistics.mean(c[n - 1] for c, _ in runs) for n in (8, 16, args.trials)]
        reached = sum(h <= args.trials for h in top_hits)
        print(
            f"{sampler:8s} "
            + " ".join(f"{v:7.4f}" for v in at)
            + f" {needed[sampler][0]:10.1f} {needed[sampler][1]:11.1f} {reached:5d}/{args.seeds}"
        )
    hv_ratio = needed["tpe"][0] / needed["random"][0]
    top_ratio = needed["tpe"][1] / needed["random"][1]
    print(
        f"\nTPE needs {hv_ratio:.2f}× random's trials to reach 95% of the hypervolume and "
        f"{top_ratio:.2f}× to find a top-10% architecture (medians over {args.seeds} seeds; "
        f"target ≤ 0.5; a search that never gets there counts as {args.trials + 1})"
    )


if __name__ == "__main__":
    main()
