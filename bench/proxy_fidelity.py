"""Does the proxy rank architectures as a long training does? Kendall τ, proxy vs long.

Trains architectures spread over a space (several (α, β) on the constraint at the search φ,
with γ solved, plus a few φ) twice: with the space's proxy settings, and with a long
schedule (`--long-epochs` on the full training split, about 10× the proxy's compute).
Prints, per architecture, both accuracies; then Kendall τ between the long ranking and
(a) proxy validation accuracy, (b) proxy sum of training losses (lower is better), and
(c) MACs alone, the baseline a proxy must beat. Results are cached in a JSON file, so a
rerun with more architectures only trains the new ones.

    python bench/proxy_fidelity.py [--space cmt_compound] [--workers 2] [--long-epochs 8]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from scipy.stats import kendalltau

# (α, β) at the search φ; γ is solved from the constraint. Spread over the ranges.
PAIRS = [
    (1.0, 1.0),
    (1.0, 1.35),
    (1.1, 1.2),
    (1.2, 1.3),
    (1.35, 1.0),
    (1.35, 1.25),
    (1.5, 1.1),
    (1.6, 1.0),
]
EXTRA_PHIS = [0.0, 0.5]


def _train(job: dict) -> dict:
    from scalesearch.decode import decode
    from scalesearch.search.space import Coefficients, load_space
    from scalesearch.train.config import ProxyConfig
    from scalesearch.train.data import load_dataset
    from scalesearch.train.proxy import train_proxy

    space = load_space(job["space"])
    spec = space.member(job["phi"], Coefficients(job["alpha"], job["beta"], job["gamma"]))
    config = decode(ProxyConfig, job["config"])
    data = load_dataset(config.dataset, resolution=spec.resolution)
    result = train_proxy(spec, data, config)
    return {
        **job,
        "val_accuracy": result.val_accuracy,
        "val_loss": result.val_losses[-1] if result.val_losses else None,
        "train_loss_sum": result.train_loss_sum,
        "macs": result.macs,
        "seconds": result.seconds,
        "status": result.status,
    }


def _jobs(space_name: str, long_epochs: int) -> list[dict]:
    """Proxy and long runs, each with its fully resolved training config (the cache key)."""
    from scalesearch.decode import encode
    from scalesearch.search.space import load_space

    space = load_space(space_name)
    proxy = dataclasses.replace(space.proxy, threads=1)
    # The long schedule is fixed here, not derived from the proxy, so tuning the proxy
    # settings in the space reuses the (expensive) long runs.
    long = dataclasses.replace(
        proxy, epochs=long_epochs, max_train_images=None, batch_size=64, lr=2e-3, subset=1.0
    )
    constraint, phi = space.scaling.constraint, space.scaling.search_phi
    points = [(a, b, constraint.solve_gamma(a, b), phi) for a, b in PAIRS]
    d = space.scaling.defaults
    points += [(d.alpha, d.beta, d.gamma, p) for p in EXTRA_PHIS]
    jobs = []
    for alpha, beta, gamma, p in points:
        base = {
            "space": space_name,
            "alpha": alpha,
            "beta": beta,
            "gamma": round(gamma, 6),
            "phi": p,
        }
        jobs.append({**base, "schedule": "proxy", "config": encode(proxy)})
        jobs.append({**base, "schedule": "long", "config": encode(long)})
    return jobs


def _key(job: dict) -> str:
    return json.dumps(
        {k: job[k] for k in ("space", "alpha", "beta", "gamma", "phi", "config")}, sort_keys=True
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--space", default="cmt_compound")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--long-epochs", type=int, default=8)
    parser.add_argument("--cache", type=Path, default=Path(".cache/proxy_fidelity.json"))
    args = parser.parse_args()

    cache = json.loads(args.cache.read_text()) if args.cache.exists() else {}
    todo = [j for j in _jobs(args.space, args.long_epochs) if _key(j) not in cache]
    start = time.perf_counter()
    # Long runs first: they dominate, so the pool stays busy to the end.
    todo.sort(key=lambda j: j["schedule"] != "long")
    with ProcessPoolExecutor(args.workers) as pool:
        for done in pool.map(_train, todo):
            cache[_key(done)] = done
            args.cache.parent.mkdir(parents=True, exist_ok=True)
            args.cache.write_text(json.dumps(cache, indent=1))
            print(
                f"  trained {done['schedule']:5s} a={done['alpha']:.2f} b={done['beta']:.2f} "
                f"phi={done['phi']:g}: {done['val_accuracy']:.4f} in {done['seconds']:.0f} s",
                flush=True,
            )
    print(f"wall time {time.perf_counter() - start:.0f} s for {len(todo)} runs")
    report(args.space, args.long_epochs, cache)


def report(space: str, long_epochs: int, cache: dict) -> None:
    jobs = _jobs(space, long_epochs)
    rows = [(job, cache[_key(job)], cache[_key(long)]) for job, long in zip(jobs[::2], jobs[1::2])]
    print(
        f"{'alpha':>5} {'beta':>5} {'gamma':>6} {'phi':>4} {'MMACs':>7} {'proxy acc':>9} "
        f"{'loss sum':>8} {'long acc':>8} {'proxy s':>7} {'long s':>6}"
    )
    for job, proxy, long in rows:
        print(
            f"{job['alpha']:5.2f} {job['beta']:5.2f} {job['gamma']:6.3f} {job['phi']:4g} "
            f"{proxy['macs'] / 1e6:7.1f} {proxy['val_accuracy']:9.4f} "
            f"{proxy['train_loss_sum']:8.1f} {long['val_accuracy']:8.4f} "
            f"{proxy['seconds']:7.1f} {long['seconds']:6.0f}"
        )
    final = [long["val_accuracy"] for _, _, long in rows]
    tau_acc = kendalltau([p["val_accuracy"] for _, p, _ in rows], final).statistic
    tau_loss = kendalltau([-p["train_loss_sum"] for _, p, _ in rows], final).statistic
    tau_macs = kendalltau([p["macs"] for _, p, _ in rows], final).statistic
    print(
        f"Kendall tau vs long accuracy ({len(rows)} architectures): proxy val accuracy "
        f"{tau_acc:.3f}, proxy train-loss sum {tau_loss:.3f}, MACs alone {tau_macs:.3f}"
    )
    seconds = [p["seconds"] for _, p, _ in rows if p["phi"] == 1]
    print(f"seconds per proxy trial at the search phi: mean {sum(seconds) / len(seconds):.1f}")


if __name__ == "__main__":
    main()
