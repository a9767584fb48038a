"""What a trial is and how it ended, written into its study: the driver's bookkeeping.

`prepare` turns an asked trial into what trains (or tells it at once: pruned before training,
or a duplicate of a trial that trained the same thing), `tell` ends it with its objective
values, in the trial's own study (the search's, the family's or the ablation's: each has its
objectives), and logs its progress line.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum

import optuna
from optuna.trial import Trial, TrialState

from scalesearch.search.config import RunConfig
from scalesearch.search.run.ask_policy import AskPolicy
from scalesearch.search.run.heartbeat import Heartbeat
from scalesearch.search.run.outcome import ProxyOutcome, Verdict, decide, with_measured
from scalesearch.search.run.progress import Progress
from scalesearch.search.run.trainable import TrialConfig
from scalesearch.search.run.trial_build import BuiltTrial, Drawn, build_trial, draw, twin_verdict
from scalesearch.search.run.trial_lookups import TrialLookups
from scalesearch.search.space import SearchSpace
from scalesearch.search.store import optuna_private
from scalesearch.search.store.schema import Phase, TrialRecord, cost_value
from scalesearch.search.store.studies import SEARCH_PHASES, RunStudies


class Told(Enum):
    """Why `prepare` gave no config: the trial was told at once."""

    PRUNED = "pruned"  # not trainable (no equal-cost rounding, over the MACs budget)
    DUPLICATE = "duplicate"  # took the result of a twin that trained the same thing


@dataclass
class Ledger:
    """Writes a phase's trials into the run's studies (one ledger per driver)."""

    config: RunConfig
    space: SearchSpace  # the config's, with the dataset's class count
    run: RunStudies
    heartbeat: Heartbeat
    driver: str
    version: str
    log: Callable[[str], None]
    clock: Callable[[], str]  # "12 s elapsed, 30 s left", for progress lines
    running: Callable[[], int]  # this driver's live trials
    asks: AskPolicy  # how search trials are asked: which earlier ones a new one may see

    def __post_init__(self) -> None:
        self.lookups = TrialLookups()
        self.phase = Phase.SEARCH
        self.progress = Progress(self.phase.value, self.log)

    def start_phase(self, phase: Phase, finished: int, failed: int) -> None:
        self.phase = phase
        costs = self.costs_of(self.run.name_for(phase))
        self.progress = Progress(phase.value, self.log, costs, finished, failed)

    def costs_of(self, study_name: str) -> tuple[str, ...]:
        """The cost objectives of one of the run's studies: the search's in the search study,
        MACs in a family, ablation or budget study (in a 0.2 study, every phase's are the
        search's)."""
        return self.space.search.costs if study_name == self.run.name else ("macs",)

    def draw(self, trial: Trial) -> Drawn:
        """An asked trial's point and phase, read and sampled in its study (its heartbeat
        starts: it is this driver's until told)."""
        self.heartbeat.add(optuna_private.trial_id(trial))
        return draw(trial, self.space, self.phase)

    def build(self, drawn: Drawn) -> BuiltTrial:
        """What a drawn trial trains (pure: may run beside the driver, `prefetch`)."""
        config = self.config
        return build_trial(
            self.space,
            drawn,
            config.proxy,
            config.data_dir,
            config.seed,
            self.version,
            self.driver,
        )

    def prepare(self, trial: Trial, built: BuiltTrial | None = None) -> TrialConfig | Told:
        """Writes the trial's record and returns what it trains, or why it was told at once;
        `built`: what `build` made of it ahead (else it is drawn and built now)."""
        if built is None:
            built = self.build(self.draw(trial))
        phase = built.record.phase
        assert phase is not None
        built.record.write(trial, built.constraints)
        if built.prune_reason:
            self.tell(trial, Verdict(TrialState.PRUNED, reason=built.prune_reason))
            return Told.PRUNED
        twin = self.lookups.twin(
            self._twin_studies(trial, phase), built.record.train_key, trial, phase
        )
        if twin is None:
            TrialRecord(took_slot=True).write(trial)
            timed = self.lookups.latency(self.run.studies(), built.record.spec_hash)
            if timed is None:
                return built.config
            timed.write(trial)
            return dataclasses.replace(built.config, latency_batch=None)
        where, found = twin
        other = None if where == trial.study.study_name else where
        verdict, copied = twin_verdict(found, other, self._unseen(trial, phase, found, other))
        copied.write(trial)
        self.tell(trial, verdict)
        return Told.DUPLICATE

    def _unseen(
        self, trial: Trial, phase: Phase, twin: optuna.trial.FrozenTrial, other: str | None
    ) -> bool:
        """A search trial may not see its twin yet (under rolling asks: one of the last
        `batch_size` trained trials before it, ended or not by the load): then the twin
        counts as still training."""
        if phase != Phase.SEARCH or other is not None:
            return False
        return self.asks.in_flight(
            trial.study.get_trials(deepcopy=False), trial.number, twin.number
        )

    def _twin_studies(self, trial: Trial, phase: Phase) -> list[optuna.Study]:
        """The studies whose trainings a trial of `phase` may repeat: its own, and for
        family, check and ablation members each other's (they train alike)."""
        if phase in SEARCH_PHASES or phase == Phase.BUDGET:
            return [trial.study]
        found = [self.run.study_for(p) for p in (Phase.FAMILY, Phase.ABLATION)]
        own = self.run.study_for(phase)
        return [own, *(s for s in found if s is not None and s is not own)]

    def abandon(self, trial: Trial, reason: str) -> None:
        """Ends FAIL a trial asked but not handed to a slot, if it still runs: a resume then
        trains it again at once instead of waiting for its heartbeat to go stale."""
        if optuna_private.trial_state(trial) == TrialState.RUNNING:
            self.tell(trial, Verdict(TrialState.FAIL, reason=reason))

    def tell(self, trial: Trial, verdict: Verdict) -> None:
        """Ends the trial in its study and logs its line."""
        if verdict.reason:
            field_name = "error" if verdict.state == TrialState.FAIL else "stop_reason"
            TrialRecord(**{field_name: verdict.reason}).write(trial)
        values = None
        if verdict.state == TrialState.COMPLETE:
            values = self._objective_values(trial, verdict.accuracy)
            if values is None:
                verdict = Verdict(TrialState.FAIL, reason="no latency was measured", failure=True)
                TrialRecord(error=verdict.reason).write(trial)
        trial.study.tell(trial, values=values, state=verdict.state)
        self.heartbeat.discard(optuna_private.trial_id(trial))
        record = TrialRecord.from_trial(trial)
        accuracy = values[0] if values else None
        self.progress.told(
            trial.number,
            verdict.state,
            record,
            accuracy,
            verdict.reason,
            self.running(),
            self.clock(),
            _label(record),
        )

    def ended(self, live, result: dict | None, crashed: bool, out_of_time: bool) -> Verdict:
        """Writes what a trial that Tune reports ended measured and returns how it ends
        (`outcome.decide`); `live` is the driver's `LiveTrial`."""
        outcome = ProxyOutcome.from_report(result or {})
        accuracies = outcome.val_accuracies if outcome else live.accuracies
        if not accuracies and result and "val_accuracy" in result:
            accuracies = [result["val_accuracy"]]  # stopped at its first report
        verdict = decide(
            outcome,
            len(accuracies),
            crashed=crashed,
            early_stopped=live.stopped_early,
            out_of_time=out_of_time,
        )
        record = TrialRecord(
            seconds=time.monotonic() - live.started,
            val_accuracies=accuracies,
            node_id=(outcome.node_id if outcome else None) or (result or {}).get("node_id"),
            latency_ms=live.latency_ms,  # a stopped trial's too: later rungs rank against it
        )
        if verdict.state != TrialState.FAIL:  # a stopped trial measured its epochs too
            record = with_measured(record, outcome)
        if verdict.state == TrialState.PRUNED and live.stopped_early:
            record = dataclasses.replace(record, stopped_by=live.stopped_early)
        record.write(live.trial)
        return verdict

    def _objective_values(self, trial: Trial, accuracy: float) -> list[float] | None:
        """[accuracy, *costs] in the trial's study's objective order; None if one is missing."""
        values = [cost_value(trial, c) for c in self.costs_of(trial.study.study_name)]
        return None if None in values else [accuracy, *values]


def _label(record: TrialRecord) -> str:
    """What a progress line calls a trial's phase: a budget's with its factor."""
    assert record.phase is not None
    if record.phase == Phase.BUDGET:
        return f"budget {record.budget_factor:g}x"
    return record.phase.value
