"""Signal over noise in a real search: replicates measure the seed noise, and the same seed
gives the same trials under any load. Real local Ray, real SQLite studies."""

from __future__ import annotations

import multiprocessing
import random
import time

import pytest
from optuna.trial import TrialState

from scalesearch.search.config import config_from_flags
from scalesearch.search.phases.race import race_result
from scalesearch.search.results.arch_groups import arch_groups, seed_noise
from scalesearch.search.results.frontier import search_frontier
from scalesearch.search.run.pipeline import run_search
from scalesearch.search.space import load_space
from scalesearch.search.store import storage as st
from scalesearch.search.store.schema import SEED_NOISE, Phase, TrialRecord, trained
from scalesearch.search.store.studies import open_run
from tests.helpers import NO_RACE, write_space

pytestmark = pytest.mark.ray


def _search(space_path, run_dir, **flags):
    space = load_space(space_path)
    lines: list[str] = []
    config = config_from_flags(
        space, run_dir, storage=st.default_storage(run_dir), study_name=space.name, **flags
    )
    run_search(config, log=lines.append)
    return st.load_study(config.storage, space.name), lines


def test_the_race_gives_paired_seeds_to_its_contenders_and_names_the_leader(
    tmp_path, local_ray
) -> None:
    race = "race: {trainings: 6, max_seeds: 3, prior_sd: 0.02}"
    space = write_space(tmp_path, "noisy", {NO_RACE: race}, trials=4)
    study, lines = _search(space, tmp_path / "run", trials=None, replicates=2, family=False)
    raced = [
        t for t in study.trials if TrialRecord.from_trial(t).phase == Phase.REPLICATE and trained(t)
    ]
    assert 1 <= len(raced) <= 6  # within the race's budget, counted in trainings
    assert {TrialRecord.from_trial(t).seed for t in raced} <= {0, 1, 2}
    assert any(TrialRecord.from_trial(t).default_coefficients for t in study.trials)
    run = open_run(st.default_storage(tmp_path / "run"), "noisy")
    result = race_result(run, load_space(space))
    assert len(result.leader.accuracies) >= 2  # the leader raced: its mean, not one lucky run
    groups = arch_groups(run.search_trials(), "noisy")
    assert study.user_attrs[SEED_NOISE] == pytest.approx(seed_noise(groups))
    assert study.user_attrs[SEED_NOISE] > 0  # two seeds of 96 digits never agree everywhere
    (done,) = [line for line in lines if line.startswith("[race] done:")]
    assert f"Race leader: trial {result.leader.trials[0]}" in done and "race trainings" in done
    for point in search_frontier(run):
        group = next(g for g in groups if point.trial in g.trials)
        assert point.seeds == len(group.accuracies)
        assert point.accuracy == pytest.approx(sum(group.accuracies) / len(group.accuracies))


def _busy(seconds: float) -> None:
    """A load that comes and goes, as on a shared node: bursts and pauses of 20-200 ms (half
    a core on average), so the trials' timings shift by a different amount at every step."""
    rng = random.Random(0)
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        burst = time.monotonic() + rng.uniform(0.02, 0.2)
        while time.monotonic() < burst:
            pass
        time.sleep(rng.uniform(0.02, 0.2))


def _sequence(study) -> list[tuple]:
    return [
        (
            t.number,
            round(t.params["alpha"], 9),
            round(t.params["beta"], 9),
            t.state,
            None if t.values is None else tuple(t.values),
        )
        for t in study.trials
    ]


def test_the_same_seed_gives_the_same_trials_under_load(tmp_path, local_ray) -> None:
    space = write_space(tmp_path, "steady", {}, trials=4)  # two rolling batches
    quiet, _ = _search(space, tmp_path / "quiet", trials=None, family=False)
    load = multiprocessing.get_context("spawn").Process(target=_busy, args=(600,))
    load.start()
    try:
        busy, _ = _search(space, tmp_path / "busy", trials=None, family=False)
    finally:
        load.terminate()
        load.join()
    assert _sequence(quiet) == _sequence(busy)
    assert sum(t.state == TrialState.COMPLETE for t in quiet.trials) >= 2
