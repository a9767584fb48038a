"""Fractional GPUs pack trials: a local Ray that declares one logical GPU runs four
0.25-GPU trials at once (no GPU is needed to check Ray's placement)."""

from __future__ import annotations

import pytest

from scalesearch.search.config import config_from_flags
from scalesearch.search.run.pipeline import run_search
from scalesearch.search.space import load_space
from scalesearch.search.store import storage as st
from tests.helpers import write_space

pytestmark = pytest.mark.ray


@pytest.fixture(scope="module")
def ray_with_a_logical_gpu():
    import ray

    ray.init(
        address="local",
        num_cpus=2,
        num_gpus=1,  # logical: Ray places by it, whatever the hardware
        include_dashboard=False,
        log_to_driver=False,
        logging_level="ERROR",
    )
    yield
    ray.shutdown()


def test_four_quarter_gpu_trials_run_at_once(tmp_path, ray_with_a_logical_gpu) -> None:
    space = write_space(
        tmp_path,
        "packed",
        {
            "batch_size: 2  #": "batch_size: 4  #",  # ask four at a time
            "  replicates: 1": "  replicates: 1\n  cpus_per_trial: 0.5\n  gpus_per_trial: 0.25",
        },
    )
    config = config_from_flags(
        load_space(space),
        tmp_path,
        storage=st.default_storage(tmp_path),
        study_name="packed",
        trials=4,
        family=False,
    )
    run_search(config, log=lambda line: None)
    study = st.load_study(config.storage, "packed")
    trained = [t for t in study.trials if "wall_seconds" in t.user_attrs]  # not told at once
    assert len(trained) == 4
    trials = trained
    # All four were running together: the last to start began before the first ended.
    assert max(t.datetime_start for t in trials) < min(t.datetime_complete for t in trials)
