"""The Optuna study's storage: URLs, opening and creating studies, budgets, heartbeats.

The only module that talks to Optuna storage, and the only one that touches Optuna's
private API (`trial_id`, `record_heartbeat`, `compute_hypervolume` below): an Optuna
upgrade that moves them breaks one file. A study lives in a SQL database through
SQLAlchemy (SQLite by default, PostgreSQL for clusters).
"""

from __future__ import annotations

import json
import os
import socket
import warnings
from pathlib import Path

import numpy as np
import optuna
from optuna.trial import BaseTrial, TrialState
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from scalesearch.decode import decode, encode
from scalesearch.errors import DecodeError, StudyError
from scalesearch.search.records import creating_schema
from scalesearch.search.schema import (
    BUDGET_PREFIX,
    DIRECTIONS,
    RUN_PROXY,
    SPACE_JSON,
    SPACE_NAME,
)
from scalesearch.search.space import SearchSpace
from scalesearch.train.config import ProxyConfig

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
            f"postgresql://user@host:5432/db, but got {url!r}"
        ) from None
    try:
        return creating_schema(
            lambda: optuna.storages.RDBStorage(
                url,
                heartbeat_interval=HEARTBEAT_INTERVAL_S,
                grace_period=HEARTBEAT_GRACE_S,
                engine_kwargs={"pool_pre_ping": True},
            )
        )
    except NoSuchModuleError:
        raise StudyError(
            f"--storage {url!r}: unknown database dialect; use sqlite:// or postgresql://"
        ) from None
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
        raise StudyError(
            f"no study named {name!r} in this storage; studies there: {known}"
        ) from None


def only_study_name(storage: str) -> str:
    """The single study in a storage (so `frontier` and `report` need no --study)."""
    names = [s.study_name for s in optuna.get_all_study_summaries(open_storage(storage))]
    if len(names) != 1:
        raise StudyError(
            f"give --study: the storage holds {len(names)} studies ({', '.join(names)})"
        )
    return names[0]


def make_sampler(name: str, seed: int | None) -> optuna.samplers.BaseSampler:
    """The search's sampler, every setting given (Optuna 5 changed the defaults under us).

    - "tpe" (default): multivariate TPE, as 0.2 used it; with the constant liar (Optuna 5's
      default, off in 4), which counts the running trials of a batch as bad results, so the
      second trial of a batch is not asked next to the first. 8 random start-up trials: a
      default search trains 16.
    - "gp": Gaussian-process Bayesian optimisation, which learns an observation-noise term
      (proxy accuracies are noisy) and, with running trials, acquires in batch (qLogEHVI);
      for continuous coefficients. Same start-up.
    - "nsga2": NSGA-II with a population of 8 (Optuna's 50 exceeds a whole search).
    - "random".

    Feasibility (the MACs budget, the equal-cost tolerance) reaches every sampler through the
    trials' own constraints (`Trial.set_constraint`), not a sampler-level function.
    """
    if name == "nsga2":
        return optuna.samplers.NSGAIISampler(seed=seed, population_size=8)
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if name == "gp":
        return optuna.samplers.GPSampler(
            seed=seed, n_startup_trials=8, deterministic_objective=False
        )
    return optuna.samplers.TPESampler(
        seed=seed, multivariate=True, constant_liar=True, n_startup_trials=8
    )


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
        study.set_metric_names([_METRIC_NAMES.get(k, k) for k in objectives])
    return study


_METRIC_NAMES = {"accuracy": "val_accuracy", "macs": "MACs", "latency": "latency_ms"}


def stored_space(study: optuna.Study) -> SearchSpace | None:
    """The space the study was run with (None for a study made elsewhere).

    Raises:
        StudyError: the stored space no longer decodes (written by an incompatible version).
    """
    text = study.user_attrs.get(SPACE_JSON)
    if text is None:
        return None
    try:
        return decode(SearchSpace, json.loads(text))
    except DecodeError as err:
        raise StudyError(
            f"study {study.study_name!r}: its stored space does not load ({err}); was it "
            f"written by another scalesearch version?"
        ) from None


def store_space(study: optuna.Study, space: SearchSpace) -> None:
    """Binds the study to its space (name and full JSON), on first use only."""
    study.set_user_attr(SPACE_NAME, space.name)
    study.set_user_attr(SPACE_JSON, json.dumps(encode(space)))


def store_run_proxy(study: optuna.Study, proxy: ProxyConfig) -> None:
    study.set_user_attr(RUN_PROXY, json.dumps(encode(proxy)))


def stored_run_proxy(study: optuna.Study) -> ProxyConfig | None:
    """The proxy settings of the run that created the study (None for older studies)."""
    text = study.user_attrs.get(RUN_PROXY)
    return None if text is None else decode(ProxyConfig, json.loads(text))


def space_name(study: optuna.Study) -> str | None:
    return study.user_attrs.get(SPACE_NAME)


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
    return name in {s.study_name for s in optuna.get_all_study_summaries(open_storage(url))}


# -- Optuna's private API, in one place ----------------------------------------------------
def trial_id(trial: BaseTrial) -> int:
    """The storage's id of a trial (Optuna exposes only the per-study number)."""
    return trial._trial_id


def compute_hypervolume(losses: np.ndarray, reference: np.ndarray) -> float:
    """Optuna's exact hypervolume of points to minimise (no public API for it)."""
    from optuna._hypervolume import compute_hypervolume as hv

    return float(hv(losses, reference))


def driver_id() -> str:
    """Names this driver process in the study (host and pid)."""
    return f"{socket.gethostname()}:{os.getpid()}"


def record_heartbeat(study: optuna.Study, trial: int) -> None:
    """Marks a running trial (by storage id) alive: a trial that never beat is never found
    stale, so a driver beats as soon as it asks."""
    study._storage.record_heartbeat(trial)


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


def trials_by_state(study: optuna.Study) -> dict[str, int]:
    counts: dict[str, int] = {}
    for t in study.get_trials(deepcopy=False):
        counts[t.state.name.lower()] = counts.get(t.state.name.lower(), 0) + 1
    return counts


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
