"""A driver's twin and latency look-ups keep each study's finished trials indexed; they must
answer as a read of every trial would, as trials run, finish, fail and are stopped early."""

from __future__ import annotations

import optuna
from optuna.trial import TrialState

from scalesearch.search.run.trial_lookups import TrialLookups
from scalesearch.search.store.schema import Phase, TrialRecord


def _trial(study: optuna.Study, key: str, **fields) -> optuna.Trial:
    trial = study.ask()
    TrialRecord(train_key=key, spec_hash=f"spec-{key}", **fields).write(trial)
    return trial


def test_the_earliest_twin_as_trials_run_finish_fail_and_stop_early() -> None:
    study = optuna.create_study(directions=["maximize", "minimize"])
    lookups = TrialLookups()
    failed = _trial(study, "a")
    study.tell(failed, state=TrialState.FAIL)
    asking = _trial(study, "a")
    assert lookups.twin([study], "a", asking, Phase.SEARCH) is None  # a failure is retried
    study.tell(asking, [0.5, 1.0])
    copy = _trial(study, "a", duplicate_of=asking.number)
    study.tell(copy, [0.5, 1.0])
    later = _trial(study, "a")
    name, found = lookups.twin([study], "a", later, Phase.SEARCH)
    assert (name, found.number) == (study.study_name, asking.number)  # kept, not the copy
    study.tell(later, [0.6, 1.0])

    stopped = _trial(study, "b", stopped_by="rung 1")
    running = _trial(study, "c")  # unfinished: read afresh at every look-up
    for phase in (Phase.SEARCH, Phase.FAMILY):  # still training: it stands for both
        asker = _trial(study, "b")
        assert lookups.twin([study], "b", asker, phase)[1].number == stopped.number
        study.tell(asker, state=TrialState.FAIL)
    study.tell(stopped, state=TrialState.PRUNED)  # cut short, and final now: indexed
    assert lookups.twin([study], "b", _trial(study, "b"), Phase.FAMILY) is None
    assert lookups.twin([study], "b", _trial(study, "b"), Phase.SEARCH)[1].number == stopped.number
    assert lookups.twin([study], "c", _trial(study, "c"), Phase.SEARCH)[1].number == running.number
    asker = _trial(study, "c")
    assert lookups.twin([study], "c", asker, Phase.SEARCH)[1].number == running.number
    assert lookups.twin([study], "d", asker, Phase.SEARCH) is None


def test_a_latency_is_the_earliest_timing_of_the_network_in_any_study() -> None:
    search, family = optuna.create_study(), optuna.create_study()
    lookups = TrialLookups()
    untimed = _trial(search, "a")
    search.tell(untimed, 0.5)
    assert lookups.latency([search, family], "spec-a") is None
    running = _trial(family, "a", latency_ms=8.5, latency_device="cpu")
    timed = lookups.latency([search, family], "spec-a")
    assert (timed.latency_ms, timed.latency_device, timed.train_key) == (8.5, "cpu", None)
    family.tell(running, 0.5)
    later = _trial(search, "a", latency_ms=9.9)
    search.tell(later, 0.6)
    assert lookups.latency([search, family], "spec-a").latency_ms == 9.9  # search's first
    assert lookups.latency([search, family], None) is None
