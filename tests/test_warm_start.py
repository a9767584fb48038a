"""`run --warm-start`: an earlier study's frontier becomes a new study's first asks."""

from __future__ import annotations

import optuna
import pytest
from optuna.trial import TrialState

from scalesearch.cli.main import main
from scalesearch.search.config import config_from_flags
from scalesearch.search.run import samplers
from scalesearch.search.run.lifecycle import check_run, open_study
from scalesearch.search.run.trial_build import sample_point
from scalesearch.search.space import load_space
from scalesearch.search.store import run_attributes
from scalesearch.search.store import storage as st
from scalesearch.search.store.schema import TrialRecord
from tests.helpers import write_space

UNIT = optuna.distributions.FloatDistribution(1.0, 1.6)
# (alpha, beta, accuracy, sequential layers): trials 0 and 2 are the search frontier, 1 is
# dominated by 0.
EARLIER = [(1.1, 1.5, 0.93, 90), (1.3, 1.3, 0.92, 95), (1.5, 1.1, 0.95, 110)]


@pytest.fixture
def earlier(tmp_path):
    space_path = write_space(tmp_path, "tiny", {})
    space = load_space(space_path)
    (tmp_path / "runs" / "first").mkdir(parents=True)
    url = st.default_storage(tmp_path / "runs" / "first")
    study = st.create_or_load_study(
        st.open_storage(url), "first", samplers.make_sampler("random", 0), space.search.objectives
    )
    run_attributes.store_space(study, space)
    for i, (alpha, beta, accuracy, layers) in enumerate(EARLIER):
        attrs = {"phase": "search", "macs": 40e6, "layers": layers, "arch_key": f"a{i}", "phi": 1.0}
        study.add_trial(
            optuna.trial.create_trial(
                params={"alpha": alpha, "beta": beta},
                distributions={"alpha": UNIT, "beta": UNIT},
                values=[accuracy, layers],
                user_attrs=attrs,
            )
        )
    return tmp_path, space


def _config(tmp_path, space, **flags):
    return config_from_flags(
        space,
        tmp_path / "runs" / "second",
        storage=st.default_storage(tmp_path / "runs" / "second"),
        study_name="second",
        trials=4,
        warm_start="first",
        **flags,
    )


def test_the_frontier_is_asked_first(earlier) -> None:
    tmp_path, space = earlier
    config = _config(tmp_path, space)
    study = open_study(config, "driver-1", check_run(config).warm).search
    waiting = study.get_trials(states=(TrialState.WAITING,))
    sources = [TrialRecord.from_trial(t).warm_start_from for t in waiting]
    assert [s.rsplit("#", 1)[1] for s in sources] == ["0", "2"]
    # The driver's own sampling reads the enqueued coefficients back, in order.
    points = [sample_point(study.ask(), space)[0] for _ in range(2)]
    assert [(c.alpha, c.beta) for c in points] == [(1.1, 1.5), (1.5, 1.1)]


def test_top_k_instead_of_the_frontier(earlier) -> None:
    tmp_path, space = earlier
    config = _config(tmp_path, space, warm_top=2)
    study = open_study(config, "driver-1", check_run(config).warm).search
    waiting = study.get_trials(states=(TrialState.WAITING,))
    fixed = [t.system_attrs["fixed_params"]["alpha"] for t in waiting]
    assert fixed == [1.5, 1.1]  # by accuracy: 0.95, 0.93


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--warm-start", "nope"], "--warm-start nope: no such study"),
        (["--warm-start", "first", "--space", "cmt_compound"], "belongs to space 'tiny'"),
        (["--warm-top", "2"], "--warm-top needs --warm-start STUDY"),
        (["--warm-start", "first", "--warm-top", "0"], "--warm-top must be >= 1"),
    ],
)
def test_bad_warm_starts_are_one_line(earlier, capsys, extra, message) -> None:
    tmp_path, _ = earlier
    space = ["--space", str(tmp_path / "tiny.yaml")] if "--space" not in extra else []
    args = ["run", *space, "--run-dir", str(tmp_path / "runs"), "--study", "second", *extra]
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err, err
    assert not (tmp_path / "runs" / "second" / "study.db").exists()  # nothing was created
