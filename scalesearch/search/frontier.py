"""The accuracy-vs-MACs frontier of a study, its hypervolume, and the trials `train` picks."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import optuna
from optuna.trial import FrozenTrial, TrialState

from scalesearch.errors import StudyError
from scalesearch.search import storage
from scalesearch.search.outcome import dominates
from scalesearch.search.replicates import ArchGroup, arch_groups, seed_noise
from scalesearch.search.schema import Phase, TrialRecord, phase_of
from scalesearch.search.storage import compute_hypervolume


@dataclass(frozen=True)
class FrontierPoint:
    """One architecture on the frontier: its first trial, and its accuracy averaged over the
    seeds it was trained with (one, unless replicated), with the standard error (from the
    study's measured seed noise where replicates measured it, else binomial)."""

    trial: int
    accuracy: float
    accuracy_se: float
    seeds: int
    macs: int
    params: int
    phase: str
    phi: float
    coefficients: dict[str, Any]
    spec: dict[str, Any]
    latency_ms: float | None = None  # batch 1, on the device that trained it

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def frontier(study: optuna.Study) -> list[FrontierPoint]:
    """The Pareto set of architectures on mean accuracy and the space's costs (MACs unless
    its objectives say otherwise), sorted by MACs. Only complete
    trainings count; duplicates and family copies (which trained nothing) do not, nor do
    trainings whose accuracy is not comparable with the proxy's: the ablation's (a controlled
    experiment, not candidates) and the family's when it trains under its own settings."""
    every = arch_groups(study)
    noise = seed_noise(every)
    space = storage.stored_space(study)
    family_comparable = space is None or space.family.trains_as_proxy
    costs = ("macs",) if space is None else space.search.costs
    groups = non_dominated(
        [
            g
            for g in every
            if g.phase != Phase.ABLATION and (g.phase != Phase.FAMILY or family_comparable)
        ],
        costs,
    )
    points = []
    for group in groups:
        trial = study.trials[group.trials[0]]
        record = TrialRecord.from_trial(trial)
        points.append(
            FrontierPoint(
                trial=trial.number,
                accuracy=group.mean,
                accuracy_se=group.se(noise),
                seeds=len(group.accuracies),
                macs=group.macs,
                params=int(record.params or 0),
                phase=record.phase.value,
                phi=float(record.phi or 0.0),
                coefficients={**trial.params, "gamma": record.gamma},
                spec=record.spec_dict(),
                latency_ms=group.latency_ms,
            )
        )
    return sorted(points, key=lambda p: (p.macs, -p.accuracy))


def non_dominated(groups: list[ArchGroup], costs: tuple[str, ...] = ("macs",)) -> list[ArchGroup]:
    """Groups no other beats on accuracy (higher) and every cost (lower), one strictly.
    A group without a measured cost (latency) cannot be ranked on it and is left out."""
    points = [(g, (g.mean, *(g.cost(c) for c in costs))) for g in groups]
    points = [(g, p) for g, p in points if None not in p]
    return [g for g, p in points if not any(dominates(q, p) for _, q in points)]


def hypervolume(points: list[FrontierPoint], max_macs: float, latency: bool = False) -> float:
    """Volume dominated by the frontier in (error, MACs / max_macs[, latency / reference]),
    reference point 1 in each: 1.0 would be a perfect classifier at zero cost; points over
    the MACs budget add nothing on that axis. Latency has no budget: its reference is 1.1×
    the slowest point's (the 10% margin of the usual nadir heuristic), so the slowest point
    still adds volume.
    """
    if not points:
        return 0.0
    rows = [[1.0 - p.accuracy, min(p.macs / max_macs, 1.0)] for p in points]
    if latency:
        reference = 1.1 * max(p.latency_ms or 0.0 for p in points) or 1.0
        rows = [[*r, (p.latency_ms or reference) / reference] for r, p in zip(rows, points)]
    losses = np.array(rows)
    return compute_hypervolume(losses, np.ones(losses.shape[1]))


def study_hypervolume(study: optuna.Study, points: list[FrontierPoint]) -> float:
    """`hypervolume` of a study's frontier, on the axes its space's objectives name."""
    space = storage.stored_space(study)
    max_macs = space.search.max_macs if space else max((p.macs for p in points), default=1)
    latency = space is not None and "latency" in space.search.costs
    return hypervolume(points, max_macs, latency)


def choose_trials(
    study: optuna.Study, trial: int | None = None, pareto: int | None = None, family: bool = False
) -> list[FrozenTrial]:
    """The trials `scalesearch train` trains: one by number, K spread over the frontier (from
    the cheapest to the most accurate), or the family in φ order.

    Raises StudyError naming what is missing.
    """
    if sum((trial is not None, pareto is not None, family)) != 1:
        raise StudyError("choose what to train: exactly one of --trial N, --pareto K, --family")
    trials = study.get_trials(deepcopy=False)
    if trial is not None:
        if not 0 <= trial < len(trials):
            raise StudyError(
                f"--trial {trial}: study {study.study_name!r} has trials 0..{len(trials) - 1}"
            )
        chosen = [trials[trial]]
    elif pareto is not None:
        chosen = [trials[p.trial] for p in _spread_over_frontier(study, pareto)]
    else:
        members = [
            t for t in trials if t.state == TrialState.COMPLETE and phase_of(t) == Phase.FAMILY
        ]
        chosen = sorted(members, key=lambda t: TrialRecord.from_trial(t).phi or 0.0)
        if not chosen:
            raise StudyError(
                f"study {study.study_name!r} has no complete family trial; run the search "
                f"with its family first"
            )
    for t in chosen:
        if TrialRecord.from_trial(t).spec is None:
            raise StudyError(
                f"trial {t.number} ({t.state.name.lower()}) has no stored spec to train"
            )
    return chosen


def _spread_over_frontier(study: optuna.Study, k: int) -> list[FrontierPoint]:
    if k < 1:
        raise StudyError(f"--pareto must be >= 1, but got {k}")
    front = frontier(study)
    if not front:
        raise StudyError(f"study {study.study_name!r} has no complete trial, so no frontier yet")
    k = min(k, len(front))
    picks = (
        [len(front) - 1] if k == 1 else [round(i * (len(front) - 1) / (k - 1)) for i in range(k)]
    )
    return [front[i] for i in picks]
