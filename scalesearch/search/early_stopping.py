"""Rung decisions of the search, on a fixed history so that they are deterministic.

A search trial's result at an epoch is ranked only against what trials of *earlier* batches
reached at that epoch (the study's record), never against whichever trial of its own batch
reported first. ASHA keeps the top half by accuracy. Where the compared trials' costs differ,
accuracy alone would stop the cheap trials first — the low end of an accuracy–cost frontier
— so MOASHA's non-dominated sorting decides instead (`outcome.pareto_rung_stop`).
"""

from __future__ import annotations

from optuna.trial import FrozenTrial, TrialState

from scalesearch.search.outcome import pareto_rung_stop, rung_stop
from scalesearch.search.schema import Phase, TrialRecord, cost_value
from scalesearch.search.space import SearchSpace


def rung_costs(space: SearchSpace) -> tuple[str, ...]:
    """The costs a rung weighs: none for ASHA; the space's for MOASHA. `early_stopping:
    auto` takes MOASHA unless equal-cost realisation holds every compared cost level: it
    holds MACs level, never a runtime cost (latency, activations, layers) or params."""
    search = space.search
    rule = search.early_stopping
    if rule == "auto":
        level = space.scaling.equal_cost and set(search.costs) <= {"macs"}
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
