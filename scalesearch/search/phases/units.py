"""A phase's work as planned units, each trained once in the run, whichever driver trains it.

The race, the family (with the defaults' check), the budgets and the ablation each plan their
units: an architecture's parameters, the record its trial starts with (its phase and what
marks it apart: φ, seed, strategy...), the study it trains in. `PlannedUnits` serves them to
an executor one trial at a time: a unit with a finished or running trial is done, a unit
another driver claimed is left to it (`schema.claim_next_try`, whose key counts the unit's
failed tries), and the next is enqueued in its study and asked. A unit whose training a
finished trial already is (the family's search-φ member when the family trains as the proxy
does) is recorded as a copy of it instead of training again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from optuna.trial import FrozenTrial, Trial

from scalesearch.search.costs import costs_of_metrics
from scalesearch.search.store.schema import Phase, TrialRecord, claim_next_try, copied_trial, taken
from scalesearch.search.store.studies import RunStudies


@dataclass(frozen=True)
class Unit:
    """One training to do: claimed under `key` (and its try count), enqueued with `params`
    and `record`, in the study of `record.phase` (a budget's: of `record.budget_factor`)."""

    key: str
    params: dict[str, Any]
    record: TrialRecord
    copy_of: FrozenTrial | None = None  # a finished trial whose very training this unit is

    @property
    def phase(self) -> Phase:
        assert self.record.phase is not None
        return self.record.phase

    def matches(self, trial: FrozenTrial) -> bool:
        """The trial is a try of this unit: its parameters, and every attribute the unit
        starts its trials with."""
        return trial.params == self.params and self.record.held_by(trial)


class UnitSource(Protocol):
    """What serves a phase's planned trainings: the next trial, and how many are left."""

    def __call__(self) -> Trial | None: ...

    def remaining(self) -> int: ...


class PlannedUnits:
    """Serves `units` in order, one `Trial` per call (None when none is left to take)."""

    def __init__(self, run: RunStudies, storage_url: str, driver: str, units: Sequence[Unit]):
        self.run, self.url, self.driver = run, storage_url, driver
        self.units = list(units)

    def tries(self, unit: Unit) -> list[FrozenTrial]:
        """The unit's trials so far (failed tries included)."""
        trials = self.run.trials(unit.phase, factor=unit.record.budget_factor)
        return [t for t in trials if unit.matches(t)]

    def remaining(self) -> int:
        """Units not yet finished or running (in this run, by any driver)."""
        return sum(not taken(self.tries(u)) for u in self.units)

    def __call__(self) -> Trial | None:
        for unit in self.units:
            if not claim_next_try(self.url, self.run.name, unit.key, self.tries(unit), self.driver):
                continue
            study = self.run.study_for(unit.phase, create=True, factor=unit.record.budget_factor)
            if unit.copy_of is not None:
                record = TrialRecord(
                    phase=unit.phase, copied_from=unit.copy_of.number, driver=self.driver
                )
                study.add_trial(
                    copied_trial(unit.copy_of, record, costs_of_metrics(study.metric_names))
                )
                continue
            unit.record.enqueue(study, unit.params)
            # ask() takes the oldest enqueued trial: maybe another driver's, which is as good,
            # since that driver's ask() then takes this one.
            return study.ask()
        return None
