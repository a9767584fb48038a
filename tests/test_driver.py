"""The search driver's decisions, without Ray: a real SQLite study, real heartbeats.

Tune's calls (`suggest`, `on_result`, `on_complete`) are made here directly with the
results a trainable would report, so every state mapping is checked on its own.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from optuna.trial import TrialState

from scalesearch.search import storage
from scalesearch.search.driver import FINISHED, MAX_FAILURES_IN_A_ROW, SearchDriver
from scalesearch.search.heartbeat import Heartbeat
from scalesearch.search.lifecycle import config_from_flags, open_study
from scalesearch.search.outcome import CRASHED_REASON, ProxyOutcome, Verdict, decide
from scalesearch.search.schema import Phase, TrialRecord
from scalesearch.search.space import load_space
from tests.conftest import write_space

COMPLETE = ProxyOutcome(
    status="completed",
    val_accuracies=[0.5, 0.75],
    val_accuracy=0.75,
    train_loss_sum=12.5,
    images_per_second=300.0,
    train_seconds=2.0,
    node_id="node-a",
)


@pytest.mark.parametrize(
    ("outcome", "flags", "expected"),
    [
        (COMPLETE, {}, Verdict(TrialState.COMPLETE, accuracy=0.75)),
        (
            ProxyOutcome(status="diverged", reason="non-finite loss"),
            {},
            Verdict(TrialState.FAIL, reason="non-finite loss", failure=True),
        ),
        (
            ProxyOutcome(status="error", reason="RuntimeError: boom"),
            {},
            Verdict(TrialState.FAIL, reason="RuntimeError: boom", failure=True),
        ),
        (None, {"crashed": True}, Verdict(TrialState.FAIL, reason=CRASHED_REASON, failure=True)),
        (
            None,
            {"early_stopped": True},
            Verdict(TrialState.PRUNED, reason="stopped early by ASHA after 1 epoch(s)"),
        ),
        (
            None,
            {"out_of_time": True},
            Verdict(TrialState.FAIL, reason="stopped before the end: the time budget ran out"),
        ),
        (
            None,
            {},
            Verdict(TrialState.FAIL, reason="stopped before the end: the search was interrupted"),
        ),
        # A crash wins over a result that arrived: the process died after reporting.
        (
            COMPLETE,
            {"crashed": True},
            Verdict(TrialState.FAIL, reason=CRASHED_REASON, failure=True),
        ),
    ],
)
def test_decide_maps_every_ending_to_one_state(outcome, flags, expected) -> None:
    assert decide(outcome, epochs_reported=1, **flags) == expected


def test_an_outcome_survives_tune_s_result_dict() -> None:
    report = COMPLETE.to_report()
    assert report["final"] and report["epoch"] == 2 and report["val_accuracy"] == 0.75
    assert ProxyOutcome.from_report({**report, "time_this_iter_s": 1.0}) == COMPLETE
    assert ProxyOutcome.from_report({"epoch": 1, "val_accuracy": 0.5}) is None


def test_a_record_keeps_the_stored_attribute_names() -> None:
    record = TrialRecord(phase=Phase.FAMILY, phi=2.0, seconds=3.5, version="0.1.0")
    attrs = record.to_attrs()
    assert attrs == {
        "phase": "family",
        "phi": 2.0,
        "wall_seconds": 3.5,
        "scalesearch_version": "0.1.0",
    }
    assert TrialRecord.from_attrs(attrs) == record
    assert TrialRecord.from_attrs({}).phase == Phase.SEARCH  # a trial written elsewhere
    assert TrialRecord(error="x").to_attrs() == {"error": "x"}  # partial: no phase written


@pytest.fixture
def driver(tmp_path: Path):
    """A driver on a fresh study of a 3-trial space, with its heartbeat running."""
    space = load_space(write_space(tmp_path, "unit", {"trials: 24": "trials: 3"}))
    config = config_from_flags(
        space, tmp_path, storage=storage.default_storage(tmp_path), study_name="unit", trials=None
    )
    study = open_study(config, "host:1")
    with Heartbeat(study) as beat:
        yield SearchDriver(
            config, study, beat, num_classes=10, driver="host:1", log=lambda line: None
        )


def _suggest(driver: SearchDriver, tune_id: str):
    return driver.suggest(tune_id, driver.study.ask)


def test_suggest_builds_and_records_the_spec(driver) -> None:
    config = _suggest(driver, "t0")
    (trial,) = driver.study.get_trials(deepcopy=False)
    record = TrialRecord.from_trial(trial)
    assert record.phase == Phase.SEARCH and record.phi == 1.0 and record.driver == "host:1"
    assert record.arch().num_classes == 10 and record.spec == config["spec"]
    assert record.macs == config["macs"] > 0
    assert driver.live["t0"].trial.number == trial.number


def test_a_completed_outcome_is_complete_with_its_measurements(driver) -> None:
    _suggest(driver, "t0")
    driver.on_result("t0", {"epoch": 1, "val_accuracy": 0.5})
    driver.on_complete("t0", COMPLETE.to_report(), crashed=False, early_stopped=False)
    (trial,) = driver.study.get_trials(deepcopy=False)
    record = TrialRecord.from_trial(trial)
    assert trial.state == TrialState.COMPLETE and trial.values == [0.75, record.macs]
    assert record.val_accuracies == [0.5, 0.75] and record.train_loss_sum == 12.5
    assert record.node_id == "node-a" and record.seconds >= 0
    assert not driver.live and not driver.heartbeat.trials


def test_early_stopped_is_pruned_with_the_epochs_it_reported(driver) -> None:
    _suggest(driver, "t0")
    driver.on_result("t0", {"epoch": 1, "val_accuracy": 0.2})
    driver.on_complete("t0", {"epoch": 1, "val_accuracy": 0.2}, crashed=False, early_stopped=True)
    (trial,) = driver.study.get_trials(deepcopy=False)
    assert trial.state == TrialState.PRUNED
    assert trial.user_attrs["stop_reason"] == "stopped early by ASHA after 1 epoch(s)"
    assert trial.user_attrs["val_accuracies"] == [0.2]


def test_over_the_macs_budget_is_pruned_before_training(tmp_path) -> None:
    space = load_space(write_space(tmp_path, "dear", {"max_macs: 2.0e+8": "max_macs: 1.0e+6"}))
    config = config_from_flags(
        space, tmp_path, storage=storage.default_storage(tmp_path), study_name="dear", trials=2
    )
    study = open_study(config, "host:1")
    with Heartbeat(study) as beat:
        driver = SearchDriver(config, study, beat, 10, "host:1", log=lambda line: None)
        assert _suggest(driver, "t0") == FINISHED  # both trials pruned, the budget is spent
    assert [t.state for t in study.trials] == [TrialState.PRUNED] * 2
    assert all("over the MACs budget" in t.user_attrs["stop_reason"] for t in study.trials)


def test_failures_in_a_row_stop_the_search(driver) -> None:
    for i in range(MAX_FAILURES_IN_A_ROW):
        _suggest(driver, f"t{i}")
        driver.on_complete(f"t{i}", None, crashed=True, early_stopped=False)
    assert driver.failing() and driver.last_error == CRASHED_REASON
    assert _suggest(driver, "t9") == FINISHED
    assert [t.state for t in driver.study.trials] == [TrialState.FAIL] * MAX_FAILURES_IN_A_ROW


def test_an_interruption_is_no_failure_and_a_success_resets_the_count(driver) -> None:
    _suggest(driver, "t0")
    driver.on_complete("t0", None, crashed=True, early_stopped=False)
    _suggest(driver, "t1")
    driver.on_complete("t1", None, crashed=False, early_stopped=False)  # interrupted
    assert driver.failures_in_a_row == 1
    _suggest(driver, "t2")
    driver.on_complete("t2", COMPLETE.to_report(), crashed=False, early_stopped=False)
    assert driver.failures_in_a_row == 0


def test_the_budget_counts_finished_trials_and_waits_for_running_ones(driver) -> None:
    for i in range(3):
        assert isinstance(_suggest(driver, f"t{i}"), dict)
    driver._waiting_since = -1.0
    assert _suggest(driver, "t3") is None  # three running fill the budget: wait
    for i in range(3):
        driver.on_complete(f"t{i}", COMPLETE.to_report(), crashed=False, early_stopped=False)
    driver._waiting_since = -1.0
    assert _suggest(driver, "t3") == FINISHED
    assert len(driver.study.trials) == 3


def test_fail_live_ends_what_tune_left_running(driver) -> None:
    _suggest(driver, "t0")
    driver.fail_live("the search was interrupted")
    (trial,) = driver.study.get_trials(deepcopy=False)
    assert trial.state == TrialState.FAIL
    assert trial.user_attrs["error"] == "the search was interrupted"
    assert not driver.live
