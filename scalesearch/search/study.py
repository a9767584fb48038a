"""The Optuna study: storage, the trial record schema, and the frontier.

This is the only module that talks to Optuna storage. A study holds every trial of a
search — its sampled parameters, both objectives and the attributes that make it
rebuildable (the spec JSON above all) — in a SQL database through SQLAlchemy.

The names below are a schema: stored studies depend on them, so renaming one breaks resume.
"""

from __future__ import annotations

import json
import os
import socket
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import optuna
from optuna.trial import FrozenTrial, TrialState

from scalesearch.errors import ScaleSearchError
from scalesearch.search.records import creating_schema

# Objectives, in this order: maximize validation accuracy, minimize MACs.
DIRECTIONS = ("maximize", "minimize")
# Trial user attributes.
PHASE, PHI, GAMMA = "phase", "phi", "gamma"
SPEC, SPEC_HASH, PARAMS, MACS, RESOLUTION = "spec", "spec_hash", "params", "macs", "resolution"
VAL_ACCURACIES, TRAIN_LOSS_SUM, SECONDS = "val_accuracies", "train_loss_sum", "wall_seconds"
IMAGES_PER_SECOND, NODE_ID, VERSION = "images_per_second", "node_id", "scalesearch_version"
STOP_REASON, ERROR, COPIED_FROM = "stop_reason", "error", "copied_from"
DRIVER, TRAIN_SECONDS = "driver", "train_seconds"
# Study user attributes. Each driver adds its search budget under its own key, so drivers
# that join a study at once never overwrite one another; the study's budget is their sum.
SPACE_NAME, SPACE_JSON, BUDGET_PREFIX = "space", "space_json", "budget:"

# How often a driver marks its running trials alive, and how long after the last beat a
# trial counts as its driver's death. SCALESEARCH_HEARTBEAT_S sets the interval (slow
# networks want more; tests less); the grace period is four beats.
HEARTBEAT_INTERVAL_S = max(1, int(os.environ.get("SCALESEARCH_HEARTBEAT_S", "10")))
HEARTBEAT_GRACE_S = 4 * HEARTBEAT_INTERVAL_S

# Heartbeats are what end a killed driver's trials; Optuna marks them experimental and
# warns when they are used with ask/tell rather than optimize. Both are deliberate here.
warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
warnings.filterwarnings("ignore", message="Heartbeat of storage is supposed to be used")


class StudyError(ScaleSearchError, ValueError):
    """A storage URL or study that cannot be used."""


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
            f"postgresql://user@host:5432/db, but got {url!r}"
        ) from None
    try:
        return creating_schema(lambda: optuna.storages.RDBStorage(
            url,
            heartbeat_interval=HEARTBEAT_INTERVAL_S,
            grace_period=HEARTBEAT_GRACE_S,
            engine_kwargs={"pool_pre_ping": True},
        ))
    except NoSuchModuleError:
        raise StudyError(f"--storage {url!r}: unknown database dialect; use sqlite:// or postgresql://") from None
    except OperationalError as err:
        detail = str(err.orig).strip().splitlines()[0] if err.orig else str(err)
        raise StudyError(f"--storage {url!r}: cannot connect ({detail})") from None


def load_study(storage: str | optuna.storages.BaseStorage, name: str) -> optuna.Study:
    """An existing study. Raises StudyError naming the studies that do exist."""
    storage = open_storage(storage) if isinstance(storage, str) else storage
    try:
        return optuna.load_study(study_name=name, storage=storage)
    except KeyError:
        names = [s.study_name for s in optuna.get_all_study_summaries(storage)]
        known = ", ".join(names) if names else "none"
        raise StudyError(f"no study named {name!r} in this storage; studies there: {known}") from None


def only_study_name(storage: str) -> str:
    """The single study in a storage (so `frontier` and `report` need no --study)."""
    names = [s.study_name for s in optuna.get_all_study_summaries(open_storage(storage))]
    if len(names) != 1:
        raise StudyError(f"give --study: the storage holds {len(names)} studies ({', '.join(names)})")
    return names[0]


def make_sampler(name: str, seed: int | None) -> optuna.samplers.BaseSampler:
    """Multivariate TPE by default; NSGA-II and random on request."""
    if name == "nsga2":
        return optuna.samplers.NSGAIISampler(seed=seed, population_size=8)
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    return optuna.samplers.TPESampler(seed=seed, multivariate=True, n_startup_trials=8)


def create_or_load_study(
    storage: optuna.storages.BaseStorage, name: str, sampler: optuna.samplers.BaseSampler
) -> optuna.Study:
    return optuna.create_study(
        study_name=name, storage=storage, sampler=sampler, directions=list(DIRECTIONS),
        load_if_exists=True,
    )


def stored_space(study: optuna.Study) -> dict[str, Any]:
    """The space the study was run with, as stored (empty for a study made elsewhere)."""
    return json.loads(study.user_attrs.get(SPACE_JSON, "{}"))


def driver_id() -> str:
    """Names this driver process in the study (host and pid)."""
    return f"{socket.gethostname()}:{os.getpid()}"


def record_heartbeat(study: optuna.Study, trial_id: int) -> None:
    """Marks a running trial alive (Optuna ends trials that never beat only with their study)."""
    study._storage.record_heartbeat(trial_id)


def add_budget(study: optuna.Study, driver: str, trials: int) -> None:
    study.set_user_attr(BUDGET_PREFIX + driver, trials)


def search_budget(study: optuna.Study) -> int | None:
    """The study's search budget: the sum of its drivers' budgets (None if none was set)."""
    budgets = [v for k, v in study.user_attrs.items() if k.startswith(BUDGET_PREFIX)]
    return sum(budgets) if budgets else None


def fail_stale_trials(study: optuna.Study) -> int:
    """Ends trials whose driver stopped sending heartbeats; returns how many."""
    before = _count(study, TrialState.RUNNING)
    optuna.storages.fail_stale_trials(study)
    return before - _count(study, TrialState.RUNNING)


def _count(study: optuna.Study, state: TrialState) -> int:
    return len(study.get_trials(deepcopy=False, states=(state,)))


@dataclass(frozen=True)
class FrontierPoint:
    trial: int
    accuracy: float
    macs: int
    params: int
    phase: str
    phi: float
    coefficients: dict[str, Any]
    spec: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def frontier(study: optuna.Study) -> list[FrontierPoint]:
    """The Pareto set (Optuna's best_trials: COMPLETE trials only), sorted by MACs."""
    points = [
        FrontierPoint(
            trial=t.number,
            accuracy=t.values[0],
            macs=int(t.values[1]),
            params=int(t.user_attrs.get(PARAMS, 0)),
            phase=t.user_attrs.get(PHASE, "search"),
            phi=float(t.user_attrs.get(PHI, 0.0)),
            coefficients={**t.params, GAMMA: t.user_attrs.get(GAMMA)},
            spec=json.loads(t.user_attrs[SPEC]) if SPEC in t.user_attrs else {},
        )
        for t in study.best_trials
    ]
    return sorted(points, key=lambda p: (p.macs, -p.accuracy))


def hypervolume(points: list[FrontierPoint], max_macs: float) -> float:
    """Area dominated by the frontier in (error, MACs / max_macs), reference point (1, 1).

    1.0 would be a perfect classifier at zero cost; points over the budget add nothing.
    """
    if not points:
        return 0.0
    from optuna._hypervolume import compute_hypervolume

    losses = np.array([[1.0 - p.accuracy, min(p.macs / max_macs, 1.0)] for p in points])
    return float(compute_hypervolume(losses, np.array([1.0, 1.0])))


def trials_by_state(study: optuna.Study) -> dict[str, int]:
    counts: dict[str, int] = {}
    for t in study.get_trials(deepcopy=False):
        counts[t.state.name.lower()] = counts.get(t.state.name.lower(), 0) + 1
    return counts


def finished(trial: FrozenTrial) -> bool:
    """Counts toward the budget: complete, or pruned (early-stopped or over the MACs budget).
    A FAIL does not: an interrupted or crashed trial is retried by a resumed search."""
    return trial.state in (TrialState.COMPLETE, TrialState.PRUNED)


def locate(storage: str | None, study: str | None, runs_root: Path) -> tuple[str, str]:
    """(storage URL, study name) from what the user gave.

    Without --storage, the study's default SQLite file under the runs folder is used; with
    neither, the single run there. Raises StudyError naming what is missing.
    """
    if storage is None:
        if study is None:
            found = sorted(runs_root.glob("*/study.db"))
            if len(found) != 1:
                raise StudyError(
                    f"give --study or --storage: {len(found)} runs found under {runs_root}/"
                )
            study = found[0].parent.name
        path = runs_root / study / "study.db"
        if not path.is_file():
            raise StudyError(f"no study database at {path}; give --storage or --run-dir")
        storage = default_storage(path.parent)
    return storage, study or only_study_name(storage)


def choose_trials(study: optuna.Study, trial: int | None = None, pareto: int | None = None,
                  family: bool = False) -> list[FrozenTrial]:
    """The trials `scalesearch train` trains: one by number, K spread over the frontier (from
    the cheapest to the most accurate), or the family in φ order.

    Raises StudyError naming what is missing.
    """
    if sum((trial is not None, pareto is not None, family)) != 1:
        raise StudyError("choose what to train: exactly one of --trial N, --pareto K, --family")
    trials = study.get_trials(deepcopy=False)
    if trial is not None:
        if not 0 <= trial < len(trials):
            raise StudyError(f"--trial {trial}: study {study.study_name!r} has trials 0..{len(trials) - 1}")
        chosen = [trials[trial]]
    elif pareto is not None:
        if pareto < 1:
            raise StudyError(f"--pareto must be >= 1, but got {pareto}")
        front = frontier(study)
        if not front:
            raise StudyError(f"study {study.study_name!r} has no complete trial, so no frontier yet")
        k = min(pareto, len(front))
        picks = [len(front) - 1] if k == 1 else [round(i * (len(front) - 1) / (k - 1)) for i in range(k)]
        chosen = [trials[front[i].trial] for i in picks]
    else:
        chosen = sorted((t for t in trials if t.state == TrialState.COMPLETE
                         and t.user_attrs.get(PHASE) == "family"), key=lambda t: t.user_attrs[PHI])
        if not chosen:
            raise StudyError(f"study {study.study_name!r} has no complete family trial; run the search with its family first")
    for t in chosen:
        if SPEC not in t.user_attrs:
            raise StudyError(f"trial {t.number} ({t.state.name.lower()}) has no stored spec to train")
    return chosen
