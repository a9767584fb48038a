"""The search driver: asks the run's studies for trials, builds their specs, tells outcomes.

Knows nothing of Ray: the Tune adapter (`scalesearch.search.run.tune`) forwards Tune's calls
(`suggest`, `on_result`, `on_complete`) here, and tests call them directly on a real study.
A trial is COMPLETE (on a frontier) only if it trained to the end; PRUNED when the scheduler
stopped it early or its spec was over the MACs budget (never on a frontier); FAIL with the
reason when it diverged, raised, or was cut off, and a resumed run retries it. Budgets are
read from the study when a trial may be asked, so several drivers can share a run; progress
comes from counts the driver keeps (`progress.Progress`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.metadata import version

from optuna.trial import Trial, TrialState

from scalesearch.search.config import RunConfig
from scalesearch.search.run.ask_policy import ask_policy
from scalesearch.search.run.asking import Ask, Health, Poll
from scalesearch.search.run.early_stopping import rung_decision
from scalesearch.search.run.heartbeat import Heartbeat
from scalesearch.search.run.ledger import Ledger, Told
from scalesearch.search.run.outcome import Verdict
from scalesearch.search.run.prefetch import Ahead
from scalesearch.search.run.search_waits import SearchWaits
from scalesearch.search.run.trainable import TrialConfig
from scalesearch.search.store import storage
from scalesearch.search.store.schema import Phase, TrialRecord, cost_value
from scalesearch.search.store.studies import RunStudies

WAIT_POLL_S = 1.0  # how often a waiting driver reads the study
BEYOND_BUDGET = "not trained: another driver asked for the budget's last trial first"

TrialSource = Callable[[], "Trial | None"]


@dataclass(frozen=True)
class Step:
    """One phase's trials for an executor: where they come from, whether they may stop
    early (the search's, at its rungs), and what may fill a slot the phase leaves idle while
    its last trainings run (`fill`: trainings a later phase needs whatever this one finds;
    the phase ends without waiting for them)."""

    source: TrialSource
    early_stopping: bool = False
    fill: TrialSource | None = None


@dataclass
class LiveTrial:
    trial: Trial
    started: float
    batch_start: int  # trials numbered below it rank it at its rungs (`AskPolicy.ranked_after`)
    accuracies: list[float] = field(default_factory=list)
    stopped_early: str | None = None  # the rung rule that stopped it
    latency_ms: float | None = None  # measured before its first epoch
    filler: bool = False  # a later phase's training in a slot this phase left idle


class SearchDriver:
    """One driver's side of a run: the phase's study, its live trials, when to ask."""

    def __init__(
        self,
        config: RunConfig,
        run: RunStudies,
        heartbeat: Heartbeat,
        num_classes: int,
        driver: str,
        log: Callable[[str], None] = print,
    ) -> None:
        self.config, self.run, self.log = config, run, log
        # The dataset's class count goes into every spec, the base included, so that the
        # equal-cost target is the cost of the network that trains.
        self.space = dataclasses.replace(
            config.space, base=config.space.base.replace(num_classes=num_classes)
        )
        self.health = Health(config.time_budget_s, log)
        # A resumed or joining driver's first batch ranks against the trials already there.
        search = config.space.search
        self.gate = ask_policy(
            search.asks, search.batch_size, len(run.search.get_trials(deepcopy=False))
        )
        self.ledger = Ledger(
            config,
            self.space,
            run,
            heartbeat,
            driver,
            version("scalesearch"),
            log,
            self._clock,
            lambda: len(self.live),
            self.gate,
        )
        self.live: dict[str, LiveTrial] = {}
        self.ahead = Ahead()  # the next search trial, built while the slots train
        self.poll = Poll(WAIT_POLL_S, storage.HEARTBEAT_INTERVAL_S)
        self.waits = SearchWaits(run, config.trials, self.gate, self.poll, log)
        self.start_phase(Phase.SEARCH)

    def start_phase(self, phase: Phase) -> None:
        """The next phase, in its study; what counted toward ending the last one restarts."""
        self.phase = phase
        if phase != Phase.BUDGET:  # a budget's study is made with its first unit
            self.run.study_for(phase, create=True)
        self.gate.restart()
        self.health.duplicates_in_a_row = 0
        done, _, failed = self.phase_counts()
        self.ledger.start_phase(phase, done, failed)

    def phase_counts(self) -> tuple[int, int, int]:
        """(finished, running, failed) trials of this phase, whichever driver ran them."""
        return self.run.phase_counts(self.phase)

    # -- what Tune calls ------------------------------------------------------------------
    def suggest(
        self, tune_id: str, next_trial: TrialSource, fill: TrialSource | None = None
    ) -> TrialConfig | Ask:
        """The next trial's config; `Ask.LATER` to be asked again; `Ask.DONE` when done.
        `fill`: what trains in the free slot where `next_trial` has nothing while the
        phase's trainings run (`Step.fill`)."""
        while True:
            if self.health.out_of_time() or self.health.failing():
                return self._finish()
            if self.health.spent(self.phase.value):
                return self._finish()
            built = filler = None
            if self.ahead.pending():  # asked while the slots trained: no wait for a build
                if len(self.live) >= self.gate.batch_size:
                    return Ask.LATER
                trial, built = self.ahead.take()
            else:
                if self.phase == Phase.SEARCH:
                    waiting = self.waits.why_not(len(self.live))
                    if waiting is not None:
                        return waiting
                trial = next_trial()
                if trial is not None and self._beyond_budget(trial):
                    continue
                if trial is None and fill is not None and self._phase_trains():
                    trial = filler = fill()
                if trial is None:
                    return self._finish()
            try:
                config = self.ledger.prepare(trial, built)
            except KeyboardInterrupt:  # Ctrl-C or SIGTERM while it was being built
                self.ledger.abandon(trial, "the run was interrupted before the trial trained")
                raise
            if config is Told.DUPLICATE:
                self.health.duplicate()
            elif isinstance(config, TrialConfig):
                self.health.trained()
                # Only trainings fill a batch: a trial told at once (pruned, a duplicate) is
                # followed by the next ask at once, which is as deterministic.
                self.gate.asked()
                ranked_after = self.gate.ranked_after(trial.number, self.waits.trials)
                live = LiveTrial(trial, time.monotonic(), ranked_after, filler=bool(filler))
                live.latency_ms = TrialRecord.from_trial(trial).latency_ms  # timed before
                self.live[tune_id] = live
                return config

    def should_stop(self, tune_id: str, epoch: int, accuracy: float) -> bool:
        """Early stopping of a search trial at `epoch` (`early_stopping.rung_decision`)."""
        live = self.live.get(tune_id)
        if live is None or self.phase != Phase.SEARCH:
            return False
        known = {c: cost_value(live.trial, c) for c in self.space.search.costs}
        known["latency"] = live.latency_ms
        trials = self.run.search.get_trials(deepcopy=False)
        live.stopped_early = rung_decision(
            trials, self.space, live.batch_start, epoch, accuracy, known
        )
        return live.stopped_early is not None

    def on_result(self, tune_id: str, result: dict) -> bool:
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

    def on_complete(self, tune_id: str, result: dict | None, crashed: bool) -> None:
        """Tells the study how a trial ended (once: a trial told on its outcome is gone)."""
        live = self.live.pop(tune_id, None)
        if live is None:
            return
        self.poll.freed()
        verdict = self.ledger.ended(live, result, crashed, self.health.out_of_time())
        if verdict.failure:
            self.health.failed(verdict.reason or "")
        elif verdict.state != TrialState.FAIL:
            self.health.succeeded()
        self.ledger.tell(live.trial, verdict)

    def fail_live(self, reason: str) -> None:
        """Ends this driver's live trials FAIL (an interrupt, the end of Tune's run). Where
        the storage refuses the write (a full disk), the trial is left for the heartbeat
        rule to end on resume, and the error that stopped the run is the one raised."""
        live, self.live = list(self.live.values()), {}
        for trial in live:
            with contextlib.suppress(Exception):
                self.ledger.tell(trial.trial, Verdict(TrialState.FAIL, reason=reason))
        with contextlib.suppress(Exception):
            self._drop_ahead(reason)
        self.ahead.close()

    def ask_ahead(self, next_trial: TrialSource) -> None:
        """Asks the next search trial now and builds it beside the slots' training, where
        the ask policy lets it see no more than it would when a slot frees (`prefetch`); the
        next `suggest` with a free slot takes it. An executor whose slots train elsewhere
        calls it after each trial it starts."""
        if self.phase != Phase.SEARCH or not self.gate.asks_ahead or self.health.out_of_time():
            return
        if not self.waits.may_ask_ahead():
            return
        trial = next_trial()
        if trial is None or self._beyond_budget(trial):
            return
        try:
            drawn = self.ledger.draw(trial)
        except BaseException:
            self.ledger.abandon(trial, "the run was interrupted before the trial trained")
            raise
        self.ahead.start(trial, lambda: self.ledger.build(drawn))

    def _beyond_budget(self, trial: Trial) -> bool:
        """Ends FAIL, untrained, a search trial that another driver's ask beat to the budget's
        last place (`SearchWaits.beyond_budget`)."""
        if self.phase != Phase.SEARCH or not self.waits.beyond_budget(trial.number):
            return False
        self.ledger.abandon(trial, BEYOND_BUDGET)
        return True

    def _drop_ahead(self, reason: str) -> None:
        """Ends the trial asked ahead FAIL (a resume trains it again at once)."""
        trial = self.ahead.drop()
        if trial is not None:
            self.ledger.abandon(trial, reason)

    def _clock(self) -> str:
        left = self.health.seconds_left()
        tail = "" if left is None else f", {left:.0f} s left"
        return f"{self.health.elapsed():.0f} s elapsed{tail}"

    def _phase_trains(self) -> bool:
        """A trial of this phase trains (not one that fills a slot for a later phase)."""
        return any(not live.filler for live in self.live.values())

    def _finish(self) -> Ask:
        self._drop_ahead("asked ahead, not trained: the phase ended before a slot freed")
        return Ask.LATER if self._phase_trains() else Ask.DONE
