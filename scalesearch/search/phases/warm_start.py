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
from scalesearch.redact import shown
from scalesearch.search.results.frontier import search_frontier
from scalesearch.search.store import run_attributes, storage
from scalesearch.search.store.schema import Phase, TrialRecord, trained
from scalesearch.search.store.storage import trial_numbered
from scalesearch.search.store.studies import open_run


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
        raise StudyError(
            f"--warm-start {name}: no such study at {shown(url)}; give --warm-storage URL"
        )
    run = open_run(url, name)
    earlier = run.search
    stored = run_attributes.space_name(earlier)
    if stored != space_name:
        raise StudyError(
            f"--warm-start {name}: that study belongs to space {stored!r}, not {space_name!r}; "
            f"its coefficients would mean something else here"
        )
    if top is None:
        chosen = [(p.trial, trial_numbered(earlier, p.trial).params) for p in search_frontier(run)]
    else:
        search = [t for t in run.trials(Phase.SEARCH, states=(TrialState.COMPLETE,)) if trained(t)]
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
    return WarmStart(f"{name}@{shown(url)}", tuple(unique))


def enqueue(study: optuna.Study, warm: WarmStart) -> int:
    """Enqueues the points as the study's first trials; returns how many."""
    for number, params in warm.points:
        TrialRecord(warm_start_from=f"{warm.source}#{number}").enqueue(study, params)
    return len(warm.points)
