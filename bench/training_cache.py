"""What several benchmarks share: one member trained under one encoded proxy config, the
coefficient points of a space whose realised architectures differ, and a cache of trainings
that a rerun extends (a module of helpers, imported by the benchmark scripts beside it)."""

from __future__ import annotations

import dataclasses
import json
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

GRID = (1.0, 1.2, 1.4, 1.6)  # α and β values; pairs whose γ falls in range are kept
EXTRA_PAIRS = ((1.1, 1.5), (1.5, 1.1))
EXTRA_PHIS = (0.0, 2.0)


def train_point(job: dict, on_test: bool = False):
    """`train_proxy` of the job's member (space, φ, α, β, γ) under its encoded config;
    validated on the test split when `on_test`."""
    from scalesearch.decode import decode
    from scalesearch.search.space import Coefficients, load_space
    from scalesearch.train.config import ProxyConfig
    from scalesearch.train.data import load_dataset
    from scalesearch.train.proxy import train_proxy

    space = load_space(job["space"])
    spec = space.member(job["phi"], Coefficients(job["alpha"], job["beta"], job["gamma"]))
    config = decode(ProxyConfig, job["config"])
    data = load_dataset(config.dataset, resolution=spec.resolution, seed=config.seed)
    if on_test:
        data = dataclasses.replace(data, val=data.test)
    return train_proxy(spec, data, config)


def spread_points(space) -> list[tuple[float, float, float, float]]:
    """Coefficient points whose realised specs differ: rounding maps nearby (α, β) to one
    architecture, and training it twice would count one architecture twice in τ."""
    from scalesearch.search.space import Coefficients

    s = space.scaling
    candidates = []
    pairs = [(a, b) for a in GRID for b in GRID] + list(EXTRA_PAIRS)
    for alpha, beta in pairs:
        gamma = s.constraint.solve_gamma(alpha, beta)
        inside = s.alpha.low <= alpha <= s.alpha.high and s.beta.low <= beta <= s.beta.high
        if inside and s.gamma.low <= gamma <= s.gamma.high:
            candidates.append((alpha, beta, gamma, s.search_phi))
    d = s.defaults
    candidates += [(d.alpha, d.beta, d.gamma, phi) for phi in EXTRA_PHIS]
    points, seen = [], set()
    for alpha, beta, gamma, phi in candidates:
        spec_hash = space.member(phi, Coefficients(alpha, beta, gamma)).spec_hash()
        if spec_hash not in seen:
            seen.add(spec_hash)
            points.append((alpha, beta, gamma, phi))
    return points


def train_cached(jobs, train, key, cache: dict, path: Path, workers: int, describe) -> None:
    """Trains the jobs not in `cache` on `workers` processes, writing the cache after each
    (a run cut short keeps what finished) and printing `describe(result)`."""
    todo = [j for j in jobs if key(j) not in cache]
    start = time.perf_counter()
    with ProcessPoolExecutor(workers) as pool:
        for done in pool.map(train, todo):
            cache[key(done)] = done
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(cache, indent=1))
            print(f"  {describe(done)}", flush=True)
    print(f"wall time {time.perf_counter() - start:.0f} s for {len(todo)} runs")
