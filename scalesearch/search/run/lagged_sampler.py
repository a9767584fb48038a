"""A sampler that sees a fixed history: trial n is sampled from the trials that had ended
before the `lag` trained trials preceding it.

Why: with `asks: rolling` a freed slot takes the next trial at once instead of waiting for
its batch's slowest trial, so when trial n is asked, which of the `lag` trials before it have
ended depends on the machine's load. A sampler reading the live study would then draw from a
history that varies from run to run, and the same seed would no longer give the same trials.
The driver asks trial n only once every trial below `settled_below(n)` — the number of the
lag-th last trial before n that took a slot — has ended; this wrapper shows the sampler
exactly those, as they are, and the trained trials from there to n as still running (what
TPE's constant liar, or the GP's batch acquisition, expects of a trial in flight). Trials told
at once (duplicates, pruned before training) take no slot and are shown as they are: their
state was decided when they were asked. All of it is the same whatever ended first: the
sequence is fixed by the seed.

The wrapped sampler (TPE, GP, NSGA-II, random) is unchanged; only its view of the study is.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable
from typing import Any

import optuna
from optuna.distributions import BaseDistribution
from optuna.samplers import BaseSampler
from optuna.trial import FrozenTrial, TrialState

from scalesearch.search.store.optuna_private import as_running, study_view
from scalesearch.search.store.schema import TrialRecord
from scalesearch.search.store.storage import settled_from


def took_slot(trial: FrozenTrial) -> bool:
    """Whether the trial trained (a study from before the mark: any but a duplicate)."""
    record = TrialRecord.from_trial(trial)
    return record.took_slot if record.took_slot is not None else record.duplicate_of is None


def settled_below(trials: list[FrozenTrial], number: int, lag: int) -> int:
    """The number below which trial `number` sees every trial ended: that of the `lag`-th
    last trial before it that took a slot (0 while fewer trained)."""
    slotted = [t.number for t in trials if t.number < number and took_slot(t)]
    return slotted[-lag] if len(slotted) >= lag else 0


class Settled:
    """`settled_below` with a lag, computed once per trial number: it reads only whether each
    earlier trial took a slot, which is final once that trial was asked, so it never
    changes once every trial before n has its mark (the study is then not read again). The
    slot-takers among the study's first `_end` trials, all marked, are kept, so each new
    number reads only the trials after them (at 5,000 trials a scan of every trial at every
    ask was 50 ms)."""

    def __init__(self, lag: int) -> None:
        if lag < 1:
            raise ValueError(f"lag must be >= 1, but got {lag}")
        self.lag = lag
        self._known: dict[int, int] = {}
        self._slotted: list[int] = []  # numbers below `_end` that took a slot, in order
        self._end = 0

    def __call__(self, trials: Callable[[], list[FrozenTrial]], number: int) -> int:
        if number in self._known:
            return self._known[number]
        listed = trials()
        for trial in settled_from(listed, self._end, _marked):
            if took_slot(trial):
                self._slotted.append(trial.number)
            self._end += 1
        slotted = self._slotted[: bisect.bisect_left(self._slotted, number)]
        if self._end < number:
            later = listed[self._end :] if len(listed) > self._end else []
            slotted += [t.number for t in later if t.number < number and took_slot(t)]
        value = slotted[-self.lag] if len(slotted) >= self.lag else 0
        if self._end >= number:
            self._known[number] = value
        return value


def _marked(trial: FrozenTrial) -> bool:
    """Its slot mark is final: written when it was asked, or it ended (a study from before
    the mark, or a trial told at once)."""
    return TrialRecord.from_trial(trial).took_slot is not None or trial.state.is_finished()


class LaggedSampler(BaseSampler):
    """`base`, shown for trial n the trials below `settled(n)` as they are and the trained
    ones from there to n as running (the driver's gate makes that view the same every
    run)."""

    def __init__(self, base: BaseSampler, settled: Settled) -> None:
        self.base, self.settled = base, settled

    def infer_relative_search_space(
        self, study: optuna.Study, trial: FrozenTrial
    ) -> dict[str, BaseDistribution]:
        return self.base.infer_relative_search_space(self._view(study, trial), trial)

    def sample_relative(
        self, study: optuna.Study, trial: FrozenTrial, search_space: dict[str, BaseDistribution]
    ) -> dict[str, Any]:
        return self.base.sample_relative(self._view(study, trial), trial, search_space)

    def sample_independent(
        self,
        study: optuna.Study,
        trial: FrozenTrial,
        param_name: str,
        param_distribution: BaseDistribution,
    ) -> Any:
        view = self._view(study, trial)
        return self.base.sample_independent(view, trial, param_name, param_distribution)

    def before_trial(self, study: optuna.Study, trial: FrozenTrial) -> None:
        self.base.before_trial(study, trial)

    def after_trial(
        self,
        study: optuna.Study,
        trial: FrozenTrial,
        state: TrialState,
        values: list[float] | None,
    ) -> None:
        self.base.after_trial(study, trial, state, values)

    def reseed_rng(self) -> None:
        self.base.reseed_rng()

    def _view(self, study: optuna.Study, trial: FrozenTrial) -> optuna.Study:
        """The study as the sampler of `trial` may see it (same storage, filtered trials):
        below `settled` as stored; the trained ones from `settled` up to the trial being
        sampled shown running; the rest as stored."""
        settled = self.settled(lambda: study.get_trials(deepcopy=False), trial.number)

        def seen(t: FrozenTrial) -> FrozenTrial:
            unseen = settled <= t.number < trial.number and t.state != TrialState.RUNNING
            return as_running(t) if unseen and took_slot(t) else t

        return study_view(study, seen)
