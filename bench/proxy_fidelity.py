"""Does the proxy rank architectures as a longer training does, and how well could any?

On Fashion-MNIST (Debian's `dataset-fashion-mnist`; MNIST saturates, so its reference ranking
is noise), trains architectures spread over a space — 12 (α, β) on the constraint at the
search φ plus the default coefficients at a few other φ, every one realised at equal cost —
with:

- a reference schedule (`--ref-epochs` on `--ref-images` training images, evaluated on the
  10,000 test images), twice, with two seeds: τ between the two seeds is the *noise
  ceiling*, the rank agreement no proxy can be expected to pass;
- the space's proxy schedule (at most 1/10 of the reference's image-epochs), once.

From the proxy run it reads several candidate proxies — last and best validation accuracy,
the sum of training losses (SoTL) and its last-epoch form (SoTL-E), a learning-curve
extrapolation (the asymptote a of acc(e) = a − b/e through the epochs) — beside MACs-only and
params-only baselines, and prints Kendall τ and Spearman ρ of each against the mean of the
two reference seeds, with the ceiling. Runs are cached in a JSON file keyed by their full
config, so a rerun trains only what is new.

    python bench/proxy_fidelity.py [--space cmt_compound] [--workers 2] [--ref-epochs 3]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

from scipy.stats import kendalltau, spearmanr
from training_cache import spread_points, train_cached, train_point

DATASET = "fashion-mnist"


def _train(job: dict) -> dict:
    # A reference is ranked on the 10k test images.
    result = train_point(job, on_test=job["schedule"] == "reference")
    return {
        **job,
        "val_accuracies": result.val_accuracies,
        "val_images": result.val_images,
        "train_losses": result.train_losses,
        "train_loss_sum": result.train_loss_sum,
        "macs": result.macs,
        "params": result.params,
        "seconds": result.seconds,
        "status": result.status,
    }


def _jobs(space_name: str, ref_epochs: int, ref_images: int, val_images: int) -> list[dict]:
    from scalesearch.decode import encode
    from scalesearch.search.space import load_space

    space = load_space(space_name)
    proxy = dataclasses.replace(space.proxy, dataset=DATASET, threads=1, val_images=val_images)
    reference = dataclasses.replace(
        proxy, epochs=ref_epochs, max_train_images=ref_images, val_images=None, batch_size=64
    )
    jobs = []
    for alpha, beta, gamma, phi in spread_points(space):
        base = {
            "space": space_name,
            "alpha": alpha,
            "beta": beta,
            "gamma": round(gamma, 6),
            "phi": phi,
            "init": space.base.init,  # trainings under another initialisation are other rows
        }
        jobs.append({**base, "schedule": "proxy", "seed": 0, "config": encode(proxy)})
        for seed in (0, 1):
            config = encode(dataclasses.replace(reference, seed=seed))
            jobs.append({**base, "schedule": "reference", "seed": seed, "config": config})
    return jobs


def _key(job: dict) -> str:
    keys = ("space", "alpha", "beta", "gamma", "phi", "init", "schedule", "seed", "config")
    return json.dumps({k: job[k] for k in keys}, sort_keys=True)


def _describe(done: dict) -> str:
    return (
        f"{done['schedule']:9s} seed {done['seed']} a={done['alpha']:.2f} b={done['beta']:.2f} "
        f"phi={done['phi']:g}: {done['val_accuracies'][-1]:.4f} in {done['seconds']:.0f} s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--space", default="cmt_compound")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--ref-epochs", type=int, default=3)
    parser.add_argument("--ref-images", type=int, default=8000)
    parser.add_argument("--val-images", type=int, default=5000)
    # Kept in the repository: a reference training takes minutes, the full table hours on 2
    # cores, so each run adds to it and a later one resumes.
    parser.add_argument(
        "--cache", type=Path, default=Path(__file__).parent / "results" / "proxy_fidelity.json"
    )
    parser.add_argument("--report-only", action="store_true", help="report on the cache")
    args = parser.parse_args()

    cache = json.loads(args.cache.read_text()) if args.cache.exists() else {}
    jobs = _jobs(args.space, args.ref_epochs, args.ref_images, args.val_images)
    if args.report_only:
        report(jobs, cache)
        return
    # Architecture by architecture (its two references, then its proxy), so that a run cut
    # short still leaves complete rows to report on.
    train_cached(jobs, _train, _key, cache, args.cache, args.workers, _describe)
    report(jobs, cache)


def _proxies(run: dict) -> dict[str, float]:
    """Candidate proxies from one proxy run, each oriented so that higher ranks higher."""
    acc = run["val_accuracies"]
    asymptote = 2 * acc[-1] - acc[-2] if len(acc) >= 2 else acc[-1]  # a of a − b/e, e = 1, 2
    return {
        "last val accuracy": acc[-1],
        "best val accuracy": max(acc),
        "SoTL (−Σ train loss)": -run["train_loss_sum"],
        "SoTL-E (−last epoch loss)": -run["train_losses"][-1],
        "curve asymptote (a − b/e)": asymptote,
        "MACs only": run["macs"],
        "params only": run["params"],
    }


def report(jobs: list[dict], cache: dict) -> None:
    """Over every architecture whose two references and proxy are done (all, unless cut)."""
    rows: dict[tuple, dict] = {}
    for job in jobs:
        point = (job["alpha"], job["beta"], job["phi"])
        if _key(job) in cache:
            rows.setdefault(point, {})[(job["schedule"], job["seed"])] = cache[_key(job)]
    points = sorted(p for p in rows if len(rows[p]) == 3)
    total = len({(j["alpha"], j["beta"], j["phi"]) for j in jobs})
    if len(points) < total:
        print(f"\nPARTIAL: {len(points)} of {total} architectures have all three runs")
    if len(points) < 2:
        print("fewer than two architectures have all three runs: nothing to rank yet")
        return
    ref0 = [rows[p][("reference", 0)]["val_accuracies"][-1] for p in points]
    ref1 = [rows[p][("reference", 1)]["val_accuracies"][-1] for p in points]
    ref = [(a + b) / 2 for a, b in zip(ref0, ref1)]
    print(
        f"\n{'alpha':>5} {'beta':>5} {'phi':>4} {'MMACs':>7} {'proxy':>7} {'ref s0':>7} "
        f"{'ref s1':>7} {'proxy s':>7} {'ref s':>6}"
    )
    for p, r0, r1 in zip(points, ref0, ref1):
        proxy = rows[p][("proxy", 0)]
        print(
            f"{p[0]:5.2f} {p[1]:5.2f} {p[2]:4g} {proxy['macs'] / 1e6:7.1f} "
            f"{proxy['val_accuracies'][-1]:7.4f} {r0:7.4f} {r1:7.4f} "
            f"{proxy['seconds']:7.1f} {rows[p][('reference', 0)]['seconds']:6.0f}"
        )
    ceiling_tau = kendalltau(ref0, ref1).statistic
    ceiling_rho = spearmanr(ref0, ref1).statistic
    sd = (sum((a - b) ** 2 for a, b in zip(ref0, ref1)) / (2 * len(ref0))) ** 0.5
    print(
        f"\nnoise ceiling (reference seed 0 vs seed 1, {len(points)} architectures): "
        f"Kendall tau {ceiling_tau:.3f}, Spearman rho {ceiling_rho:.3f}; "
        f"seed sd of a reference accuracy {100 * sd:.2f} points"
    )
    print(f"{'proxy':28s} {'tau':>6} {'rho':>6}  (against the mean of the two reference seeds)")
    candidates = [_proxies(rows[p][("proxy", 0)]) for p in points]
    for name in candidates[0]:
        values = [c[name] for c in candidates]
        print(
            f"{name:28s} {kendalltau(values, ref).statistic:6.3f} "
            f"{spearmanr(values, ref).statistic:6.3f}"
        )
    proxy_cost = [rows[p][("proxy", 0)]["seconds"] for p in points]
    ref_cost = [rows[p][("reference", 0)]["seconds"] for p in points]
    print(
        f"cost: proxy {sum(proxy_cost) / len(points):.1f} s, reference "
        f"{sum(ref_cost) / len(points):.0f} s per architecture "
        f"({sum(proxy_cost) / sum(ref_cost):.3f} of the reference)"
    )


if __name__ == "__main__":
    main()
