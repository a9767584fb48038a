"""The Optuna study's storage: URLs, opening and creating studies, budgets, heartbeats.

The only module that talks to Optuna storage, and the only one that touches Optuna's
private API (`trial_id`, `record_heartbeat`, `compute_hypervolume` below): an Optuna
upgrade that moves them breaks one file. A study lives in a SQL database through
SQLAlchemy (SQLite by default, PostgreSQL for clusters).
"""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path

import numpy as np
import optuna
from optuna.trial import BaseTrial, FrozenTrial, TrialState
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from scalesearch.decode import decode, encode
from scalesearch.errors import DecodeError, StudyError
from scalesearch.redact import hidden_in, shown
from scalesearch.search.schema import (
    BUDGET_PREFIX,
    DIRECTIONS,
    LAYOUT,
    MADE_BY,
    PHASE_OF_STUDY,
    PHASE_STUDY_PREFIX,
    RUN_OF,
    RUN_PROXY,
    SEED_NOISE,
    SPACE_JSON,
    SPACE_NAME,
    SPLIT,
)
from scalesearch.search.space import SearchSpace
from scalesearch.search.sql_tables import creating_schema, engine_options
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
            f"postgresql://user@host:5432/db, but got {hidden_in(url)!r}"
        ) from None
    try:
        return creating_schema(
            lambda: optuna.storages.RDBStorage(
                url,
                heartbeat_interval=HEARTBEAT_INTERVAL_S,
                grace_period=HEARTBEAT_GRACE_S,
                engine_kwargs=engine_options(url),
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


def run_names(url: str) -> list[str]:
    """The runs in a storage: its studies less the phase studies (NAME.family, ...), read
    from the studies' attributes (Optuna's summaries would read every study's trials)."""
    studies = open_storage(url).get_all_studies()
    return [s.study_name for s in studies if RUN_OF not in s.user_attrs]


def make_sampler(name: str, seed: int | None) -> optuna.samplers.BaseSampler:
    """The search's sampler, every setting given (Optuna 5 changed the defaults under us).

    - "tpe" (default): multivariate TPE, as 0.2 used it; with the constant liar (Optuna 5's
      default, off in 4), which counts the running trials of a batch as bad results, so the
      second trial of a batch is not asked next to the first. 8 random start-up trials of
      the 12 a default search trains: on Fashion-MNIST at equal cost random finds a top-10%
      point in a median of 4 (bench/search_efficiency.py), so the model has little to add.
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


_METRIC_NAMES = {
    "accuracy": "val_accuracy",
    "macs": "MACs",
    "latency": "latency_ms",
    "layers": "sequential_layers",
}


def study_costs(study: optuna.Study) -> tuple[str, ...]:
    """The costs a study's objectives after accuracy measure (MACs for a study made before
    metric names were recorded): what a trial copied into it must give as values."""
    names = study.metric_names or ["val_accuracy", "MACs"]
    by_metric = {metric: cost for cost, metric in _METRIC_NAMES.items()}
    return tuple(by_metric.get(name, name) for name in names[1:])


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
    """Binds the study to its space (name and full JSON) and records the version that made
    it, on first use only."""
    from importlib.metadata import version

    study.set_user_attr(SPACE_NAME, space.name)
    study.set_user_attr(SPACE_JSON, json.dumps(encode(space)))
    study.set_user_attr(MADE_BY, version("scalesearch"))


def made_by(study: optuna.Study) -> str | None:
    """The scalesearch version that made the study (None before 0.4, which did not say)."""
    return study.user_attrs.get(MADE_BY)


def store_run_proxy(study: optuna.Study, proxy: ProxyConfig) -> None:
    study.set_user_attr(RUN_PROXY, json.dumps(encode(proxy)))


def stored_run_proxy(study: optuna.Study) -> ProxyConfig | None:
    """The proxy settings of the run that created the study (None for older studies)."""
    text = study.user_attrs.get(RUN_PROXY)
    return None if text is None else decode(ProxyConfig, json.loads(text))


def space_name(study: optuna.Study) -> str | None:
    return study.user_attrs.get(SPACE_NAME)


def copy_run_attrs(search: optuna.Study, phase_study: optuna.Study) -> None:
    """Binds a phase study to its run's space and proxy settings, as the search study is."""
    for key in (SPACE_NAME, SPACE_JSON, RUN_PROXY, MADE_BY):
        if key in search.user_attrs:
            phase_study.set_user_attr(key, search.user_attrs[key])


def store_seed_noise(study: optuna.Study, noise: float) -> None:
    study.set_user_attr(SEED_NOISE, noise)


def mark_split(study: optuna.Study) -> None:
    """Records that the run keeps each fidelity in a study of its own (0.3 on)."""
    study.set_user_attr(LAYOUT, SPLIT)


def is_split(study: optuna.Study) -> bool:
    """The run keeps each fidelity in a study of its own (else: a 0.2 study, all in one)."""
    return study.user_attrs.get(LAYOUT) == SPLIT


def link_phase_study(search: optuna.Study, phase_study: optuna.Study, phase: str) -> None:
    """Names the phase study on the run's search study, and the run on the phase study."""
    search.set_user_attr(PHASE_STUDY_PREFIX + phase, phase_study.study_name)
    phase_study.set_user_attr(RUN_OF, search.study_name)
    phase_study.set_user_attr(PHASE_OF_STUDY, phase)


def run_of(study: optuna.Study) -> str | None:
    """The run (its search study's name) a phase study belongs to; None for a search study."""
    return study.user_attrs.get(RUN_OF)


def phase_studies(study: optuna.Study) -> dict[str, str]:
    """A search study's phase studies by phase ("family", "ablation")."""
    attrs = study.user_attrs
    return {
        k[len(PHASE_STUDY_PREFIX) :]: v
        for k, v in attrs.items()
        if k.startswith(PHASE_STUDY_PREFIX)
    }


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


# -- Optuna's private API, in one place ----------------------------------------------------
def storage_of(study: optuna.Study) -> optuna.storages.BaseStorage:
    """The storage a study lives in (its run's other studies are opened in it)."""
    return study._storage


def set_study_system_attr(study: optuna.Study, key: str, value: str) -> None:
    """A study system attribute (Optuna deprecated its public setter; optuna-dashboard reads
    some, e.g. a finished trial's artifacts)."""
    study._storage.set_study_system_attr(study._study_id, key, value)


def live_trial(study: optuna.Study, trial: FrozenTrial) -> optuna.Trial:
    """A finished trial as a `Trial` object (what optuna-dashboard's notes take)."""
    return optuna.Trial(study, trial._trial_id)


def trial_id(trial: BaseTrial) -> int:
    """The storage's id of a trial (Optuna exposes only the per-study number)."""
    return trial._trial_id


def trial_state(trial: BaseTrial) -> TrialState:
    """A live trial's state as its storage has it now (an `optuna.Trial` keeps none)."""
    return trial.study._storage.get_trial(trial._trial_id).state


def compute_hypervolume(losses: np.ndarray, reference: np.ndarray) -> float:
    """Optuna's exact hypervolume of points to minimise (no public API for it)."""
    from optuna._hypervolume import compute_hypervolume as hv

    return float(hv(losses, reference))


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
