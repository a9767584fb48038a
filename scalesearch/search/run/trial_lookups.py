"""A driver's look-ups over its run's trials, at every ask: the twin that trained a trial's
training already, and the latency its network was timed at.

A look-up once read every trial of the studies at every ask (40 ms of an ask at 5,000
trials). A finished trial never changes, so each study's earliest trial per key is kept
over its first trials, all finished, and a look-up reads only the trials after them (the
running ones, whose records still change, are read each time).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterator

import optuna
from optuna.trial import FrozenTrial, Trial, TrialState

from scalesearch.search.run.trial_build import LATENCY_FIELDS
from scalesearch.search.store.schema import Phase, TrialRecord
from scalesearch.search.store.storage import settled_from

Keys = Callable[[FrozenTrial], Iterator[Hashable]]


class EarliestByKey:
    """The earliest trial of one study that answers each key (`keys`: what a trial
    answers)."""

    def __init__(self, keys: Keys) -> None:
        self.keys = keys
        self._first: dict[Hashable, FrozenTrial] = {}
        self._end = 0  # the study's trials below this number are finished and indexed

    def earliest(
        self, trials: list[FrozenTrial], key: Hashable, skip: int | None = None
    ) -> FrozenTrial | None:
        """The earliest of `trials` (the study's, by number) answering `key`, trial number
        `skip` aside (the one asking, which is not finished)."""
        for trial in settled_from(trials, self._end):
            for answered in self.keys(trial):
                self._first.setdefault(answered, trial)
            self._end += 1
        if key in self._first:
            return self._first[key]
        later = trials[self._end :] if len(trials) > self._end else []
        return next((t for t in later if t.number != skip and key in set(self.keys(t))), None)


def twin_keys(trial: FrozenTrial) -> Iterator[Hashable]:
    """("any", key) for a trial that trained (or trains) `key` itself and did not fail;
    ("whole", key) where it was not stopped early either."""
    record = TrialRecord.from_trial(trial)
    if record.train_key is None or record.duplicate_of is not None:
        return
    if trial.state == TrialState.FAIL:
        return
    yield ("any", record.train_key)
    if not (trial.state == TrialState.PRUNED and record.stopped_early):
        yield ("whole", record.train_key)


def latency_keys(trial: FrozenTrial) -> Iterator[Hashable]:
    """The spec hash of a trial that timed its network."""
    record = TrialRecord.from_trial(trial)
    if record.spec_hash is not None and record.latency_ms is not None:
        yield record.spec_hash


class TrialLookups:
    """One driver's indexes, a pair per study."""

    def __init__(self) -> None:
        self._twins: dict[str, EarliestByKey] = {}
        self._latencies: dict[str, EarliestByKey] = {}

    def twin(
        self, studies: list[optuna.Study], train_key: str, trial: Trial, phase: Phase
    ) -> tuple[str, FrozenTrial] | None:
        """The earliest other trial (of `studies`: those that train as `phase` does) with
        this train_key that trained (or is training) it and did not fail, with its study's
        name: its result stands for this one. A failed twin is retried, not copied. Outside
        the search, only a twin that trained to the end stands: a replicate, family or
        ablation member trains in full where the search stopped its twin early."""
        key = ("any" if phase == Phase.SEARCH else "whole", train_key)
        for study in studies:
            own = study.study_name == trial.study.study_name
            index = self._twins.setdefault(study.study_name, EarliestByKey(twin_keys))
            found = index.earliest(
                study.get_trials(deepcopy=False), key, trial.number if own else None
            )
            if found is not None:
                return study.study_name, found
        return None

    def latency(self, studies: list[optuna.Study], spec_hash: str | None) -> TrialRecord | None:
        """The latency fields of the earliest trial (of `studies`) that measured this
        spec's: a latency belongs to the network, not to its training, so an architecture
        trained again (another seed, a family copy, another phase) is not timed again."""
        if spec_hash is None:
            return None
        for study in studies:
            index = self._latencies.setdefault(study.study_name, EarliestByKey(latency_keys))
            found = index.earliest(study.get_trials(deepcopy=False), spec_hash)
            if found is not None:
                record = TrialRecord.from_trial(found)
                return TrialRecord(**{k: getattr(record, k) for k in LATENCY_FIELDS})
        return None
