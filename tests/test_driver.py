"""The search driver's decisions, without Ray: a real SQLite study, real heartbeats.

Tune's calls (`suggest`, `on_result`, `on_complete`) are made here directly with the
results a trainable would report, so every state mapping is checked on its own.
"""

from __future__ import annotations

import contextlib
import dataclasses
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from scalesearch.arch.equal_cost import count_runtime
from scalesearch.search.config import config_from_flags
from scalesearch.search.phases.family import early_check_units, family_phase
from scalesearch.search.phases.race import RaceRounds
from scalesearch.search.phases.units import PlannedUnits
from scalesearch.search.run.asking import MAX_DUPLICATES_IN_A_ROW, MAX_FAILURES_IN_A_ROW, Ask
from scalesearch.search.run.driver import SearchDriver
from scalesearch.search.run.heartbeat import Heartbeat
from scalesearch.search.run.lifecycle import open_study
from scalesearch.search.run.outcome import CRASHED_REASON, ProxyOutcome, Verdict, decide
from scalesearch.search.run.trainable import TrialConfig
from scalesearch.search.space import load_space
from scalesearch.search.store import storage
from scalesearch.search.store.schema import (
    COST_TARGET,
    MACS_BUDGET,
    Phase,
    TrialRecord,
    claim_next_try,
    taken,
)
from tests.helpers import LAYERS_OBJECTIVE, NO_RACE, write_space

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
            {"early_stopped": "ASHA"},
            Verdict(TrialState.PRUNED, reason="stopped early by ASHA after 1 epoch(s)"),
        ),
        (
            None,
            {"early_stopped": "MOASHA on accuracy and latency"},
            Verdict(
                TrialState.PRUNED,
                reason="stopped early by MOASHA on accuracy and latency after 1 epoch(s)",
            ),
        ),
        # The trial ended itself on the driver's stop: its "stopped" outcome is the prune.
        (
            ProxyOutcome(status="stopped", reason="stopped after epoch 1 by the caller"),
            {"early_stopped": "ASHA"},
            Verdict(TrialState.PRUNED, reason="stopped early by ASHA after 1 epoch(s)"),
        ),
        (
            ProxyOutcome(status="stopped", reason="stopped after epoch 1 by the caller"),
            {},
            Verdict(TrialState.FAIL, reason="stopped after epoch 1 by the caller", failure=True),
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


@contextlib.contextmanager
def make_driver(tmp_path: Path, trials: int = 3, replacements: dict | None = None):
    """A driver on a fresh study of a small space, with its heartbeat running."""
    space = load_space(write_space(tmp_path, "unit", replacements or {}, trials=trials))
    config = config_from_flags(
        space,
        tmp_path,
        storage=storage.default_storage(tmp_path),
        study_name="unit",
        trials=None,
    )
    run = open_study(config, "host:1")
    with Heartbeat(run.search) as beat:
        yield SearchDriver(
            config, run, beat, num_classes=10, driver="host:1", log=lambda line: None
        )


@pytest.fixture
def driver(tmp_path: Path):
    with make_driver(tmp_path) as made:
        yield made


def _report(accuracies: list[float]) -> dict:
    return ProxyOutcome(
        status="completed", val_accuracies=accuracies, val_accuracy=accuracies[-1], val_images=400
    ).to_report()


def _suggest(driver: SearchDriver, tune_id: str):
    return driver.suggest(tune_id, driver.run.search.ask)


def test_suggest_builds_and_records_the_spec(driver) -> None:
    config = _suggest(driver, "t0")
    (trial,) = driver.run.search.get_trials(deepcopy=False)
    record = TrialRecord.from_trial(trial)
    assert record.phase == Phase.SEARCH and record.phi == 1.0 and record.driver == "host:1"
    assert record.arch().num_classes == 10 and record.spec == config.spec
    assert record.macs == config.macs > 0
    assert driver.live["t0"].trial.number == trial.number
    # Feasible: within the MACs budget and the equal-cost tolerance (Optuna 5 constraints).
    assert trial.constraints[MACS_BUDGET] == pytest.approx(record.macs / 2e8 - 1)
    assert abs(record.cost_ratio - 1) - 0.1 == pytest.approx(trial.constraints[COST_TARGET])
    assert max(trial.constraints.values()) <= 0


def test_a_completed_outcome_is_complete_with_its_measurements(driver) -> None:
    _suggest(driver, "t0")
    driver.on_result("t0", {"epoch": 1, "val_accuracy": 0.5})
    driver.on_complete("t0", COMPLETE.to_report(), crashed=False)
    (trial,) = driver.run.search.get_trials(deepcopy=False)
    record = TrialRecord.from_trial(trial)
    # At equal MACs the search's second objective is the count of sequential layers.
    assert trial.state == TrialState.COMPLETE and trial.values == [0.75, record.layers]
    assert record.layers == count_runtime(record.arch()).layers > 0
    assert record.val_accuracies == [0.5, 0.75] and record.train_loss_sum == 12.5
    # The slot's wall time: from the ask (realisation takes milliseconds) to the outcome.
    assert record.node_id == "node-a" and 0 < record.seconds < 60
    assert not driver.live and not driver.ledger.heartbeat.trials


def test_early_stopping_ranks_against_earlier_batches_only(tmp_path) -> None:
    """ASHA, where every compared cost is level: a space searching on accuracy and MACs."""
    on_macs = {
        LAYERS_OBJECTIVE: "  objectives: {accuracy: maximize, macs: minimize}\n",
        "batch_size: 2": "batch_size: 2\n  asks: batch",
    }
    with make_driver(tmp_path, trials=8, replacements=on_macs) as driver:
        for batch in range(2):  # four trials in two batches: 0.5, 0.6, 0.7, 0.8 at epoch 1
            ids = [f"b{batch}t{i}" for i in range(2)]
            for tune_id in ids:
                assert isinstance(_suggest(driver, tune_id), TrialConfig)
            for i, tune_id in enumerate(ids):
                acc = 0.5 + 0.1 * (2 * batch + i)
                assert not driver.should_stop(tune_id, 1, acc)  # too little history yet
                driver.on_complete(tune_id, _report([acc, acc + 0.05]), crashed=False)
            driver.poll.freed()
        _suggest(driver, "low"), _suggest(driver, "high")
        assert driver.on_result("low", {"epoch": 1, "val_accuracy": 0.65})  # below 0.7
        assert not driver.on_result("high", {"epoch": 1, "val_accuracy": 0.75})
        stopped = ProxyOutcome(status="stopped", val_accuracies=[0.65], val_accuracy=0.65)
        driver.on_result("low", stopped.to_report())  # the trial ends itself: told here
        low = driver.run.search.trials[4]
        assert low.state == TrialState.PRUNED
        assert low.user_attrs["stop_reason"] == "stopped early by ASHA after 1 epoch(s)"
        assert low.user_attrs["val_accuracies"] == [0.65]


@pytest.mark.parametrize("asks", ["rolling", "batch", "free"])
def test_the_next_trial_is_asked_after_its_batch_or_as_soon_as_a_slot_frees(tmp_path, asks) -> None:
    with make_driver(
        tmp_path, trials=4, replacements={"batch_size: 2": f"batch_size: 2\n  asks: {asks}"}
    ) as driver:
        assert isinstance(_suggest(driver, "t0"), TrialConfig)
        assert isinstance(_suggest(driver, "t1"), TrialConfig)
        assert _suggest(driver, "t2") is Ask.LATER  # two train at once either way
        driver.on_result("t0", _report([0.6, 0.7]))
        driver.poll.freed()
        third = _suggest(driver, "t2")
        if asks == "batch":
            assert third is Ask.LATER  # t1 still trains: the batch is not told yet
        else:
            assert isinstance(third, TrialConfig)
            # free: ranked against what ended before it was asked; rolling: against the
            # trials two or more places before it (none yet), whatever ended first
            assert driver.live["t2"].batch_start == (2 if asks == "free" else 0)


def test_a_rolling_ask_waits_for_every_trial_two_places_before_it(tmp_path) -> None:
    with make_driver(tmp_path, trials=6) as driver:  # rolling asks, two slots: the defaults
        assert driver.gate.mode == "rolling"
        for tune_id in ("t0", "t1"):
            assert isinstance(_suggest(driver, tune_id), TrialConfig)
        driver.on_complete("t1", _report([0.6, 0.7]), crashed=False)
        driver.poll.freed()
        assert isinstance(_suggest(driver, "t2"), TrialConfig)  # trial 0 may still run
        driver.on_complete("t2", _report([0.6, 0.7]), crashed=False)
        driver.poll.freed()
        assert _suggest(driver, "t3") is Ask.LATER  # trial 3 needs trial 0 ended: it runs
        driver.on_complete("t0", _report([0.6, 0.7]), crashed=False)
        driver.poll.freed()
        assert isinstance(_suggest(driver, "t3"), TrialConfig)
        assert driver.live["t3"].batch_start == 1  # ranked against trial 0 only


def test_a_rolling_lag_counts_trained_trials_and_a_twin_within_it_counts_as_training(
    tmp_path,
) -> None:
    same = {"alpha": 1.25, "beta": 1.3}
    with make_driver(tmp_path, trials=6) as driver:
        driver.run.search.enqueue_trial(same)
        _suggest(driver, "t0"), _suggest(driver, "t1")
        driver.on_complete("t0", _report([0.6, 0.7]), crashed=False)
        driver.run.search.enqueue_trial(same, skip_if_exists=False)
        driver.poll.freed()
        assert isinstance(_suggest(driver, "t3"), TrialConfig)  # trial 2 is told at once
        duplicate = driver.run.search.trials[2]
        # Trial 0 has ended, but under another load it might not have: one of the last two
        # trained trials is not seen, whatever its state, so the sequence stays the same.
        assert duplicate.state == TrialState.PRUNED
        assert "still training" in duplicate.user_attrs["stop_reason"]
        driver.on_complete("t3", _report([0.6, 0.7]), crashed=False)
        driver.poll.freed()
        # Trial 4 needs trial 0 ended, not trial 1: the duplicate took no slot.
        assert isinstance(_suggest(driver, "t4"), TrialConfig)
        assert driver.live["t4"].trial.number == 4 and driver.live["t4"].batch_start == 1


def _rolling_search(tmp_path: Path, last_first: bool, ahead: bool = False) -> list[tuple]:
    """Twelve trials under rolling asks, each scored by its coefficients; the running trial
    asked last (or first) ends first; `ahead`: the next trial is asked as each one starts
    (as the Tune executor does). TPE models from the ninth on."""
    tmp_path.mkdir()
    with make_driver(tmp_path, trials=12) as driver:
        live: list[str] = []
        for n in range(100):
            config = _suggest(driver, f"t{n}")
            if config is Ask.DONE:
                break
            if isinstance(config, TrialConfig):
                live.append(f"t{n}")
                if ahead:
                    driver.ask_ahead(driver.run.search.ask)
                continue
            ending = live.pop(-1 if last_first else 0)
            params = driver.live[ending].trial.params
            score = 0.9 - (params["alpha"] - 1.3) ** 2 - (params["beta"] - 1.2) ** 2
            driver.on_complete(ending, _report([score - 0.1, score]), crashed=False)
            driver.poll.freed()
        trials = driver.run.search.get_trials(deepcopy=False)
        return [(t.number, t.params, t.state, t.values) for t in trials]


def test_rolling_asks_sample_the_same_trials_whichever_trial_ends_first(tmp_path) -> None:
    in_order = _rolling_search(tmp_path / "a", last_first=False)
    out_of_order = _rolling_search(tmp_path / "b", last_first=True)
    assert sum(t[2] == TrialState.COMPLETE for t in in_order) >= 12  # duplicates copy a twin
    assert in_order == out_of_order  # the model's asks too (from the ninth trained trial on)


def test_trials_asked_ahead_are_those_asked_when_a_slot_frees(tmp_path) -> None:
    """Asked and built while the slots train, the next trial sees what it would see when a
    slot frees: the sequence is the seed's, with and without asking ahead."""
    when_freed = _rolling_search(tmp_path / "a", last_first=False)
    ahead = _rolling_search(tmp_path / "b", last_first=True, ahead=True)
    assert ahead == when_freed


def test_a_trial_asked_ahead_waits_for_a_slot_and_ends_fail_when_none_frees(tmp_path) -> None:
    with make_driver(tmp_path, trials=6) as driver:
        _suggest(driver, "t0")
        driver.ask_ahead(driver.run.search.ask)
        assert isinstance(_suggest(driver, "t1"), TrialConfig)  # a free slot takes it
        assert driver.live["t1"].trial.number == 1
        driver.ask_ahead(driver.run.search.ask)
        assert _suggest(driver, "t2") is Ask.LATER  # both slots train
        waiting = driver.run.search.trials[2]
        assert waiting.state == TrialState.RUNNING and "spec_hash" not in waiting.user_attrs
        assert len(driver.ledger.heartbeat.trials) == 3  # its heartbeat beats meanwhile
        driver.health.time_budget_s = 0.0  # the time runs out before a slot frees
        assert _suggest(driver, "t2") is Ask.LATER
        ended = driver.run.search.trials[2]
        assert ended.state == TrialState.FAIL and "not trained" in ended.user_attrs["error"]
        driver.fail_live("the search was interrupted")
        assert [t.state for t in driver.run.search.trials] == [TrialState.FAIL] * 3
        assert not driver.ledger.heartbeat.trials


def test_only_rolling_asks_ask_ahead(tmp_path) -> None:
    batch = {"batch_size: 2": "batch_size: 2\n  asks: batch"}
    with make_driver(tmp_path, trials=6, replacements=batch) as driver:
        _suggest(driver, "t0")
        driver.ask_ahead(driver.run.search.ask)  # a batch's next trial waits for its slot
        assert len(driver.run.search.trials) == 1


def test_a_repeated_architecture_is_not_trained_again(tmp_path) -> None:
    same = {"alpha": 1.25, "beta": 1.3}
    batch = {"batch_size: 2": "batch_size: 2\n  asks: batch"}  # rolling: see the next test
    with make_driver(tmp_path, trials=5, replacements=batch) as driver:
        driver.run.search.enqueue_trial(same)
        assert isinstance(_suggest(driver, "t0"), TrialConfig)
        driver.run.search.enqueue_trial(same, skip_if_exists=False)
        assert isinstance(_suggest(driver, "t1"), TrialConfig)  # the duplicate, then a new point
        second, third = driver.run.search.trials[1], driver.run.search.trials[2]
        assert second.state == TrialState.PRUNED and second.user_attrs["duplicate_of"] == 0
        assert "still training" in second.user_attrs["stop_reason"]
        assert third.state == TrialState.RUNNING and third.params != same

        driver.on_complete("t0", _report([0.6, 0.7]), crashed=False)
        driver.on_complete("t1", _report([0.5, 0.6]), crashed=False)
        driver.run.search.enqueue_trial(same, skip_if_exists=False)
        driver.poll.freed()
        assert isinstance(_suggest(driver, "t2"), TrialConfig)  # the duplicate, then a new point
        first, fourth = driver.run.search.trials[0], driver.run.search.trials[3]
        assert fourth.state == TrialState.COMPLETE and fourth.user_attrs["duplicate_of"] == 0
        assert fourth.values == first.values
        assert fourth.user_attrs["train_key"] == first.user_attrs["train_key"]
        assert driver.phase_counts() == (2, 1, 0)  # duplicates are no architecture trained


def test_a_replicate_trains_in_full_what_the_search_stopped_early(tmp_path) -> None:
    """The default coefficients' seed-0 replicate has the same training key as a search trial
    that early stopping cut short: that stop is no result for the replicate, which trains."""
    same = {"alpha": 1.25, "beta": 1.3}
    with make_driver(tmp_path, trials=5) as driver:
        driver.run.search.enqueue_trial(same)
        _suggest(driver, "t0")
        driver.live["t0"].stopped_early = True
        driver.on_complete("t0", {"epoch": 1, "val_accuracy": 0.3}, crashed=False)
        assert driver.run.search.trials[0].state == TrialState.PRUNED

        driver.start_phase(Phase.REPLICATE)
        driver.run.search.enqueue_trial(same, user_attrs={"phase": "replicate", "seed": 0})
        assert isinstance(driver.suggest("r0", driver.run.search.ask), TrialConfig)  # trains
        replicate = driver.run.search.trials[1]
        assert replicate.state == TrialState.RUNNING
        assert "duplicate_of" not in replicate.user_attrs
        assert (
            replicate.user_attrs["train_key"] == driver.run.search.trials[0].user_attrs["train_key"]
        )


def test_an_architecture_trained_again_is_not_timed_again(tmp_path) -> None:
    """Latency belongs to the network: a second seed takes the first one's, not a slot's
    half second to measure it again (and, noisily, beside another training). A slot times
    it only for a latency objective, whose tell needs it."""
    same = {"alpha": 1.25, "beta": 1.3}
    on_latency = {
        LAYERS_OBJECTIVE: "  objectives: {accuracy: maximize, macs: minimize, latency: minimize}\n"
    }
    with make_driver(tmp_path, trials=5, replacements=on_latency) as driver:
        driver.run.search.enqueue_trial(same)
        first = _suggest(driver, "t0")
        assert first.latency_batch == 8  # never measured: the trial times it
        timed = dataclasses.replace(
            COMPLETE, latency_ms=4.5, latency_batch_ms=20.0, latency_batch=8, latency_device="cpu"
        )
        driver.on_complete("t0", timed.to_report(), crashed=False)
        driver.start_phase(Phase.REPLICATE)
        driver.run.search.enqueue_trial(same, user_attrs={"phase": "replicate", "seed": 1})
        again = driver.suggest("r1", driver.run.search.ask)
        assert isinstance(again, TrialConfig) and again.latency_batch is None
        record = TrialRecord.from_trial(driver.run.search.trials[1])
        assert (record.latency_ms, record.latency_batch_ms, record.latency_device) == (
            4.5,
            20.0,
            "cpu",
        )
        assert driver.live["r1"].latency_ms == 4.5  # what a latency rung would rank on


def test_a_slot_times_nothing_without_a_latency_objective(driver) -> None:
    """The phase's end times the run's networks quietly; a slot beside another training
    would time noise."""
    driver.run.search.enqueue_trial({"alpha": 1.25, "beta": 1.3})
    assert _suggest(driver, "t0").latency_batch is None


def _three_searched(driver: SearchDriver) -> None:
    """Three search trials trained, at 80, 70 and 60%: what a race starts from."""
    for n, accuracy in enumerate((0.80, 0.70, 0.60)):
        assert isinstance(_suggest(driver, f"s{n}"), TrialConfig)
        driver.on_complete(f"s{n}", _report([accuracy - 0.1, accuracy]), crashed=False)
        driver.poll.freed()


def test_the_race_plays_its_rounds_in_one_executor_run(tmp_path) -> None:
    """One Tune run for the whole race: a round's trainings, nothing more while they train,
    then the next round planned on their results, until the budget is spent."""
    race = {NO_RACE: "race: {trainings: 6, max_seeds: 3, prior_sd: 0.02}"}
    with make_driver(tmp_path, trials=3, replacements=race) as driver:
        _three_searched(driver)
        driver.start_phase(Phase.REPLICATE)
        lines: list[str] = []
        rounds = RaceRounds(driver.run, driver.config, "host:1", lines.append)
        asked, played = 0, []
        for step in range(40):
            config = driver.suggest(f"r{step}", rounds)
            if config is Ask.DONE:
                break
            if isinstance(config, TrialConfig):
                asked += 1
                continue
            planned = sum(line.startswith("[race] this round") for line in lines)
            played.append(planned)
            for tune_id in list(driver.live):  # the round's trainings end, then the next
                driver.on_complete(tune_id, _report([0.6, 0.65 + 0.01 * asked]), crashed=False)
        assert config is Ask.DONE and 5 <= asked <= 6  # within the race's budget
        assert played == sorted(set(played)) and len(played) >= 2  # one round at a time
        assert sum(line.startswith("[race] this round") for line in lines) == len(played) + 1


def test_a_slot_the_race_leaves_idle_trains_the_defaults_check(tmp_path) -> None:
    """While a round's last training runs, the free slot trains the family's check of the
    defaults (what it trains does not depend on the race); the race does not wait for it,
    and the family, planned after the race, does not train it again."""
    race = {NO_RACE: "race: {trainings: 4, max_seeds: 3, prior_sd: 0.02}"}
    with make_driver(tmp_path, trials=3, replacements=race) as driver:
        _three_searched(driver)
        config = dataclasses.replace(driver.config, family=True)
        checks = early_check_units(config)
        assert len(checks) == config.space.family.seeds
        driver.start_phase(Phase.REPLICATE)
        rounds = RaceRounds(driver.run, config, "host:1", lambda line: None)
        fill = PlannedUnits(driver.run, config.storage, "host:1", checks)
        phases = []
        for step in range(40):
            config_or_ask = driver.suggest(f"r{step}", rounds, fill)
            if config_or_ask is Ask.DONE:
                break
            if isinstance(config_or_ask, TrialConfig):
                phases.append(TrialRecord.from_trial(driver.live[f"r{step}"].trial).phase)
                continue
            # No slot left: the race's trainings end (a check trains on, three times longer).
            for tune_id, live in list(driver.live.items()):
                if not live.filler:
                    driver.on_complete(tune_id, _report([0.6, 0.7]), crashed=False)
        assert Phase.CHECK in phases and phases[0] == Phase.REPLICATE
        # A check starts only once the round has nothing left for its slot.
        assert phases.index(Phase.CHECK) > 0
        assert phases.count(Phase.CHECK) <= len(checks)
        fillers = [t for t, live in driver.live.items() if live.filler]
        assert fillers, "the race ended while its filler trains on"
        driver.start_phase(Phase.FAMILY)
        family = family_phase(driver.run, config, "host:1", lambda line: None)
        served = []
        while (trial := family()) is not None:
            served.append(TrialRecord.from_trial(trial).phase)
        assert served.count(Phase.CHECK) == len(checks) - phases.count(Phase.CHECK)
        for tune_id in fillers:
            driver.on_complete(tune_id, _report([0.7, 0.8]), crashed=False)
        checked = driver.run.trials(Phase.CHECK)
        assert all(t.user_attrs["default_coefficients"] for t in checked)
        assert {t.state for t in checked} <= {TrialState.COMPLETE, TrialState.RUNNING}


def test_a_space_with_few_distinct_members_ends(tmp_path) -> None:
    with make_driver(tmp_path, trials=5) as driver:
        driver.run.search.enqueue_trial({"alpha": 1.25, "beta": 1.3})
        _suggest(driver, "t0")
        driver.on_complete("t0", _report([0.6, 0.7]), crashed=False)
        for _ in range(MAX_DUPLICATES_IN_A_ROW):
            driver.run.search.enqueue_trial({"alpha": 1.25, "beta": 1.3}, skip_if_exists=False)
        driver.poll.freed()
        assert _suggest(driver, "t1") is Ask.DONE
        assert len(driver.run.search.trials) == 1 + MAX_DUPLICATES_IN_A_ROW


def test_over_the_macs_budget_is_pruned_before_training(tmp_path) -> None:
    space = load_space(write_space(tmp_path, "dear", {"max_macs: 2.0e+8": "max_macs: 1.0e+6"}))
    config = config_from_flags(
        space, tmp_path, storage=storage.default_storage(tmp_path), study_name="dear", trials=2
    )
    run = open_study(config, "host:1")
    study = run.search
    with Heartbeat(study) as beat:
        driver = SearchDriver(config, run, beat, 10, "host:1", log=lambda line: None)
        assert _suggest(driver, "t0") is Ask.DONE  # both trials pruned, the budget is spent
    assert [t.state for t in study.trials] == [TrialState.PRUNED] * 2
    assert all("over the MACs budget" in t.user_attrs["stop_reason"] for t in study.trials)
    # Optuna 5 records the infeasibility itself, so samplers and the dashboard see it.
    for t in study.trials:
        assert t.constraints[MACS_BUDGET] == pytest.approx(t.user_attrs["macs"] / 1e6 - 1)
        assert t.constraints[MACS_BUDGET] > 0 and t.constraints[COST_TARGET] <= 0


def test_failures_in_a_row_stop_the_search(driver) -> None:
    for i in range(MAX_FAILURES_IN_A_ROW):
        _suggest(driver, f"t{i}")
        driver.on_complete(f"t{i}", None, crashed=True)
    assert driver.health.failing() and driver.health.last_error == CRASHED_REASON
    assert _suggest(driver, "t9") is Ask.DONE
    assert [t.state for t in driver.run.search.trials] == [TrialState.FAIL] * MAX_FAILURES_IN_A_ROW


def test_an_interruption_is_no_failure_and_a_success_resets_the_count(driver) -> None:
    _suggest(driver, "t0")
    driver.on_complete("t0", None, crashed=True)
    _suggest(driver, "t1")
    driver.on_complete("t1", None, crashed=False)  # interrupted
    assert driver.health.failures_in_a_row == 1
    _suggest(driver, "t2")
    driver.on_complete("t2", COMPLETE.to_report(), crashed=False)
    assert driver.health.failures_in_a_row == 0


def test_trials_are_asked_in_fixed_batches_within_the_budget(tmp_path) -> None:
    with make_driver(
        tmp_path, replacements={"batch_size: 2": "batch_size: 2\n  asks: batch"}
    ) as driver:
        _asked_in_fixed_batches(driver)


def _asked_in_fixed_batches(driver: SearchDriver) -> None:
    assert driver.gate.batch_size == 2
    assert isinstance(_suggest(driver, "t0"), TrialConfig)
    assert isinstance(_suggest(driver, "t1"), TrialConfig)
    driver.poll.freed()
    assert _suggest(driver, "t2") is Ask.LATER  # the batch is asked: wait until it is told
    driver.on_complete("t0", COMPLETE.to_report(), crashed=False)
    driver.poll.freed()
    assert _suggest(driver, "t2") is Ask.LATER  # one of the batch still runs
    driver.on_complete("t1", COMPLETE.to_report(), crashed=False)
    driver.poll.freed()
    assert isinstance(_suggest(driver, "t2"), TrialConfig)  # the next batch, within the budget of 3
    assert driver.gate.batch_start == 2
    driver.poll.freed()
    assert _suggest(driver, "t3") is Ask.LATER  # budget 3: two done and one running
    driver.on_complete("t2", COMPLETE.to_report(), crashed=False)
    driver.poll.freed()
    assert _suggest(driver, "t3") is Ask.DONE
    assert len(driver.run.search.trials) == 3


def test_fail_live_ends_what_tune_left_running(driver) -> None:
    _suggest(driver, "t0")
    driver.fail_live("the search was interrupted")
    (trial,) = driver.run.search.get_trials(deepcopy=False)
    assert trial.state == TrialState.FAIL
    assert trial.user_attrs["error"] == "the search was interrupted"
    assert not driver.live


def test_a_space_whose_rounding_collapses_trains_each_member_once(tmp_path) -> None:
    narrow = {
        "alpha: {low: 1.0, high: 1.6}": "alpha: {low: 1.2, high: 1.21}",
        "beta: {low: 1.0, high: 1.6}": "beta: {low: 1.3, high: 1.31}",
        "gamma: {low: 1.0, high: 1.4}": "gamma: {low: 1.0, high: 1.6}",
        "defaults: {alpha: 1.2, beta: 1.3, gamma: 1.15}": "defaults: {alpha: 1.2, beta: 1.3, gamma: 1.18}",
    }
    with make_driver(tmp_path, trials=4, replacements=narrow) as driver:
        assert isinstance(_suggest(driver, "t0"), TrialConfig)  # every point rounds to this spec
        driver.on_complete("t0", _report([0.6, 0.7]), crashed=False)
        driver.poll.freed()
        assert _suggest(driver, "t1") is Ask.DONE  # 25 duplicates in a row: the space is spent
        trials = driver.run.search.trials
        assert len({t.user_attrs["spec_hash"] for t in trials}) == 1
        assert [t.user_attrs.get("duplicate_of") for t in trials[1:]] == [0] * (len(trials) - 1)
        assert driver.phase_counts() == (1, 0, 0)


def test_a_unit_another_driver_enqueued_but_not_yet_asked_is_not_claimed_twice(tmp_path) -> None:
    """The race two `ablate` drivers hit: B reads the study between A's enqueue and A's ask."""
    url = storage.default_storage(tmp_path)
    study = optuna.create_study(storage=url, study_name="claims")
    unit = "ablation:0:depth:1:0"

    def mine() -> list:
        return [t for t in study.get_trials() if t.user_attrs.get("unit") == unit]

    assert claim_next_try(url, "claims", unit, mine(), "driver-a")
    study.enqueue_trial({}, user_attrs={"unit": unit})  # A's, still WAITING
    assert not taken(mine())
    assert not claim_next_try(url, "claims", unit, mine(), "driver-b")
    study.tell(study.ask(), state=TrialState.FAIL)  # A's try is interrupted: B may retry it
    assert claim_next_try(url, "claims", unit, mine(), "driver-b")


def test_a_trial_asked_after_another_driver_took_the_last_place_is_not_trained(tmp_path) -> None:
    """Two drivers that wait for the same trials to end ask at once: both may count the
    budget's last place free before either asks. The lower number keeps it."""
    with make_driver(tmp_path, trials=1) as driver:
        study = driver.run.search
        others: list[optuna.trial.Trial] = []

        def another_driver_asks_first() -> optuna.trial.Trial:
            others.append(study.ask())  # its ask lands between this driver's count and ask
            return study.ask()

        assert driver.suggest("t0", another_driver_asks_first) is Ask.LATER
        assert not driver.live
        (theirs, mine) = study.get_trials(deepcopy=False)
        assert theirs.number == others[0].number and theirs.state == TrialState.RUNNING
        assert mine.state == TrialState.FAIL
        assert "budget's last trial" in TrialRecord.from_trial(mine).error
        assert driver.phase_counts() == (0, 1, 1)
