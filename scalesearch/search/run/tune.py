"""The Tune adapter: Ray Tune executes proxy trials; scalesearch owns Optuna's ask and tell.

The only module that imports Ray. `TuneExecutor` runs a run's phases on Tune, one Tune run
for all of them (the phases themselves are `scalesearch.search.run.pipeline`'s):
`StudySearcher` forwards Tune's calls to the Ray-free `SearchDriver`, `proxy_trial` is the
trainable. Tune itself only schedules and places trials; the driver's early stops reach them
through a `StopBoard`.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import signal
import threading
from collections.abc import Iterator
from typing import Any

import ray
from ray import tune
from ray.tune.search import Searcher

from scalesearch.errors import ClusterError
from scalesearch.search.config import RunConfig
from scalesearch.search.run.asking import Ask
from scalesearch.search.run.driver import SearchDriver, Step
from scalesearch.search.run.trainable import TrialConfig, run_trial


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
    """Serves Tune one Optuna trial per suggestion; the driver decides everything. When the
    driver says a phase is done, the next step's phase follows in the same Tune run (its
    workers kept), until no step is left."""

    def __init__(
        self,
        driver: SearchDriver,
        steps: Iterator[Step],
        board: ray.actor.ActorHandle | None,
        slots: int,
    ) -> None:
        super().__init__(metric="val_accuracy", mode="max")
        self.driver, self.steps, self.board, self.slots = driver, steps, board, slots
        self.step: Step | None = None

    def suggest(self, trial_id: str) -> dict | str | None:
        while True:
            if self.step is None:
                # Planned on what the last phase found; its stragglers (a filler) still run.
                self.step = next(self.steps, None)
                if self.step is None:
                    return Searcher.FINISHED
            step = self.step
            # Tune asks for pending trials too: a filler only where a slot is free now, or
            # it would queue before the phase's own next training.
            fill = step.fill if len(self.driver.live) < self.slots else None
            config = self.driver.suggest(trial_id, step.source, fill)
            if config is Ask.DONE:
                self.step = None
                continue
            if config is Ask.LATER:
                return None
            # The next trial is built while this one trains, not when its slot frees.
            self.driver.ask_ahead(step.source)
            return config.to_tune()

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

    node = ray.get_runtime_context().get_node_id()
    run_trial(TrialConfig.from_tune(config), tune.report, node, data, stopped)


class TuneExecutor:
    """Trains a run's phases on Ray Tune: a local Ray of the run's own, or `--address`'s."""

    @contextlib.contextmanager
    def session(self, config: RunConfig) -> Iterator[None]:
        """Ray for the block, started unless one is up already (a test's, a caller's)."""
        started_ray = not ray.is_initialized()
        if started_ray:
            handler = signal.getsignal(signal.SIGTERM)
            _start_ray(config)
            # ray.init makes SIGTERM a bare sys.exit, which skips the run's cleanup (trials
            # left RUNNING, a core dump on the way out): the caller's handler comes back.
            if handler is not None and threading.current_thread() is threading.main_thread():
                signal.signal(signal.SIGTERM, handler)
        try:
            yield
        finally:
            if started_ray:
                ray.shutdown()

    def run_phases(self, driver: SearchDriver, steps: Iterator[Step], data) -> None:
        """Trains each step's phase in turn, in one Tune run, until the driver says the last
        is done (`pipeline.Executor`). `data`: the dataset every trial reads, put in Ray's
        object store once (None: each worker loads its own, decoded at its member's size)."""
        first = next(steps, None)
        if first is None:
            return
        steps = itertools.chain([first], steps)
        config = driver.config
        # Tune's own SIGINT handler ends the experiment and returns as if it had finished;
        # an interrupt must instead reach the caller, which records it and exits with 130.
        os.environ["TUNE_DISABLE_SIGINT_HANDLER"] = "1"
        # With a custom searcher Tune keeps one trial pending at a time: each waits for the
        # last one's worker to start (seconds each), so a batch would start one by one.
        # Allow as many pending trials as there are slots.
        os.environ["TUNE_MAX_PENDING_TRIALS_PG"] = str(_slots(config))
        board = StopBoard.remote() if first.early_stopping else None  # the search's step
        shared: dict[str, Any] = {"board": board}
        if data is not None:
            shared["data"] = data
        trainable = tune.with_parameters(proxy_trial, **shared)
        left = driver.health.seconds_left()
        tuner = tune.Tuner(
            tune.with_resources(trainable, _resources(config)),
            tune_config=tune.TuneConfig(
                search_alg=StudySearcher(driver, steps, board, _running_slots(config)),
                num_samples=-1,
                max_concurrent_trials=config.max_concurrent,
                time_budget_s=None if left is None else max(1.0, left),
                reuse_actors=True,
            ),
            run_config=tune.RunConfig(
                name=f"{config.study_name}-{driver.phase.value}",  # the first step's
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


def _resources(config: RunConfig) -> dict[str, float]:
    resources: dict[str, float] = {"cpu": config.space.search.cpus_per_trial}
    if config.space.search.gpus_per_trial > 0:
        # Only when asked: Ray 2.60 never places a trial that requests "gpu": 0.
        resources["gpu"] = config.space.search.gpus_per_trial
    return resources


def _slots(config: RunConfig) -> int:
    """Trials Tune may keep pending: as many as the cluster runs at once, or a search batch."""
    batch = config.space.search.batch_size if config.max_concurrent is None else 1
    return max(_cluster_slots(config), batch)


def _running_slots(config: RunConfig) -> int:
    """Trials that train at once: the cluster's slots, or `--max-concurrent`."""
    slots = _cluster_slots(config)
    return slots if config.max_concurrent is None else min(slots, config.max_concurrent)


def _cluster_slots(config: RunConfig) -> int:
    """Trials the cluster can run at once at the space's resources per trial."""
    search, resources = config.space.search, ray.cluster_resources()
    slots = resources.get("CPU", 1.0) / search.cpus_per_trial
    if search.gpus_per_trial > 0:
        slots = min(slots, resources.get("GPU", 0.0) / search.gpus_per_trial)
    return max(1, int(slots + 1e-9))


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
