"""Signal over noise in a real search: replicates measure the seed noise, and the same seed
gives the same trials under any load. Real local Ray, real SQLite studies."""

from __future__ import annotations

import multiprocessing
import time

import pytest
from optuna.trial import TrialState

from scalesearch.search import storage as st
from scalesearch.search.frontier import frontier
from scalesearch.search.lifecycle import config_from_flags
from scalesearch.search.replicates import SEED_NOISE, arch_groups
from scalesearch.search.schema import Phase, TrialRecord
from scalesearch.search.space import load_space
from scalesearch.search.tune import run_search
from tests.conftest import write_space

pytestmark = pytest.mark.ray


def _search(space_path, run_dir, **flags):
    space = load_space(space_path)
    lines: list[str] = []
    config = config_from_flags(
        space, run_dir, storage=st.default_storage(run_dir), study_name=space.name, **flags
    )
    run_search(config, log=lines.append)
    return st.load_study(config.storage, space.name), lines


def test_replicates_are_recorded_averaged_and_judged(tmp_path, local_ray) -> None:
    space = write_space(tmp_path, "noisy", {"trials: 16": "trials: 4"})
    study, lines = _search(space, tmp_path / "run", trials=None, replicates=2, family=False)
    replicates = [t for t in study.trials if TrialRecord.from_trial(t).phase == Phase.REPLICATE]
    defaults = [t for t in replicates if t.user_attrs.get("default_coefficients")]
    assert sorted(t.user_attrs["seed"] for t in defaults) == [0, 1]
    others = [t for t in replicates if not t.user_attrs.get("default_coefficients")]
    assert others and all(t.user_attrs["seed"] == 1 for t in others)
    for point in frontier(study):
        if point.phase == "search":
            assert point.seeds == 2  # the mean of both seeds, not one lucky run
            group = next(g for g in arch_groups(study) if point.trial in g.trials)
            assert point.accuracy == pytest.approx(sum(group.accuracies) / 2)
    assert study.user_attrs[SEED_NOISE] >= 0
    assert any("seed noise" in line for line in lines)
    assert any("standard errors" in line and "noise" in line for line in lines)


def _busy(seconds: float) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        pass


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
    space = write_space(tmp_path, "steady", {"trials: 16": "trials: 6"})
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
