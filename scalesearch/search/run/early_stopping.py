"""Rung decisions of the search, on a fixed history so that they are deterministic.

A search trial's result at an epoch is ranked only against what trials of *earlier* batches
reached at that epoch (the study's record), never against whichever trial of its own batch
reported first. ASHA keeps the top half by accuracy. Where the compared trials' costs differ,
accuracy alone would stop the cheap trials first — the low end of an accuracy–cost frontier
— so MOASHA's non-dominated sorting decides instead (`pareto_rung_stop`).
"""

from __future__ import annotations

from optuna.trial import FrozenTrial, TrialState

from scalesearch.search.costs import varying
from scalesearch.search.results.frontier import non_dominated_fronts
from scalesearch.search.space import SearchSpace
from scalesearch.search.store.schema import Phase, TrialRecord, cost_value


def rung_costs(space: SearchSpace) -> tuple[str, ...]:
    """The costs a rung weighs: none for ASHA; the space's for MOASHA. `early_stopping:
    auto` takes MOASHA unless equal-cost realisation holds every compared cost level: it
    holds MACs level, never a runtime cost (latency, activations, layers) or params."""
    search = space.search
    rule = search.early_stopping
    if rule == "auto":
        level = space.scaling.equal_cost and not varying(search.costs)
        rule = "asha" if level else "moasha"
    return search.costs if rule == "moasha" else ()


def rung_decision(
    trials: list[FrozenTrial],
    space: SearchSpace,
    batch_start: int,
    epoch: int,
    accuracy: float,
    known: dict[str, float | None],
) -> str | None:
    """The rule that stops a search trial of the batch starting at `batch_start` whose
    accuracy at `epoch` is `accuracy` and whose costs are `known` (latency, once measured):
    "ASHA", "MOASHA on accuracy and …", or None to let it go on. `trials`: the search
    study's."""
    costs = rung_costs(space)
    point = (accuracy, *(known.get(c) for c in costs))
    earlier = []
    for t in trials:
        if t.state not in (TrialState.COMPLETE, TrialState.PRUNED):
            continue
        record = TrialRecord.from_trial(t)
        accuracies = record.val_accuracies or []
        if t.number < batch_start and record.phase == Phase.SEARCH and len(accuracies) >= epoch:
            values = [cost_value(t, c) for c in costs]
            if None not in values:
                earlier.append((accuracies[epoch - 1], *values))
    if costs and None not in point:
        stop = pareto_rung_stop(point, earlier)
        return f"MOASHA on accuracy and {', '.join(costs)}" if stop else None
    return "ASHA" if rung_stop(accuracy, [e[0] for e in earlier]) else None


def rung_stop(
    accuracy: float, earlier: list[float], reduction_factor: int = 2, min_results: int = 4
) -> bool:
    """ASHA's rung rule on a fixed history: stop unless `accuracy` is in the top
    1/reduction_factor of `earlier` results at the same epoch. With fewer than `min_results`
    earlier results nothing is stopped (too little to rank against)."""
    if len(earlier) < min_results:
        return False
    ranked = sorted(earlier, reverse=True)
    keep = max(1, len(ranked) // reduction_factor)
    return accuracy < ranked[keep - 1]


def pareto_rung_stop(
    point: tuple[float, ...],
    earlier: list[tuple[float, ...]],
    reduction_factor: int = 2,
    min_results: int = 4,
) -> bool:
    """MOASHA's rung rule (Schmucker et al., 2021) on a fixed history: results are
    (accuracy, cost, ...) with accuracy maximised and costs minimised. The rung keeps the
    best 1/reduction_factor of its results by non-dominated sorting (fronts in order, the
    last front taken by crowding distance, as NSGA-II); a result on the first front — no
    earlier result is at least as accurate and as cheap, and better in one — is never
    stopped. Accuracy alone would stop the cheap trials first, the very points that make
    the low end of an accuracy–cost frontier."""
    if len(earlier) < min_results:
        return False
    everyone = [point, *earlier]
    fronts = non_dominated_fronts(everyone)
    if 0 in fronts[0]:
        return False
    keep = max(1, len(earlier) // reduction_factor)
    kept: list[int] = []
    for front in fronts:
        if len(kept) + len(front) <= keep:
            kept.extend(front)
            continue
        by_crowding = sorted(front, key=lambda i: -_crowding(everyone, front)[i])
        kept.extend(by_crowding[: keep - len(kept)])
        break
    return 0 not in kept


def _crowding(points: list[tuple[float, ...]], front: list[int]) -> dict[int, float]:
    """NSGA-II's crowding distance within a front: the ends of each objective are infinite."""
    distance = dict.fromkeys(front, 0.0)
    for k in range(len(points[front[0]])):
        ordered = sorted(front, key=lambda i: points[i][k])
        span = points[ordered[-1]][k] - points[ordered[0]][k]
        distance[ordered[0]] = distance[ordered[-1]] = float("inf")
        if span == 0:
            continue
        for left, mid, right in zip(ordered, ordered[1:], ordered[2:]):
            distance[mid] += (points[right][k] - points[left][k]) / span
    return distance
