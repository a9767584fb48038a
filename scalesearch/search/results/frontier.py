"""A run's two frontiers, their hypervolumes, and the trials `train` and `export` pick.

- The *family frontier*: the family's members, each trained alike (with its seeds), accuracy
  against MACs across φ. This is the accuracy–cost frontier of the scaled models: the answer.
- The *search frontier*: the search's architectures at the search φ (with their replicates),
  accuracy against the search's costs. Where every candidate costs the same MACs, the cost
  that still varies is runtime (a runtime count or measured latency).

Each is read from its own study (`scalesearch.search.store.studies`): values of different training
settings never meet on one axis.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from optuna.trial import FrozenTrial, TrialState

from scalesearch.errors import StudyError
from scalesearch.search.results.arch_groups import ArchGroup, arch_groups, seed_noise
from scalesearch.search.store import optuna_private, run_attributes
from scalesearch.search.store.schema import Phase, TrialRecord
from scalesearch.search.store.storage import trial_numbered
from scalesearch.search.store.studies import RunStudies


@dataclass(frozen=True)
class FrontierPoint:
    """One architecture on a frontier: its first trial (in `study`), and its accuracy
    averaged over the seeds it was trained with, with the standard error (from the measured
    seed noise where replicates measured it, else binomial)."""

    study: str
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
    latency_ms: float | None = None  # batch 1, on the device that measured it
    costs: dict[str, float | None] | None = None  # the frontier's cost axes, by name
    spec_hash: str | None = None  # the key of its quiet latency (`results.latencies`)

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def search_costs(run: RunStudies) -> tuple[str, ...]:
    """The search study's cost objectives (MACs for a study made elsewhere)."""
    space = run_attributes.stored_space(run.search)
    return ("macs",) if space is None else space.search.costs


def search_frontier(run: RunStudies) -> list[FrontierPoint]:
    """The search's architectures no other beats on mean accuracy and every search cost."""
    groups = arch_groups(run.search_trials(), run.name)
    return _points(run, groups, search_costs(run), seed_noise(groups))


def family_frontier(run: RunStudies) -> list[FrontierPoint]:
    """The family's members no other beats on mean accuracy and MACs, by MACs."""
    study = run.study_for(Phase.FAMILY)
    if study is None:
        return []
    groups = arch_groups(run.trials(Phase.FAMILY), study.study_name)
    return _points(run, groups, ("macs",), seed_noise(groups, (Phase.FAMILY,)))


def _points(
    run: RunStudies, groups: list[ArchGroup], costs: tuple[str, ...], noise: float | None
) -> list[FrontierPoint]:
    points = []
    for group in non_dominated(groups, costs):
        study = run.search if group.study == run.name else run.study_for(Phase.FAMILY)
        trial = trial_numbered(study, group.trials[0])
        record = TrialRecord.from_trial(trial)
        points.append(
            FrontierPoint(
                study=group.study,
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
                costs={c: group.cost(c) for c in costs},
                spec_hash=record.spec_hash,
            )
        )
    # By the frontier's own cost axes, the cheapest first.
    return sorted(points, key=lambda p: (*((p.costs or {})[c] for c in costs), p.macs, -p.accuracy))


def non_dominated(groups: list[ArchGroup], costs: tuple[str, ...] = ("macs",)) -> list[ArchGroup]:
    """Groups no other beats on accuracy (higher) and every cost (lower), one strictly.
    A group without a measured cost (latency) cannot be ranked on it and is left out."""
    points = [(g, (g.mean, *(g.cost(c) for c in costs))) for g in groups]
    points = [(g, p) for g, p in points if None not in p]
    return [g for g, p in points if not any(dominates(q, p) for _, q in points)]


def hypervolume(points: list[FrontierPoint], references: dict[str, float]) -> float:
    """Volume dominated by the frontier in (error, cost / reference, ...), reference point 1
    on each axis: 1.0 would be a perfect classifier at zero cost; a cost past its reference
    adds nothing on that axis. `references` gives each cost axis its scale (the MACs budget;
    for a cost with no budget, 1.1× the frontier's largest: the usual nadir margin)."""
    if not points:
        return 0.0
    rows = [
        [1.0 - p.accuracy, *(min((p.costs or {})[c] / r, 1.0) for c, r in references.items())]
        for p in points
    ]
    losses = np.array(rows)
    return optuna_private.compute_hypervolume(losses, np.ones(losses.shape[1]))


def frontier_hypervolume(run: RunStudies, points: list[FrontierPoint]) -> float:
    """`hypervolume` of a frontier on its own cost axes. Each axis's reference: the MACs
    budget for MACs on the search frontier, else 1.1× the frontier's largest value."""
    if not points:
        return 0.0
    space = run_attributes.stored_space(run.search)
    scale = {}
    for cost in points[0].costs or {"macs": None}:
        values = [(p.costs or {}).get(cost) or 0.0 for p in points]
        if cost == "macs" and space is not None and points[0].study == run.name:
            scale[cost] = max(space.search.max_macs, *values)
        else:
            scale[cost] = 1.1 * max(values) or 1.0
    return hypervolume(points, scale)


def answer_frontier(run: RunStudies) -> tuple[str, list[FrontierPoint]]:
    """The frontier `train --pareto` and `export --pareto` pick from: the family's once it
    trained, else the search's ("family" or "search", and its points)."""
    family = family_frontier(run)
    return ("family", family) if family else ("search", search_frontier(run))


def choose_trials(
    run: RunStudies,
    trial: int | None = None,
    pareto: int | None = None,
    family: bool = False,
    study: str | None = None,
) -> list[tuple[str, FrozenTrial]]:
    """The trials `scalesearch train` and `export` take, each with its study's name: one by
    number (of `study`, one of the run's: the search study by default), K spread over the
    answer's frontier (from the cheapest to the most accurate), or the family in φ order.

    Raises StudyError naming what is missing.
    """
    if sum((trial is not None, pareto is not None, family)) != 1:
        raise StudyError("choose what to train: exactly one of --trial N, --pareto K, --family")
    if trial is not None:
        named = next((s for s in run.studies() if s.study_name == study), run.search)
        trials = named.get_trials(deepcopy=False)
        if not 0 <= trial < len(trials):
            raise StudyError(
                f"--trial {trial}: study {named.study_name!r} has trials 0..{len(trials) - 1}"
            )
        chosen = [(named.study_name, trials[trial])]
    elif pareto is not None:
        chosen = [(p.study, _study_trial(run, p)) for p in _spread_over_frontier(run, pareto)]
    else:
        members = [t for t in run.trials(Phase.FAMILY) if t.state == TrialState.COMPLETE]
        members.sort(key=lambda t: (TrialRecord.from_trial(t).phi or 0.0, t.number))
        if not members:
            raise StudyError(
                f"study {run.name!r} has no complete family trial; run the search with its "
                f"family first"
            )
        chosen = [(run.name_for(Phase.FAMILY), t) for t in members]
    for _, t in chosen:
        if TrialRecord.from_trial(t).spec is None:
            raise StudyError(
                f"trial {t.number} ({t.state.name.lower()}) has no stored spec to train"
            )
    return chosen


def _study_trial(run: RunStudies, point: FrontierPoint) -> FrozenTrial:
    study = run.search if point.study == run.name else run.study_for(Phase.FAMILY)
    return trial_numbered(study, point.trial)


def _spread_over_frontier(run: RunStudies, k: int) -> list[FrontierPoint]:
    if k < 1:
        raise StudyError(f"--pareto must be >= 1, but got {k}")
    _, front = answer_frontier(run)
    if not front:
        raise StudyError(f"study {run.name!r} has no complete trial, so no frontier yet")
    k = min(k, len(front))
    picks = (
        [len(front) - 1] if k == 1 else [round(i * (len(front) - 1) / (k - 1)) for i in range(k)]
    )
    return [front[i] for i in picks]


def dominates(a: tuple[float, ...], b: tuple[float, ...]) -> bool:
    """a is at least as good as b everywhere and better somewhere (accuracy first, up;
    costs after, down)."""
    signed_a, signed_b = (a[0], *(-x for x in a[1:])), (b[0], *(-x for x in b[1:]))
    return all(x >= y for x, y in zip(signed_a, signed_b)) and signed_a != signed_b


def non_dominated_fronts(points: list[tuple[float, ...]]) -> list[list[int]]:
    """Indices of `points` by front: the first front dominated by none, the next dominated
    only by the first, and so on."""
    left, fronts = set(range(len(points))), []
    while left:
        front = sorted(i for i in left if not any(dominates(points[j], points[i]) for j in left))
        fronts.append(front)
        left -= set(front)
    return fronts
