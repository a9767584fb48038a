"""The Optuna study's storage: URLs, opening, creating and finding studies, heartbeats.

A study lives in a SQL database through SQLAlchemy (SQLite by default, PostgreSQL for
clusters). A run's own attributes on its studies are `run_attributes`'; what Optuna offers
only below its public surface is `optuna_private`'s.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable
from pathlib import Path

import optuna
from optuna.trial import FrozenTrial, TrialState
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from scalesearch.errors import StudyError
from scalesearch.redact import hidden_in, shown
from scalesearch.search.costs import metric_name
from scalesearch.search.store import optuna_private
from scalesearch.search.store.schema import (
    DIRECTIONS,
)
from scalesearch.search.store.sql_tables import creating_schema, engine_options

# How often a driver marks its running trials alive, and how long after the last beat a
# trial counts as its driver's death. SCALESEARCH_HEARTBEAT_S sets the interval (slow
# networks want more; tests less); the grace period is four beats.
HEARTBEAT_INTERVAL_S = max(1, int(os.environ.get("SCALESEARCH_HEARTBEAT_S", "10")))
HEARTBEAT_GRACE_S = 4 * HEARTBEAT_INTERVAL_S

# Heartbeats are what end a killed driver's trials; Optuna marks them experimental and
# warns when they are used with ask/tell rather than optimize. Both are deliberate here.
warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
warnings.filterwarnings("ignore", message="Heartbeat of storage is supposed to be used")
# scalesearch says what it does with studies in its own words; Optuna's INFO lines ("A new
# study created ...", also for the report's in-memory studies) would repeat them.
optuna.logging.set_verbosity(optuna.logging.WARNING)


def default_storage(run_dir: Path) -> str:
    return f"sqlite:///{(run_dir / 'study.db').resolve()}"


def open_storage(url: str) -> optuna.storages.RDBStorage:
    """An RDB storage with heartbeats, so a killed driver's trials end FAIL, not RUNNING.

    Raises:
        StudyError: the URL is malformed, names an unknown dialect, or cannot be reached.
    """
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError, OperationalError

    try:
        make_url(url)
    except ArgumentError:
        raise StudyError(
            f"--storage must be an SQLAlchemy URL such as sqlite:///runs/study.db or "
            f"postgresql://user@host:5432/db, but got {hidden_in(url)!r}"
        ) from None
    try:
        return creating_schema(
            lambda: optuna_private.read_trials_in_bulk(
                optuna.storages.RDBStorage(
                    url,
                    heartbeat_interval=HEARTBEAT_INTERVAL_S,
                    grace_period=HEARTBEAT_GRACE_S,
                    engine_kwargs=engine_options(url),
                )
            )
        )
    except NoSuchModuleError:
        raise StudyError(
            f"--storage {shown(url)!r}: unknown database dialect; use sqlite:// or postgresql://"
        ) from None
    except OperationalError as err:
        detail = str(err.orig).strip().splitlines()[0] if err.orig else str(err)
        raise StudyError(
            f"--storage {shown(url)!r}: cannot connect ({hidden_in(detail)})"
        ) from None


def load_study(storage: str | optuna.storages.BaseStorage, name: str) -> optuna.Study:
    """An existing study. Raises StudyError naming the studies that do exist."""
    storage = open_storage(storage) if isinstance(storage, str) else storage
    try:
        return optuna.load_study(study_name=name, storage=storage)
    except KeyError:
        names = optuna.get_all_study_names(storage)  # names only: no study's trials are read
        known = ", ".join(names) if names else "none"
        raise StudyError(
            f"no study named {name!r} in this storage; studies there: {known}"
        ) from None


def create_or_load_study(
    storage: optuna.storages.BaseStorage,
    name: str,
    sampler: optuna.samplers.BaseSampler,
    objectives: dict[str, str] | None = None,
) -> optuna.Study:
    """The study, made with the space's objectives (accuracy and MACs by default) and their
    names, which optuna-dashboard shows on its axes."""
    directions = list(DIRECTIONS) if objectives is None else list(objectives.values())
    study = optuna.create_study(
        study_name=name,
        storage=storage,
        sampler=sampler,
        directions=directions,
        load_if_exists=True,
    )
    if objectives is not None and study.metric_names is None:
        study.set_metric_names([metric_name(k) for k in objectives])
    return study


def sqlite_path(url: str) -> str | None:
    """The file of an SQLite storage URL (None for another database, or in memory)."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        return None
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return parsed.database


def study_exists(url: str, name: str) -> bool:
    """Whether the study is there, without creating an SQLite file (or its folder) that is
    not: asking would create it."""
    try:
        parsed = make_url(url)
    except ArgumentError:  # open_storage names the problem below
        parsed = None
    if parsed is not None and parsed.get_backend_name() == "sqlite":
        path = parsed.database
        if path and path != ":memory:" and not Path(path).is_file():
            return False
    try:  # one query for the name, not a summary of every study in the storage
        open_storage(url).get_study_id_from_name(name)
    except KeyError:
        return False
    return True


def fail_stale_trials(study: optuna.Study) -> int:
    """Ends trials whose driver stopped sending heartbeats; returns how many."""
    before = _count(study, TrialState.RUNNING)
    optuna.storages.fail_stale_trials(study)
    return before - _count(study, TrialState.RUNNING)


def _count(study: optuna.Study, state: TrialState) -> int:
    return len(study.get_trials(deepcopy=False, states=(state,)))


def trials_by_state(study: optuna.Study) -> dict[str, int]:
    counts: dict[str, int] = {}
    for t in study.get_trials(deepcopy=False):
        counts[t.state.name.lower()] = counts.get(t.state.name.lower(), 0) + 1
    return counts


def settled_from(
    trials: list[FrozenTrial], start: int, settled: Callable[[FrozenTrial], bool] | None = None
) -> list[FrozenTrial]:
    """The trials numbered `start` on that are settled (finished, by default) up to the first
    that is not, in a study's list by number: what an index kept over a study's first trials
    adds to itself (a settled trial never changes)."""
    settled = settled or (lambda t: t.state.is_finished())
    end = start
    while end < len(trials) and trials[end].number == end and settled(trials[end]):
        end += 1
    return trials[start:end]


def trial_numbered(study: optuna.Study, number: int) -> FrozenTrial:
    """A study's trial by number, not copied: `Study.trials[n]` deep-copies every trial of
    the study to return one (8 s for a 5,000-trial study)."""
    trials = study.get_trials(deepcopy=False)
    if 0 <= number < len(trials) and trials[number].number == number:
        return trials[number]  # numbers are dense and Optuna lists trials by number
    return next(t for t in trials if t.number == number)
