"""The Tune adapter: Ray Tune executes proxy trials; scalesearch owns Optuna's ask and tell.

The only module that imports Ray. `StudySearcher` forwards Tune's calls to the Ray-free
`SearchDriver`, `proxy_trial` is the trainable, and `run_search` checks every input, starts
(or attaches to) Ray, then runs the search phase and the family phase; `run_ablation` runs
the ablation phase of a study that exists. Tune itself only
schedules and places trials; the driver's early stops reach them through a `StopBoard`.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import optuna
import ray
from ray import tune
from ray.tune.search import Searcher

from scalesearch.errors import ClusterError, SearchFailed
from scalesearch.search import lifecycle, storage
from scalesearch.search.ablation import AblationCell, AblationMembers, ablation_table
from scalesearch.search.driver import FINISHED, SearchDriver, TrialSource
from scalesearch.search.family import FamilyMembers
from scalesearch.search.frontier import FrontierPoint, frontier, study_hypervolume
from scalesearch.search.heartbeat import Heartbeat
from scalesearch.search.lifecycle import RunConfig
from scalesearch.search.replicates import (
    SEED_NOISE,
    ReplicateMembers,
    noise_verdict,
)
from scalesearch.search.schema import Phase
from scalesearch.search.trainable import SHAREABLE, run_trial
from scalesearch.train.data import load_dataset
from scalesearch.train.precision import resolve_precision
from scalesearch.train.proxy import pick_device

# Replicating moves the frontier (a lucky first seed falls back and an unreplicated point
# rises): the replicate phase is planned again on the new frontier, at most this many times.
REPLICATE_ROUNDS = 3


@dataclass
class SearchResult:
    study_name: str
    storage: str
    frontier: list[FrontierPoint]
    hypervolume: float
    counts: dict[str, int]
    seconds: float


@ray.remote(num_cpus=0)
class StopBoard:
    """The driver's early stops, read by the trials they stop.

    A trial asks after each reported epoch and, when stopped, ends itself with a "stopped"
    outcome. Tune's own STOP would end it too, but then Tune keeps no worker for the next
    trial (none is waiting yet at that moment) and starts a fresh one: seconds a trial.
    """

    def __init__(self) -> None:
        self._stopped: set[str] = set()

    def stop(self, trial_id: str) -> None:
        self._stopped.add(trial_id)

    def is_stopped(self, trial_id: str) -> bool:
        return trial_id in self._stopped


class StudySearcher(Searcher):
    """Serves Tune one Optuna trial per suggestion; the driver decides everything."""

    def __init__(
        self, driver: SearchDriver, next_trial: TrialSource, board: ray.actor.ActorHandle | None
    ) -> None:
        super().__init__(metric="val_accuracy", mode="max")
        self.driver, self.next_trial, self.board = driver, next_trial, board

    def suggest(self, trial_id: str) -> dict | str | None:
        config = self.driver.suggest(trial_id, self.next_trial)
        return Searcher.FINISHED if config == FINISHED else config

    def on_trial_result(self, trial_id: str, result: dict) -> None:
        if self.driver.on_result(trial_id, result):
            # Waited for: the trial reads the board once Tune lets its `report` return,
            # which Tune does only after this call.
            ray.get(self.board.stop.remote(trial_id))

    def on_trial_complete(
        self, trial_id: str, result: dict | None = None, error: bool = False
    ) -> None:
        self.driver.on_complete(trial_id, result, crashed=error)

    # Tune checkpoints its searcher; ours keeps its state in the study, so there is nothing
    # to save and nothing (no live study, no thread) that could be pickled.
    def __getstate__(self) -> dict:
        return {}

    def save_to_dir(self, checkpoint_dir: str, session_str: str = "default") -> None:
        pass

    def restore_from_dir(self, checkpoint_dir: str) -> None:
        pass


def proxy_trial(config: dict, data=None, board=None) -> None:
    """The Tune trainable: `trainable.run_trial` reporting through Tune, on the dataset the
    driver shared through Ray's object store (`tune.with_parameters`) where it could, and
    stopping when the driver's `StopBoard` says so."""
    trial_id = tune.get_context().get_trial_id()

    def stopped() -> bool:
        return board is not None and ray.get(board.is_stopped.remote(trial_id))

    run_trial(config, tune.report, ray.get_runtime_context().get_node_id(), data, stopped)


def run_search(config: RunConfig, log: Callable[[str], None] = print) -> SearchResult:
    """Runs (or resumes, or joins) the coefficient search, then the family, on Ray Tune.

    Every input is checked before the study is touched; the study in `config.storage` is
    the source of truth: finished trials count toward the budget and are never repeated;
    trials of a driver that died end FAIL (heartbeat).
    """
    num_classes = lifecycle.check_run(config)
    with _ray(config):
        return _search(config, num_classes, log)


def run_ablation(
    config: RunConfig,
    phis: tuple[float, ...],
    seeds: int,
    log: Callable[[str], None] = print,
) -> list[AblationCell]:
    """Trains the ablation of an existing study (`config.resume`): every strategy × φ × seed
    not yet trained, under the family's settings, on Ray Tune; returns its table."""
    num_classes = lifecycle.check_run(config)
    with _ray(config):
        driver_name, study = _open(config, log)
        members = AblationMembers(study, config, driver_name, phis, seeds, log)
        with Heartbeat(study) as heartbeat:
            driver = SearchDriver(config, study, heartbeat, num_classes, driver_name, log)
            driver.start_phase(Phase.ABLATION)
            if members.remaining():
                _tune(driver, members, early_stopping=False)
            else:
                log("[ablation] every member is trained already")
    if driver.failing():
        raise SearchFailed(
            f"stopped after {driver.failures_in_a_row} trials failed in a row; the last: "
            f"{driver.last_error}"
        )
    return ablation_table(study, members.source.number)


@contextlib.contextmanager
def _ray(config: RunConfig) -> Iterator[None]:
    """A local Ray (or the cluster at `config.address`) for the block, unless one is up."""
    started_ray = not ray.is_initialized()
    if started_ray:
        _start_ray(config)
    try:
        yield
    finally:
        if started_ray:
            ray.shutdown()


def _search(config: RunConfig, num_classes: int, log: Callable[[str], None]) -> SearchResult:
    driver_name, study = _open(config, log)
    here = resolve_precision(config.proxy.precision, pick_device())
    log(f"[search] precision {config.proxy.precision}: {here.name} here ({here.reason})")
    with Heartbeat(study) as heartbeat:
        driver = SearchDriver(config, study, heartbeat, num_classes, driver_name, log)
        _tune(driver, study.ask, early_stopping=True)
        if config.replicates > 1 and driver.healthy():
            driver.start_phase(Phase.REPLICATE)
            for _ in range(REPLICATE_ROUNDS):
                members = ReplicateMembers(study, config, driver_name, config.replicates, log)
                if not members.remaining() or not driver.healthy():
                    break
                _tune(driver, members, early_stopping=False)
            _record_noise(study, log)
        if config.family and driver.healthy():
            driver.start_phase(Phase.FAMILY)
            _tune(driver, FamilyMembers(study, config, driver_name, log), early_stopping=False)
    if driver.failing():
        raise SearchFailed(
            f"stopped after {driver.failures_in_a_row} trials failed in a row; the last: "
            f"{driver.last_error}"
        )
    front = frontier(study)
    return SearchResult(
        config.study_name,
        config.storage,
        front,
        study_hypervolume(study, front),
        storage.trials_by_state(study),
        time.monotonic() - driver.started,
    )


def _open(config: RunConfig, log: Callable[[str], None]) -> tuple[str, optuna.Study]:
    """This driver's name and its study, opened, with the trials of dead drivers ended."""
    driver_name = storage.driver_id()
    study = lifecycle.open_study(config, driver_name)
    stale = storage.fail_stale_trials(study)
    if stale:
        log(f"marked {stale} trial(s) of a stopped driver as failed")
    return driver_name, study


def _record_noise(study, log: Callable[[str], None]) -> None:
    """Stores the measured seed noise in the study and says what it allows one to claim."""
    verdict = noise_verdict(study)
    if verdict.noise is None:
        return
    study.set_user_attr(SEED_NOISE, verdict.noise)
    log(
        f"[replicate] seed noise: one proxy accuracy varies by {100 * verdict.noise:.2f} "
        f"points (sd)"
    )
    if verdict.comparison is not None:
        log(f"[replicate] {verdict.words}")


def _tune(driver: SearchDriver, next_trial: TrialSource, early_stopping: bool) -> None:
    config = driver.config
    # Tune's own SIGINT handler ends the experiment and returns as if it had finished; an
    # interrupt must instead reach the caller, which records it and exits with 130.
    os.environ["TUNE_DISABLE_SIGINT_HANDLER"] = "1"
    # With a custom searcher Tune keeps one trial pending at a time: each waits for the last
    # one's worker to start (seconds each), so a batch would start one by one. Allow as
    # many pending trials as there are slots.
    os.environ["TUNE_MAX_PENDING_TRIALS_PG"] = str(_slots(config))
    board = StopBoard.remote() if early_stopping else None
    searcher = StudySearcher(driver, next_trial, board)
    resources: dict[str, float] = {"cpu": config.space.search.cpus_per_trial}
    if config.space.search.gpus_per_trial > 0:
        # Only when asked: Ray 2.60 never places a trial that requests "gpu": 0.
        resources["gpu"] = config.space.search.gpus_per_trial
    left = None
    if config.time_budget_s is not None:
        left = max(1.0, config.time_budget_s - (time.monotonic() - driver.started))
    shared: dict[str, Any] = {"board": board}
    if config.proxy.dataset in SHAREABLE:
        # Loaded once here, put in the object store once, read by every worker (instead of
        # each worker parsing it again: seconds a worker, and a new worker per batch).
        shared["data"] = load_dataset(
            config.proxy.dataset, config.data_dir, seed=config.seed, max_images=None
        )
    trainable = tune.with_parameters(proxy_trial, **shared)
    tuner = tune.Tuner(
        tune.with_resources(trainable, resources),
        tune_config=tune.TuneConfig(
            search_alg=searcher,
            num_samples=-1,
            max_concurrent_trials=config.max_concurrent,
            time_budget_s=left,
            reuse_actors=True,
        ),
        run_config=tune.RunConfig(
            name=f"{config.study_name}-{driver.phase.value}",
            storage_path=str((config.run_dir / "ray").resolve()),
            verbose=0,
        ),
    )
    try:
        tuner.fit()
    finally:
        driver.fail_live("the search was interrupted")
        if board is not None:
            ray.kill(board)


def _slots(config: RunConfig) -> int:
    """Trials the cluster can run at once at the space's resources per trial."""
    search, resources = config.space.search, ray.cluster_resources()
    slots = resources.get("CPU", 1.0) / search.cpus_per_trial
    if search.gpus_per_trial > 0:
        slots = min(slots, resources.get("GPU", 0.0) / search.gpus_per_trial)
    return max(1, int(slots + 1e-9), search.batch_size if config.max_concurrent is None else 1)


def _start_ray(config: RunConfig) -> None:
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    kwargs: dict[str, Any] = dict(
        include_dashboard=False,
        log_to_driver=False,
        logging_level="ERROR",
        configure_logging=True,
        # No runtime_env (not even a worker setup hook): with one, Ray starts a new worker
        # for every trial actor (3-4 s) instead of taking a prestarted one (0.01-0.3 s).
    )
    if not config.address:
        # "local": a Ray of this driver's own, never one another process started here.
        ray.init(address="local", **kwargs)
        return
    try:
        ray.init(address=config.address, **kwargs)
    except ConnectionError as err:
        hint = ""
        if "InvalidAuthToken" in repr(err.__cause__):
            hint = (
                "; the cluster uses token authentication: set RAY_AUTH_MODE=token and give "
                "its token (~/.ray/auth_token or RAY_AUTH_TOKEN)"
            )
        raise ClusterError(
            f"--address {config.address}: {str(err).splitlines()[0]}{hint}"
        ) from None
