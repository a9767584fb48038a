"""The search: Ray Tune executes proxy trials; scalesearch owns Optuna's ask and tell.

Only this module imports Ray. A Tune `Searcher` (`StudySearcher`) asks the Optuna study for
coefficients, builds the spec, rejects it before training when over the MACs budget, and
tells Optuna the outcome: COMPLETE with (accuracy, MACs) only for a trial that trained to the
end; PRUNED for one that ASHA stopped early or that was over budget (never on the frontier);
FAIL with the reason for one that diverged, raised, or was cut off (interrupt, time budget),
which a resumed search retries. Tune itself only schedules, places and stops trials.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import socket
import threading
import time
import traceback
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import Trial, TrialState

from scalesearch.search import records
from scalesearch.search import study as st
from scalesearch.train.config import ProxyConfig
from scalesearch.arch.cost import count_cost
from scalesearch.decode import decode, encode
from scalesearch.errors import ScaleSearchError
from scalesearch.search.space import Coefficients, SearchSpace
from scalesearch.arch.spec import ArchSpec

SEARCH, FAMILY = "search", "family"
MAX_FAILURES_IN_A_ROW = 3
WAIT_POLL_S = 1.0  # how often a waiting driver reads the study


class SearchFailed(ScaleSearchError, RuntimeError):
    """Trials keep failing: the space or data is broken, and more trials would not help."""


class ClusterError(ScaleSearchError, ConnectionError):
    """The Ray cluster given with --address cannot be reached."""


@dataclass(frozen=True)
class RunConfig:
    """How to run a search (the `scalesearch run` flags, resolved)."""

    space: SearchSpace
    storage: str
    study_name: str
    run_dir: Path
    trials: int
    proxy: ProxyConfig
    data_dir: str | None = None
    time_budget_s: float | None = None
    address: str | None = None
    max_concurrent: int | None = None
    seed: int = 0
    family_from: int | None = None
    family: bool = True
    resume: bool = False  # continue to the study's budget instead of adding `trials` to it
    join: bool = False  # share the study with other drivers running at the same time


@dataclass
class SearchResult:
    study_name: str
    storage: str
    frontier: list[st.FrontierPoint]
    hypervolume: float
    counts: dict[str, int]
    seconds: float


def sample_point(trial: Trial, space: SearchSpace) -> tuple[Coefficients, dict[str, str]]:
    """The free parameters of a trial: α and β in their ranges, γ solved, part choices.

    The parameter names ("alpha", "beta", "stage{i}.{part}") are the study's schema.
    """
    s = space.scaling
    alpha = trial.suggest_float("alpha", s.alpha.low, s.alpha.high)
    beta = trial.suggest_float("beta", s.beta.low, s.beta.high)
    gamma = s.constraint.solve_gamma(alpha, beta)
    choices = {
        f"stage{i}.{part}": trial.suggest_categorical(f"stage{i}.{part}", list(options))
        for i, stage in enumerate(space.stage_choices)
        for part, options in stage.items()
    }
    return Coefficients(alpha, beta, gamma), choices


@dataclass
class _Live:
    trial: Trial
    started: float
    accuracies: list[float] = field(default_factory=list)


def make_asha(epochs: int, stopped: set[str]):
    """ASHA on validation accuracy per epoch, recording which trials it stopped early."""
    from ray.tune.schedulers import ASHAScheduler, TrialScheduler

    class RecordingASHA(ASHAScheduler):
        def on_trial_result(self, tune_controller, trial, result):
            decision = super().on_trial_result(tune_controller, trial, result)
            if decision == TrialScheduler.STOP and not result.get("final"):
                stopped.add(trial.trial_id)
            return decision

    return RecordingASHA(time_attr="epoch", metric="val_accuracy", mode="max", max_t=epochs,
                         grace_period=1, reduction_factor=2)


def _searcher_class():
    from ray.tune.search import Searcher

    class StudySearcher(Searcher):
        """Serves Tune one Optuna trial per suggestion and tells Optuna each outcome."""

        def __init__(self, run: _Run, points: Callable[[], Trial | None],
                     early_stopped: set[str]) -> None:
            super().__init__(metric="val_accuracy", mode="max")
            self.run, self.points = run, points
            self.early_stopped = early_stopped
            self.live: dict[str, _Live] = {}

        def suggest(self, trial_id: str) -> dict | None:
            while True:
                if self.run.out_of_time() or self.run.failing():
                    return self._finish()
                if self.run.phase == SEARCH:
                    if self.run.recently_waiting():
                        return None  # Tune asks again soon; spare the database
                    done, running = self.run.phase_counts()
                    budget = self.run.search_budget()
                    if done >= budget:
                        return self._finish()
                    if done + running >= budget:
                        # Running trials (this driver's or another's) may complete it.
                        self.run.wait()
                        return None
                trial = self.points()
                if trial is None:
                    return self._finish()
                config = self.run.prepare(trial)
                if config is not None:
                    self.live[trial_id] = _Live(trial, time.monotonic())
                    return config

        def _finish(self) -> str | None:
            return Searcher.FINISHED if not self.live else None

        def on_trial_result(self, trial_id: str, result: dict) -> None:
            live = self.live.get(trial_id)
            if live is not None and "val_accuracy" in result and not result.get("final"):
                live.accuracies.append(result["val_accuracy"])

        def on_trial_complete(self, trial_id: str, result: dict | None = None,
                              error: bool = False) -> None:
            live = self.live.pop(trial_id, None)
            if live is None:
                return
            self.run.conclude(live, result or {}, error, trial_id in self.early_stopped)

        # Tune checkpoints its searcher; ours keeps its state in the study, so there is
        # nothing to save and nothing (no live study, no thread) that could be pickled.
        def __getstate__(self) -> dict:
            return {}

        def __setstate__(self, state: dict) -> None:
            self.__dict__.update(state)

        def save_to_dir(self, checkpoint_dir: str, session_str: str = "default") -> None:
            pass

        def restore_from_dir(self, checkpoint_dir: str) -> None:
            pass

        def fail_live(self, reason: str) -> None:
            for live in self.live.values():
                self.run.tell_fail(live.trial, reason)
            self.live.clear()

    return StudySearcher


class _Run:
    """The driver's state for one `run_search`: study, budget clock, progress output."""

    def __init__(self, config: RunConfig, study: optuna.Study, log: Callable[[str], None]):
        self.config, self.study, self.log = config, study, log
        self.started = time.monotonic()
        self.phase = SEARCH
        self.phi = config.space.scaling.search_phi
        self.version = version("scalesearch")
        self.driver = st.driver_id()
        self.running: set[int] = set()
        self._waiting_since = -1.0
        self._stale_checked = time.monotonic()
        self.num_classes = 10  # set from the dataset before the first trial
        self.failures_in_a_row = 0
        self.last_error = ""
        self._heartbeat_stop = threading.Event()
        self._heartbeat = threading.Thread(target=self._beat, daemon=True)
        self._heartbeat.start()

    # -- budget and clock ---------------------------------------------------------------
    def out_of_time(self) -> bool:
        budget = self.config.time_budget_s
        return budget is not None and time.monotonic() - self.started > budget

    def failing(self) -> bool:
        return self.failures_in_a_row >= MAX_FAILURES_IN_A_ROW

    def search_budget(self) -> int:
        """Read each time: a driver that joins the study later adds its budget."""
        return st.search_budget(self.study) or self.config.trials

    def phase_counts(self) -> tuple[int, int]:
        """(finished, running) trials of this phase in the study, whichever driver ran them."""
        finished = running = 0
        for t in self.study.get_trials(deepcopy=False):
            if t.user_attrs.get(st.PHASE, self.phase) != self.phase:
                continue
            finished += st.finished(t)
            running += t.state == TrialState.RUNNING
        return finished, running

    def recently_waiting(self) -> bool:
        return time.monotonic() - self._waiting_since < WAIT_POLL_S

    def wait(self) -> None:
        """Notes that this driver waits; ends trials whose driver died now and then."""
        now = self._waiting_since = time.monotonic()
        if now - self._stale_checked > st.HEARTBEAT_INTERVAL_S:
            self._stale_checked = now
            stale = st.fail_stale_trials(self.study)
            if stale:
                self.log(f"marked {stale} trial(s) of a stopped driver as failed")

    # -- heartbeats: a killed driver's trials become stale and end FAIL -----------------
    def _beat(self) -> None:
        while not self._heartbeat_stop.wait(st.HEARTBEAT_INTERVAL_S / 2):
            for trial_id in list(self.running):
                try:
                    st.record_heartbeat(self.study, trial_id)
                except Exception:  # noqa: BLE001 - a missed beat is retried next round
                    pass

    def close(self) -> None:
        self._heartbeat_stop.set()

    # -- ask ------------------------------------------------------------------------------
    def prepare(self, trial: Trial) -> dict | None:
        """Builds the trial's spec; tells PRUNED (no training) when over the MACs budget."""
        # Beat at once: a trial that never beat is never found stale if this driver dies.
        st.record_heartbeat(self.study, trial._trial_id)
        self.running.add(trial._trial_id)
        space = self.config.space
        phi = float(trial.user_attrs.get(st.PHI, self.phi))
        coefficients, choices = sample_point(trial, space)
        spec = space.member(phi, coefficients, choices)
        spec = spec.replace(num_classes=self.num_classes)
        cost = count_cost(spec)
        spec_json = spec.to_json()
        attrs = {
            st.PHASE: self.phase, st.PHI: phi, st.GAMMA: coefficients.gamma,
            st.SPEC: spec_json, st.SPEC_HASH: spec.spec_hash(), st.PARAMS: cost.params,
            st.MACS: cost.macs, st.RESOLUTION: spec.resolution, st.VERSION: self.version,
            st.DRIVER: self.driver,
        }
        for key, value in attrs.items():
            trial.set_user_attr(key, value)
        if cost.macs > space.search.max_macs and self.phase == SEARCH:
            reason = f"over the MACs budget: {cost.macs:,} > {space.search.max_macs:,.0f}"
            self._tell(trial, TrialState.PRUNED, reason=reason)
            return None
        return {
            "spec": spec_json,
            "proxy": json.dumps(encode(self.config.proxy)),
            "data_dir": self.config.data_dir,
            "seed": self.config.seed,
            "macs": cost.macs,
        }

    # -- tell -----------------------------------------------------------------------------
    def conclude(self, live: _Live, result: dict, error: bool, early_stopped: bool) -> None:
        trial, seconds = live.trial, time.monotonic() - live.started
        trial.set_user_attr(st.SECONDS, seconds)
        if "node_id" in result:
            trial.set_user_attr(st.NODE_ID, result["node_id"])
        accuracies = result.get("val_accuracies") or live.accuracies
        if not accuracies and "val_accuracy" in result:  # a trial stopped at its first report
            accuracies = [result["val_accuracy"]]
        trial.set_user_attr(st.VAL_ACCURACIES, accuracies)
        if error or (result.get("final") and result.get("status") != "completed"):
            reason = (result.get("reason") or result.get("status")) if not error else (
                "the trial's process failed (see the Ray logs in the run folder)")
            self.failures_in_a_row += 1
            self.last_error = reason
            self.tell_fail(trial, reason)
            return
        self.failures_in_a_row = 0
        if result.get("final"):
            trial.set_user_attr(st.TRAIN_LOSS_SUM, result["train_loss_sum"])
            trial.set_user_attr(st.IMAGES_PER_SECOND, result["images_per_second"])
            trial.set_user_attr(st.TRAIN_SECONDS, result["seconds"])
            self._tell(trial, TrialState.COMPLETE, values=[result["val_accuracy"],
                                                          trial.user_attrs[st.MACS]])
        elif early_stopped:
            self._tell(trial, TrialState.PRUNED,
                       reason=f"stopped early by ASHA after {len(accuracies)} epoch(s)")
        else:
            why = "the time budget ran out" if self.out_of_time() else "the search was interrupted"
            self.tell_fail(trial, f"stopped before the end: {why}")

    def tell_fail(self, trial: Trial, reason: str) -> None:
        self._tell(trial, TrialState.FAIL, reason=reason)

    def _tell(self, trial: Trial, state: TrialState, values=None, reason: str | None = None):
        if reason:
            trial.set_user_attr(st.STOP_REASON if state != TrialState.FAIL else st.ERROR, reason)
        self.study.tell(trial, values=values, state=state)
        self.running.discard(trial._trial_id)
        self._progress(trial.number, state, values, reason)

    def _progress(self, number: int, state: TrialState, values, reason: str | None) -> None:
        counts = st.trials_by_state(self.study)
        elapsed = time.monotonic() - self.started
        left = ""
        if self.config.time_budget_s is not None:
            left = f", {max(0.0, self.config.time_budget_s - elapsed):.0f} s left"
        what = f"acc {values[0]:.2%} at {values[1] / 1e6:.1f} MMACs" if values else reason
        self.log(
            f"[{self.phase}] trial {number} {state.name.lower()}: {what} | "
            f"{self.phase_counts()[0]} finished, {counts.get('running', 0)} running, "
            f"{counts.get('fail', 0)} failed | {elapsed:.0f} s elapsed{left} | "
            f"frontier {len(self.study.best_trials)} points"
        )


@functools.lru_cache(maxsize=4)
def _cached_dataset(name: str, data_dir: str | None, resolution: int, seed: int):
    """Loaded once per worker process (Tune reuses actors), then shared by its trials."""
    from scalesearch.train.data import load_dataset

    return load_dataset(name, data_dir, resolution=resolution, seed=seed)


def proxy_trial(config: dict) -> None:
    """The Tune trainable: trains one spec and reports each epoch, then a final result.

    Errors are reported as a final result with the message (so the study records the
    reason), never raised into Tune.
    """
    import ray
    from ray import tune

    from scalesearch.train.proxy import train_proxy

    node_id = ray.get_runtime_context().get_node_id()
    try:
        spec = ArchSpec.from_json(config["spec"])
        proxy = decode(ProxyConfig, json.loads(config["proxy"]))
        data = _cached_dataset(proxy.dataset, config["data_dir"], spec.resolution, config["seed"])

        def on_epoch(epoch) -> None:
            # The last epoch is reported once, as the final result below: ASHA stops every
            # trial at its last epoch, and the final result must reach the study first.
            if epoch.epoch < proxy.epochs:
                tune.report({"epoch": epoch.epoch, "val_accuracy": epoch.val_accuracy,
                             "val_loss": epoch.val_loss, "node_id": node_id})

        result = train_proxy(spec, data, proxy, on_epoch=on_epoch, macs=config["macs"])
        final = {"final": True, "node_id": node_id, "epoch": len(result.val_accuracies),
                 **{k: v for k, v in result.to_dict().items() if k != "epochs"}}
    except Exception as err:  # noqa: BLE001 - reported to the study, not lost
        # Tune requires the scheduler's metric in every result; the study records FAIL.
        final = {"final": True, "node_id": node_id, "status": "error", "epoch": 0,
                 "val_accuracy": 0.0,
                 "reason": f"{type(err).__name__}: {err}",
                 "traceback": traceback.format_exc(limit=5)}
    tune.report(final)


def run_search(config: RunConfig, log: Callable[[str], None] = print) -> SearchResult:
    """Runs (or resumes) the coefficient search, then the family, on Ray Tune.

    The study in `config.storage` is the source of truth: finished trials count toward
    the budget and are never repeated; trials of a driver that died end FAIL (heartbeat).
    """
    import ray

    if config.address:
        _check_reachable(config.address)
    storage = st.open_storage(config.storage)
    study = st.create_or_load_study(storage, config.study_name,
                                    st.make_sampler(config.space.search.sampler, config.seed))
    _check_same_space(study, config.space)
    stale = st.fail_stale_trials(study)
    if stale:
        log(f"marked {stale} trial(s) of a stopped driver as failed")
    run = _Run(config, study, log)
    study.sampler = st.make_sampler(config.space.search.sampler, _sampler_seed(config, study, run.driver))
    if not config.resume:
        st.add_budget(study, run.driver, config.trials)
    # Loaded once up front: a missing or malformed dataset is a one-line error before Ray
    # starts, and the class count goes into every spec. (The resolution only matters to
    # image folders, which the trials load again at their own size.)
    data = _cached_dataset(config.proxy.dataset, config.data_dir, config.space.base.resolution,
                           config.seed)
    run.num_classes = data.num_classes
    started_ray = not ray.is_initialized()
    if started_ray:
        _start_ray(config)
    searcher = None
    try:
        searcher = _tune(run, lambda: study.ask(), config, asha=True)
        if config.family and not run.out_of_time() and not run.failing():
            run.phase, searcher = FAMILY, None
            searcher = _tune(run, _family_points(run, study, config), config, asha=False)
    finally:
        if searcher is not None:
            searcher.fail_live("the search was interrupted")
        run.close()
        if started_ray:
            ray.shutdown()
    if run.failing():
        raise SearchFailed(
            f"stopped after {run.failures_in_a_row} trials failed in a row; the last: "
            f"{run.last_error}"
        )
    front = st.frontier(study)
    return SearchResult(config.study_name, config.storage, front,
                        st.hypervolume(front, config.space.search.max_macs),
                        st.trials_by_state(study), time.monotonic() - run.started)


def _sampler_seed(config: RunConfig, study: optuna.Study, driver: str) -> int:
    """The user's seed for a fresh run, so it is reproducible. A resumed or joining driver
    mixes in the study's size and its own name: the same seed would replay the random
    start-up points already tried (or being tried by the other drivers)."""
    tried = len(study.get_trials(deepcopy=False))
    if tried == 0 and not config.join:
        return config.seed
    return zlib.crc32(f"{config.seed}:{driver}:{tried}".encode())


def _tune(run: _Run, points, config: RunConfig, asha: bool):
    # Tune's own SIGINT handler ends the experiment and returns as if it had finished; an
    # interrupt must instead reach the caller, which records it and exits with 130.
    os.environ["TUNE_DISABLE_SIGINT_HANDLER"] = "1"
    from ray import tune

    early_stopped: set[str] = set()
    searcher = _searcher_class()(run, points, early_stopped)
    resources = {"cpu": config.space.search.cpus_per_trial}
    if config.space.search.gpus_per_trial > 0:
        # Only when asked: Ray 2.60 never places a trial that requests "gpu": 0.
        resources["gpu"] = config.space.search.gpus_per_trial
    left = None
    if config.time_budget_s is not None:
        left = max(1.0, config.time_budget_s - (time.monotonic() - run.started))
    tuner = tune.Tuner(
        tune.with_resources(proxy_trial, resources),
        tune_config=tune.TuneConfig(
            search_alg=searcher,
            scheduler=make_asha(config.proxy.epochs, early_stopped) if asha else None,
            num_samples=-1,
            max_concurrent_trials=config.max_concurrent,
            time_budget_s=left,
            reuse_actors=True,
        ),
        run_config=tune.RunConfig(
            name=f"{config.study_name}-{run.phase}",
            storage_path=str((config.run_dir / "ray").resolve()),
            verbose=0,
        ),
    )
    try:
        tuner.fit()
    finally:
        searcher.fail_live("the search was interrupted")
    return searcher


def _family_points(run: _Run, study: optuna.Study, config: RunConfig) -> Callable[[], Trial | None]:
    """Serves the family members still to train for the chosen coefficients.

    Several drivers may share the study: each member is claimed in the database before it
    is trained, so no member is trained twice. A member whose trial failed (a killed
    driver, an interrupt) can be claimed again: its claim key counts the failed attempts.
    """
    source = _family_source(study, config.family_from)
    params = dict(source.params)
    search_phi = float(source.user_attrs.get(st.PHI, config.space.scaling.search_phi))
    run.log(f"[family] coefficients of trial {source.number}: "
            + ", ".join(f"{k}={v:.3f}" if isinstance(v, float) else f"{k}={v}" for k, v in params.items())
            + f"; phi {', '.join(f'{p:g}' for p in config.space.scaling.family_phi)}")

    def claim(phi: float, members: list) -> bool:
        if any(t.user_attrs.get(st.PHI) == phi and (st.finished(t) or t.state == TrialState.RUNNING)
               for t in members):
            return False
        attempt = sum(t.user_attrs.get(st.PHI) == phi for t in members)  # all failed
        key = f"family:{source.number}:{phi:g}:{attempt}"
        return records.claim(config.storage, config.study_name, key, run.driver)

    def next_point() -> Trial | None:
        members = [t for t in study.get_trials(deepcopy=False)
                   if t.user_attrs.get(st.PHASE) == FAMILY and t.params == params]
        for phi in config.space.scaling.family_phi:
            if not claim(phi, members):
                continue
            if phi == search_phi:
                # The member at the search φ is the source trial itself (same spec, same
                # seed, so the same result): recorded as a family trial, not trained again.
                study.add_trial(optuna.trial.create_trial(
                    params=source.params, distributions=source.distributions,
                    values=source.values,
                    user_attrs={**source.user_attrs, st.PHASE: FAMILY, st.COPIED_FROM: source.number,
                                st.DRIVER: run.driver},
                ))
                continue
            study.enqueue_trial(params, user_attrs={st.PHASE: FAMILY, st.PHI: phi},
                                skip_if_exists=False)
            # ask() takes the oldest enqueued member: maybe another driver's, which is as
            # good, since that driver's ask() then takes this one.
            return study.ask()
        return None

    return next_point


def _family_source(study: optuna.Study, number: int | None):
    complete = [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
                if t.user_attrs.get(st.PHASE) == SEARCH]
    if number is not None:
        match = [t for t in complete if t.number == number]
        if not match:
            raise st.StudyError(f"--family-from {number}: not a complete search trial of this study")
        return match[0]
    if not complete:
        raise st.StudyError("no search trial completed, so there are no coefficients to scale")
    return max(complete, key=lambda t: (t.values[0], -t.values[1]))


def _check_same_space(study: optuna.Study, space: SearchSpace) -> None:
    """A study belongs to one space: resuming it with another would mix schemas."""
    stored = study.user_attrs.get(st.SPACE_NAME)
    if stored is None:
        study.set_user_attr(st.SPACE_NAME, space.name)
        study.set_user_attr(st.SPACE_JSON, json.dumps(encode(space)))
    elif stored != space.name:
        raise st.StudyError(
            f"study {study.study_name!r} belongs to space {stored!r}, not {space.name!r}; "
            f"use another --study"
        )


def _check_reachable(address: str) -> None:
    """Fails in a second, with the fix, where ray.init would retry for a minute."""
    if address == "auto":
        return
    netloc = address.split("://", 1)[-1]
    host, _, port = netloc.rpartition(":")
    try:
        socket.create_connection((host or "127.0.0.1", int(port)), timeout=5).close()
    except (OSError, ValueError) as err:
        raise ClusterError(
            f"--address {address}: no Ray cluster answers there ({err}); start one with "
            f"`ray start --head --port=PORT` and pass HEAD_IP:PORT"
        ) from None


def _start_ray(config: RunConfig) -> None:
    import ray

    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    kwargs: dict[str, Any] = dict(include_dashboard=False, log_to_driver=False,
                                  logging_level="ERROR", configure_logging=True)
    if not config.address:
        # "local": a Ray of this driver's own, never one another process started here.
        ray.init(address="local", **kwargs)
        return
    try:
        ray.init(address=config.address, **kwargs)
    except ConnectionError as err:
        hint = ""
        if "InvalidAuthToken" in repr(err.__cause__):
            hint = ("; the cluster uses token authentication: set RAY_AUTH_MODE=token and give "
                    "its token (~/.ray/auth_token or RAY_AUTH_TOKEN)")
        raise ClusterError(f"--address {config.address}: {str(err).splitlines()[0]}{hint}") from None


def config_from_flags(space: SearchSpace, run_dir: Path, **flags: Any) -> RunConfig:
    """RunConfig from CLI flags, with the space's own settings as defaults."""
    given = {k: flags.pop(k, None) for k in ("epochs", "dataset")}
    overrides = {k: v for k, v in given.items() if v is not None}
    proxy = dataclasses.replace(space.proxy, seed=flags.get("seed", 0), **overrides)
    return RunConfig(space=space, run_dir=run_dir, proxy=proxy, **flags)
