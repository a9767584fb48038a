"""Does racing spend seeds better than fixed replicates? Simulated searches on a real table.

The table: 25 equal-cost (α, β) points of `cmt_compound` at φ = 1 (a 5 × 5 grid over the
space's ranges, γ solved, each realised at equal counted MACs) and the default coefficients,
each trained with `--seeds` seeds under the shipped proxy on Fashion-MNIST (committed to
bench/results/search_design.json, resumable, reused across runs). Its own truth: each point's
mean over its seeds, with that mean's standard error.

Then `--searches` simulated searches per design, each reading trainings from the table (a
training of point p at seed s is the table's p at s), at equal trainings on average:

- **today** (0.2): 16 single-seed trials, then a second seed for each point of the search
  frontier (accuracy against sequential layers) and two for the defaults; the pick is the
  best mean among replicated points; "beats the defaults" when the unpaired difference is
  over 2 standard errors of the pooled noise.
- **racing**: fewer single-seed trials, then the race (`scalesearch.search.results.racing`) with the
  rest of the trainings; the pick is the leader; "beats the defaults" when the paired
  difference's 95% interval excludes zero.
  Two ways to give the race's seeds (`racing.next_round`'s `focus`): **wide**, every
  contender each round; **pair**, the leader and the defaults alone while their difference
  is within the noise, then the others.
- **racing + GP**: the pair race after Optuna's GP sampler.

It prints, per design: the trainings used, the median and mean regret of the pick in table
mean accuracy (the table's best mean minus the pick's), how often the pick's reported 95%
interval covers its table mean, and how often a "beats the defaults" claim is false by the
table (the pick's table mean not above the defaults').

    python bench/search_design.py [--seeds 4] [--searches 200] [--gp-searches 50]
        [--search-trials 10]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import random
import statistics
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import optuna

from scalesearch.search.results.racing import (
    Candidate,
    difference,
    estimate_noise,
    next_round,
    race_state,
)
from scalesearch.search.space import Coefficients, load_space

RESULTS = Path(__file__).resolve().parent / "results" / "search_design.json"
GRID = [round(1.0 + 0.15 * i, 2) for i in range(5)]
DEFAULTS = "default"


def _points() -> dict[str, tuple[float, float]]:
    space = load_space("cmt_compound")
    d = space.scaling.defaults
    points = {f"{a:.2f},{b:.2f}": (a, b) for a in GRID for b in GRID}
    points[DEFAULTS] = (d.alpha, d.beta)
    return points


def _proxy():
    return dataclasses.replace(load_space("cmt_compound").proxy, dataset="fashion-mnist")


def _train(job: tuple[str, float, float, int]) -> dict:
    import torch

    from scalesearch.arch.equal_cost import count_runtime
    from scalesearch.train.data import load_dataset
    from scalesearch.train.proxy import train_proxy

    key, alpha, beta, seed = job
    torch.set_num_threads(1)
    space = load_space("cmt_compound")
    gamma = space.scaling.constraint.solve_gamma(alpha, beta)
    member = space.realize(space.scaling.search_phi, Coefficients(alpha, beta, gamma))
    proxy = dataclasses.replace(_proxy(), seed=seed)
    result = train_proxy(member.spec, load_dataset("fashion-mnist", seed=0), proxy)
    return {
        "key": key,
        "seed": seed,
        "accuracy": result.val_accuracy,
        "layers": count_runtime(member.spec).layers,
        "spec_hash": member.spec.spec_hash(),
        "within_tolerance": member.within_tolerance,
    }


def build_table(seeds: int) -> dict[str, dict]:
    """{point: {"layers", "accuracies": {seed: accuracy}}}, trained where missing."""
    prefix = _table_key()
    cached = json.loads(RESULTS.read_text()) if RESULTS.is_file() else {}
    table = cached.get(prefix, {})
    jobs = [
        (key, a, b, s)
        for key, (a, b) in _points().items()
        for s in range(seeds)
        if str(s) not in table.get(key, {}).get("accuracies", {})
    ]
    print(f"table: {len(jobs)} trainings to add", flush=True)
    with ProcessPoolExecutor(max_workers=2) as pool:
        for row in pool.map(_train, jobs):
            entry = table.setdefault(row["key"], {"accuracies": {}})
            entry.update(layers=row["layers"], spec_hash=row["spec_hash"])
            entry["accuracies"][str(row["seed"])] = row["accuracy"]
            cached[prefix] = table
            RESULTS.parent.mkdir(parents=True, exist_ok=True)
            RESULTS.write_text(json.dumps(cached, indent=1))
            print(f"  {row['key']:<10} seed {row['seed']}: {row['accuracy']:.4f}", flush=True)
    return {k: {"layers": v["layers"], "acc": {int(s): a for s, a in v["accuracies"].items()}}
            for k, v in table.items()}  # fmt: skip


def _table_key() -> str:
    """The proxy settings a table was trained under: all but the rung's validation size,
    which changes no final accuracy."""
    settings = dataclasses.asdict(_proxy())
    settings.pop("rung_val_images")
    return json.dumps(settings, sort_keys=True)


@dataclasses.dataclass
class Outcome:
    trainings: int
    regret: float
    covered: bool
    claim: bool  # "beats the defaults" said
    false_claim: bool


def _truth(table: dict) -> dict[str, float]:
    return {k: statistics.fmean(v["acc"].values()) for k, v in table.items()}


def _search(table: dict, n: int, sampler: str, seed: int) -> list[str]:
    """n distinct grid points asked by the sampler (single seed 0), as a search asks them."""
    points = {k: v for k, v in _points().items() if k != DEFAULTS}
    sampler_ = (optuna.samplers.GPSampler(seed=seed, n_startup_trials=8, deterministic_objective=False)
                if sampler == "gp" else optuna.samplers.TPESampler(seed=seed, multivariate=True, constant_liar=True, n_startup_trials=8))  # fmt: skip
    study = optuna.create_study(directions=["maximize", "minimize"], sampler=sampler_)
    asked: list[str] = []
    for _ in range(n * 10):
        if len(asked) == n:
            break
        trial = study.ask()
        a = trial.suggest_float("alpha", 1.0, 1.6)
        b = trial.suggest_float("beta", 1.0, 1.6)
        key = min(points, key=lambda k: (points[k][0] - a) ** 2 + (points[k][1] - b) ** 2)
        values = [table[key]["acc"][0], table[key]["layers"]]
        if key in asked:
            study.tell(trial, state=optuna.trial.TrialState.PRUNED)
            continue
        asked.append(key)
        study.tell(trial, values)
    return asked


def today(table: dict, sampler: str, seed: int, trials: int = 16) -> Outcome:
    truth, asked = _truth(table), _search(table, trials, sampler, seed)
    acc = {k: {0: table[k]["acc"][0]} for k in asked}
    front = [k for k in asked if not any(
        acc[o][0] >= acc[k][0] and table[o]["layers"] <= table[k]["layers"] and o != k
        and (acc[o][0], -table[o]["layers"]) != (acc[k][0], -table[k]["layers"]) for o in asked)]  # fmt: skip
    for k in front:
        acc[k][1] = table[k]["acc"][1]
    acc[DEFAULTS] = {0: table[DEFAULTS]["acc"][0], 1: table[DEFAULTS]["acc"][1]}
    groups = [list(v.values()) for v in acc.values() if len(v) > 1]
    noise = math.sqrt(statistics.fmean([statistics.variance(g) for g in groups]))
    pick = max(
        (k for k in acc if len(acc[k]) > 1 and k != DEFAULTS),
        key=lambda k: statistics.fmean(acc[k].values()),
    )
    mean = statistics.fmean(acc[pick].values())
    se = noise / math.sqrt(len(acc[pick]))
    diff = mean - statistics.fmean(acc[DEFAULTS].values())
    claim = diff > 2 * noise * math.sqrt(1 / len(acc[pick]) + 1 / 2)
    trainings = len(asked) + len(front) + 2
    return _outcome(truth, trainings, pick, mean, se, claim)


def racing(
    table: dict, sampler: str, seed: int, trials: int, budget: int, max_seeds: int, focus: str
) -> Outcome:
    truth, asked = _truth(table), _search(table, trials, sampler, seed)
    acc = {k: {0: table[k]["acc"][0]} for k in asked}
    acc.setdefault(DEFAULTS, {0: table[DEFAULTS]["acc"][0]})
    used = len(asked) + (DEFAULTS not in asked)
    left = budget - used
    seeds = list(range(max_seeds))
    while left > 0:
        cands = [Candidate(k, v, (table[k]["layers"],), k == DEFAULTS) for k, v in acc.items()]
        state = race_state(cands, estimate_noise(cands, 0.02))
        wanted = next_round(state, seeds, 2, max_seeds, left, focus)
        if not wanted:
            break
        for c, s in wanted:
            acc[c.key][s] = table[c.key]["acc"][s]
        left -= len(wanted)
    cands = [Candidate(k, v, (table[k]["layers"],), k == DEFAULTS) for k, v in acc.items()]
    state = race_state(cands, estimate_noise(cands, 0.02))
    leader = state.leader
    noise = state.noise
    se = noise.sd / math.sqrt(leader.seeds)
    claim = False
    default = next(c for c in cands if c.default)
    if leader is not default and noise.measured:
        claim = difference(leader, default, noise).interval()[0] > 0
    return _outcome(truth, budget - left, leader.key, leader.mean, se, claim)


def _outcome(
    truth: dict, trainings: int, pick: str, mean: float, se: float, claim: bool
) -> Outcome:
    best = max(v for k, v in truth.items())
    covered = abs(truth[pick] - mean) <= 1.96 * se
    false = claim and truth[pick] <= truth[DEFAULTS]
    return Outcome(trainings, best - truth[pick], covered, claim, false)


def report(name: str, outcomes: list[Outcome]) -> None:
    regrets = [o.regret for o in outcomes]
    claims = [o for o in outcomes if o.claim]
    false = sum(o.false_claim for o in outcomes)
    print(f"{name:<16}{statistics.fmean(o.trainings for o in outcomes):>10.1f}"
          f"{100 * statistics.median(regrets):>11.2f}{100 * statistics.fmean(regrets):>10.2f}"
          f"{statistics.fmean(o.covered for o in outcomes):>10.0%}{len(claims) / len(outcomes):>9.0%}"
          f"{(false / len(claims)) if claims else 0:>9.0%}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=4)
    parser.add_argument("--searches", type=int, default=200)
    parser.add_argument(
        "--search-trials", type=int, default=10, help="single-seed trials before the race"
    )
    parser.add_argument(
        "--gp-searches", type=int, default=50, help="searches with the GP sampler (slow to ask)"
    )
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    table = build_table(args.seeds)
    truth = _truth(table)
    best = max(truth, key=truth.get)
    sd = math.sqrt(statistics.fmean(statistics.variance(v["acc"].values()) for v in table.values()))
    print(f"\ntable: {len(table)} points x {args.seeds} seeds; best mean {truth[best]:.2%} ({best}), "
          f"defaults {truth[DEFAULTS]:.2%}; seed sd {100 * sd:.2f} points (table mean se "
          f"{100 * sd / math.sqrt(args.seeds):.2f}); points beyond the defaults by 2 se of "
          f"their difference: {sum(truth[k] - truth[DEFAULTS] > 2 * sd * math.sqrt(2 / args.seeds) for k in truth)}")  # fmt: skip
    print(f"\n{'design':<16}{'trainings':>10}{'regret med':>11}{'mean':>10}{'coverage':>10}"
          f"{'claims':>9}{'false':>9}")  # fmt: skip
    base = [today(table, "tpe", s) for s in range(args.searches)]
    report("today (TPE)", base)
    budget = round(statistics.fmean(o.trainings for o in base))
    for name, sampler, focus, searches in (
        ("racing, wide", "tpe", "wide", args.searches),
        ("racing, pair", "tpe", "pair", args.searches),
        ("racing+GP, pair", "gp", "pair", args.gp_searches),
    ):
        if not searches:
            continue
        outcomes = [racing(table, sampler, s, args.search_trials, budget, args.seeds, focus)
                    for s in range(searches)]  # fmt: skip
        report(name, outcomes)
    print("regret and coverage against the table's means; 'false' = share of claims of "
          "'beats the defaults' that the table contradicts")  # fmt: skip


if __name__ == "__main__":
    random.seed(0)
    main()
