"""The search driver: asks the study for trials, builds their specs, tells the outcomes.

Knows nothing of Ray: the Tune adapter (`scalesearch.search.tune`) forwards Tune's calls
(`suggest`, `on_result`, `on_complete`) here, and tests call them directly on a real study.
A trial is COMPLETE (on the frontier) only if it trained to the end; PRUNED when the
scheduler stopped it early or its spec was over the MACs budget (never on the frontier);
FAIL with the reason when it diverged, raised, or was cut off, and a resumed search
retries it. The study is the source of truth: budgets and counts are read from it each
time, so several drivers can share one.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.metadata import version
from typing import Any

import optuna
from optuna.trial import Trial, TrialState

from scalesearch.numbers import human, milliseconds
from scalesearch.search import storage
from scalesearch.search.early_stopping import rung_decision
from scalesearch.search.frontier import frontier
from scalesearch.search.heartbeat import Heartbeat
from scalesearch.search.lifecycle import RunConfig
from scalesearch.search.outcome import ProxyOutcome, Verdict, decide
from scalesearch.search.schema import Phase, TrialRecord, cost_value, finished, phase_of
from scalesearch.search.trial_build import build_trial, find_twin, twin_verdict
from scalesearch.stats import binomial_se, format_accuracy

FINISHED = "FINISHED"  # what `suggest` returns when this phase has nothing more to run
MAX_FAILURES_IN_A_ROW = 3
MAX_DUPLICATES_IN_A_ROW = 25  # asks that only find trained architectures: the space is spent
WAIT_POLL_S = 1.0  # how often a waiting driver reads the study

TrialSource = Callable[[], "Trial | None"]


@dataclass
class LiveTrial:
    trial: Trial
    started: float
    batch_start: int  # trials numbered below it rank it: earlier batches (or, free, earlier asks)
    accuracies: list[float] = field(default_factory=list)
    stopped_early: str | None = None  # the rung rule that stopped it
    latency_ms: float | None = None  # measured before its first epoch


class SearchDriver:
    """One driver's side of a run: the budget clock, the live trials, progress output."""

    def __init__(
        self,
        config: RunConfig,
        study: optuna.Study,
        heartbeat: Heartbeat,
        num_classes: int,
        driver: str,
        log: Callable[[str], None] = print,
    ) -> None:
        self.config, self.study, self.heartbeat, self.log = config, study, heartbeat, log
        self.driver = driver
        # The dataset's class count goes into every spec, the base included, so that the
        # equal-cost target is the cost of the network that trains.
        self.space = dataclasses.replace(
            config.space, base=config.space.base.replace(num_classes=num_classes)
        )
        self.phase = Phase.SEARCH
        self.started = time.monotonic()
        self.version = version("scalesearch")
        self.live: dict[str, LiveTrial] = {}
        self.batch_size = config.space.search.batch_size
        self.free_asks = config.space.search.asks == "free"
        self.asked_in_batch = 0
        # A resumed or joining driver's first batch ranks against the trials already there.
        self.batch_start = len(study.get_trials(deepcopy=False))
        self.duplicates_in_a_row = 0
        self.failures_in_a_row = 0
        self.last_error = ""
        self._waiting_since = -1.0
        self._stale_checked = time.monotonic()

    def start_phase(self, phase: Phase) -> None:
        """The next phase; what counted toward ending the last one starts again."""
        self.phase = phase
        self.asked_in_batch = self.duplicates_in_a_row = 0

    # -- the clock and the budget ---------------------------------------------------------
    def out_of_time(self) -> bool:
        budget = self.config.time_budget_s
        return budget is not None and time.monotonic() - self.started > budget

    def healthy(self) -> bool:
        """Time left and trials not failing: the next phase may start."""
        return not self.out_of_time() and not self.failing()

    def failing(self) -> bool:
        return self.failures_in_a_row >= MAX_FAILURES_IN_A_ROW

    def search_budget(self) -> int:
        """Read each time: a driver that joins the study later adds its budget."""
        return storage.search_budget(self.study) or self.config.trials

    def phase_counts(self) -> tuple[int, int]:
        """(finished, running) trials of this phase in the study, whichever driver ran them;
        a duplicate (it took a twin's result) is no architecture trained and does not count."""
        done = running = 0
        for t in self.study.get_trials(deepcopy=False):
            if phase_of(t) == self.phase and t.user_attrs.get("duplicate_of") is None:
                done += finished(t)
                running += t.state == TrialState.RUNNING
        return done, running

    # -- what Tune calls ------------------------------------------------------------------
    def suggest(self, tune_id: str, next_trial: TrialSource) -> dict[str, Any] | str | None:
        """A config for Tune's next trial; None to be asked again later; FINISHED when done.

        Search trials are asked in fixed batches: the next batch only once every trial of
        the last one is told, so the sampler sees the same history whatever the load and the
        same seed gives the same sequence.
        """
        while True:
            if self.out_of_time() or self.failing() or self._spent():
                return self._finish()
            if self.phase == Phase.SEARCH:
                if time.monotonic() - self._waiting_since < WAIT_POLL_S:
                    return None  # Tune asks again soon; spare the database
                done, running = self.phase_counts()
                budget = self.search_budget()
                if done >= budget:
                    return self._finish()
                if done + running >= budget or not self._batch_open(running):
                    self._wait()  # running trials (this driver's or another's) may end it
                    return None
            trial = next_trial()
            if trial is None:
                return self._finish()
            config = self.prepare(trial)
            if config is not None:
                # Only trainings fill a batch: a trial told at once (pruned, a duplicate) is
                # followed by the next ask at once, which is as deterministic.
                self.asked_in_batch += 1
                # Free asks rank a trial against every search trial told before it ended.
                ranked_after = trial.number if self.free_asks else self.batch_start
                self.live[tune_id] = LiveTrial(trial, time.monotonic(), ranked_after)
                return config

    def _batch_open(self, running: int) -> bool:
        if self.free_asks:
            return len(self.live) < self.batch_size
        if self.asked_in_batch < self.batch_size:
            return True
        if running:
            return False
        self.asked_in_batch = 0
        self.batch_start = len(self.study.get_trials(deepcopy=False))
        return True

    def _spent(self) -> bool:
        if self.duplicates_in_a_row < MAX_DUPLICATES_IN_A_ROW:
            return False
        if self.duplicates_in_a_row == MAX_DUPLICATES_IN_A_ROW:
            self.duplicates_in_a_row += 1  # say it once
            self.log(
                f"[{self.phase.value}] the last {MAX_DUPLICATES_IN_A_ROW} asks all found "
                f"architectures already trained: this space has few distinct members at "
                f"this φ, so the phase ends here"
            )
        return True

    def should_stop(self, tune_id: str, epoch: int, accuracy: float) -> bool:
        """Early stopping of a search trial at `epoch` (`early_stopping.rung_decision`)."""
        live = self.live.get(tune_id)
        if live is None or self.phase != Phase.SEARCH:
            return False
        attrs = live.trial.user_attrs
        known = {**{c: attrs.get(c) for c in ("macs", "params")}, "latency": live.latency_ms}
        live.stopped_early = rung_decision(
            self.study, self.space, live.batch_start, epoch, accuracy, known
        )
        return live.stopped_early is not None

    def on_result(self, tune_id: str, result: dict[str, Any]) -> bool:
        """An epoch's result: True when the trial is to stop early (`should_stop`); the
        trainable then ends itself at this epoch with a "stopped" outcome.

        The final result (the outcome) ends the trial here, before its worker returns: the
        next batch is then asked while Tune still holds that worker, and Tune keeps a worker
        only for a trial that is waiting (a fresh one costs seconds).
        """
        if result.get("final"):
            self.on_complete(tune_id, result, crashed=False)
            return False
        live = self.live.get(tune_id)
        if live is None:
            return False
        if result.get("latency_ms") is not None:
            live.latency_ms = result["latency_ms"]
        if "val_accuracy" not in result:
            return False
        live.accuracies.append(result["val_accuracy"])
        return self.should_stop(tune_id, result["epoch"], result["val_accuracy"])

    def on_complete(self, tune_id: str, result: dict[str, Any] | None, crashed: bool) -> None:
        """Tells the study how a trial ended (once: a trial told on its outcome is gone)."""
        live = self.live.pop(tune_id, None)
        if live is None:
            return
        self._waiting_since = -1.0  # a slot is free: read the study at the next ask
        outcome = ProxyOutcome.from_report(result or {})
        accuracies = outcome.val_accuracies if outcome else live.accuracies
        if not accuracies and result and "val_accuracy" in result:
            accuracies = [result["val_accuracy"]]  # stopped at its first report
        verdict = decide(
            outcome,
            len(accuracies),
            crashed=crashed,
            early_stopped=live.stopped_early,
            out_of_time=self.out_of_time(),
        )
        record = TrialRecord(
            seconds=time.monotonic() - live.started,
            val_accuracies=accuracies,
            node_id=(outcome.node_id if outcome else None) or (result or {}).get("node_id"),
            latency_ms=live.latency_ms,  # a stopped trial's too: later rungs rank against it
        )
        if verdict.state != TrialState.FAIL:  # a stopped trial measured its epochs too
            record = record.with_measured(outcome)
        self._write(live.trial, record)
        self._count(verdict)
        self.tell(live.trial, verdict)

    def fail_live(self, reason: str) -> None:
        """Ends this driver's live trials FAIL (an interrupt, the end of Tune's run)."""
        for live in self.live.values():
            self.tell(live.trial, Verdict(TrialState.FAIL, reason=reason))
        self.live.clear()

    # -- ask: build the spec; refuse what cannot or need not train ---------------------------
    def prepare(self, trial: Trial) -> dict[str, Any] | None:
        """Writes the trial's record and returns its Tune config; None when it was told at
        once: PRUNED before training (no equal-cost rounding, over the MACs budget), or a
        duplicate that took its twin's result."""
        self.heartbeat.add(storage.trial_id(trial))
        built = build_trial(
            self.space,
            trial,
            self.phase,
            self.config.proxy,
            self.config.data_dir,
            self.config.seed,
            self.version,
            self.driver,
        )
        self._write(trial, built.record)
        for name, value in built.constraints.items():
            trial.set_constraint(name, value)
        if built.prune_reason:
            self.tell(trial, Verdict(TrialState.PRUNED, reason=built.prune_reason))
            return None
        twin = find_twin(self.study, built.record.train_key, trial.number, self.phase)
        if twin is not None:
            verdict, copied = twin_verdict(twin)
            self._write(trial, copied)
            self.duplicates_in_a_row += 1
            self.tell(trial, verdict)
            return None
        self.duplicates_in_a_row = 0
        return built.tune_config

    # -- tell -----------------------------------------------------------------------------
    def tell(self, trial: Trial, verdict: Verdict) -> None:
        if verdict.reason:
            field_name = "error" if verdict.state == TrialState.FAIL else "stop_reason"
            self._write(trial, TrialRecord(**{field_name: verdict.reason}))
        values = None
        if verdict.state == TrialState.COMPLETE:
            values = self._objective_values(trial, verdict.accuracy)
            if values is None:
                verdict = Verdict(TrialState.FAIL, reason="no latency was measured", failure=True)
                self._write(trial, TrialRecord(error=verdict.reason))
        self.study.tell(trial, values=values, state=verdict.state)
        self.heartbeat.discard(storage.trial_id(trial))
        val_images = trial.user_attrs.get("val_images") if values else None
        self._progress(trial.number, verdict.state, values, verdict.reason, val_images)

    def _objective_values(self, trial: Trial, accuracy: float) -> list[float] | None:
        """[accuracy, *costs] in the study's objective order; None if a cost is missing."""
        values = [cost_value(trial, c) for c in self.space.search.costs]
        return None if None in values else [accuracy, *values]

    def _count(self, verdict: Verdict) -> None:
        if verdict.failure:
            self.failures_in_a_row += 1
            self.last_error = verdict.reason or ""
        elif verdict.state != TrialState.FAIL:
            self.failures_in_a_row = 0

    @staticmethod
    def _write(trial: Trial, record: TrialRecord) -> None:
        for key, value in record.to_attrs().items():
            trial.set_user_attr(key, value)

    def _finish(self) -> str | None:
        return FINISHED if not self.live else None

    def _wait(self) -> None:
        """Notes that this driver waits; ends trials whose driver died now and then."""
        now = self._waiting_since = time.monotonic()
        if now - self._stale_checked > storage.HEARTBEAT_INTERVAL_S:
            self._stale_checked = now
            stale = storage.fail_stale_trials(self.study)
            if stale:
                self.log(f"marked {stale} trial(s) of a stopped driver as failed")

    def _progress(
        self, number: int, state: TrialState, values, reason: str | None, val_images: int | None
    ) -> None:
        counts = storage.trials_by_state(self.study)
        elapsed = time.monotonic() - self.started
        left = ""
        if self.config.time_budget_s is not None:
            left = f", {max(0.0, self.config.time_budget_s - elapsed):.0f} s left"
        what = reason
        if values:
            attrs = self.study.trials[number].user_attrs
            se = binomial_se(values[0], attrs.get("val_images"))
            what = f"acc {format_accuracy(values[0], se)} at {human(attrs['macs'], 'MACs')}"
            if attrs.get("latency_ms") is not None:
                what += f", {milliseconds(attrs['latency_ms'])}"
        self.log(
            f"[{self.phase.value}] trial {number} {state.name.lower()}: {what} | "
            f"{self.phase_counts()[0]} finished, {counts.get('running', 0)} running, "
            f"{counts.get('fail', 0)} failed | {elapsed:.0f} s elapsed{left} | "
            f"frontier {len(frontier(self.study))} points"
        )
