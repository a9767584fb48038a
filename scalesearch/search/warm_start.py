"""`run --warm-start STUDY`: an earlier study's best points as a new study's first trials.

The frontier of the earlier study (or its K most accurate search trials with `--warm-top K`)
is enqueued (Optuna's `enqueue_trial`): the sampler's first asks return those coefficients
and part choices, each trial recording where it came from (`warm_start_from`). The earlier
study must belong to the same space, so its parameters mean the same thing here.
"""

from __future__ import annotations

from dataclasses import dataclass

import optuna
from optuna.trial import TrialState

from scalesearch.errors import StudyError
from scalesearch.search import storage
from scalesearch.search.frontier import frontier
from scalesearch.search.schema import Phase, phase_of

WARM_START_FROM = "warm_start_from"


@dataclass(frozen=True)
class WarmStart:
    source: str  # "study@storage"
    points: tuple[tuple[int, dict], ...]  # (trial number, parameters) in the order to try


def warm_points(url: str, name: str, space_name: str, top: int | None = None) -> WarmStart:
    """The points to enqueue, read (nothing written).

    Raises:
        StudyError: no such study, another space's, or nothing complete in it.
    """
    if not storage.study_exists(url, name):
        raise StudyError(f"--warm-start {name}: no such study at {url}; give --warm-storage URL")
    earlier = storage.load_study(url, name)
    stored = storage.space_name(earlier)
    if stored != space_name:
        raise StudyError(
            f"--warm-start {name}: that study belongs to space {stored!r}, not {space_name!r}; "
            f"its coefficients would mean something else here"
        )
    if top is None:
        chosen = [(p.trial, earlier.trials[p.trial].params) for p in frontier(earlier)]
    else:
        search = [
            t
            for t in earlier.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
            if phase_of(t) == Phase.SEARCH and "duplicate_of" not in t.user_attrs
        ]
        best = sorted(search, key=lambda t: -t.values[0])[:top]
        chosen = [(t.number, t.params) for t in best]
    unique, seen = [], set()
    for number, params in chosen:
        key = tuple(sorted(params.items()))
        if params and key not in seen:
            seen.add(key)
            unique.append((number, dict(params)))
    if not unique:
        raise StudyError(
            f"--warm-start {name}: the study has no complete search trial to start from"
        )
    return WarmStart(f"{name}@{url}", tuple(unique))


def enqueue(study: optuna.Study, warm: WarmStart) -> int:
    """Enqueues the points as the study's first trials; returns how many."""
    for number, params in warm.points:
        study.enqueue_trial(params, user_attrs={WARM_START_FROM: f"{warm.source}#{number}"})
    return len(warm.points)
