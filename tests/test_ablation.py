"""`scalesearch ablate` end to end: real trainings on a local Ray, written once, resumable."""

from __future__ import annotations

import json

import pytest

from scalesearch.cli.main import main
from scalesearch.search.config import config_from_flags
from scalesearch.search.results.ablation_table import STRATEGIES, ablation_table
from scalesearch.search.results.frontier import search_frontier
from scalesearch.search.run.pipeline import run_search
from scalesearch.search.space import load_space
from scalesearch.search.store import run_attributes
from scalesearch.search.store import storage as st
from scalesearch.search.store.studies import open_run
from tests.helpers import TINY_FAMILY, write_space

pytestmark = [pytest.mark.ray, pytest.mark.slow]


def test_ablate_trains_every_cell_once_and_resumes_without_repeats(
    tmp_path, local_ray, capsys
) -> None:
    # The family trains 3 epochs (the search's proxy 2): the ablation trains as the family.
    path = write_space(
        tmp_path,
        "abl",
        {TINY_FAMILY: "family: {phi: [-2, -1, 1], epochs: 3}"},
    )
    space = load_space(path)
    storage = st.default_storage(tmp_path / "run")
    config = config_from_flags(
        space, tmp_path / "run", storage=storage, study_name="abl", family=False, trials=2
    )
    run_search(config, log=lambda line: None)
    args = ["ablate", "--storage", storage, "--study", "abl", "--run-dir", str(tmp_path)]
    args += ["--phi", "1", "-1", "--seeds", "2"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "[ablation]" in out and "Ablation: strategies at equal cost" in out

    # The ablation has a study of its own, beside the search's: it trains as the family.
    run = open_run(storage, "abl")
    assert run_attributes.run_names(storage) == ["abl"]
    study = st.load_study(storage, "abl.ablation")
    assert (
        study.user_attrs["run"] == "abl"
        and run.search.user_attrs["phase_study:ablation"] == "abl.ablation"
    )
    assert not [t for t in run.search.trials if t.user_attrs.get("phase") == "ablation"]
    ablation = [t for t in study.trials if t.user_attrs.get("phase") == "ablation"]
    assert len(ablation) == len(study.trials)
    cells = [
        (t.user_attrs["strategy"], t.user_attrs["phi"], t.user_attrs["seed"]) for t in ablation
    ]
    assert sorted(cells) == sorted(
        (s, phi, seed) for s in STRATEGIES for phi in (1.0, -1.0) for seed in (0, 1)
    )
    assert all(t.user_attrs["epochs"] == 3 for t in ablation)
    for t in ablation:  # every member at equal cost, or refused before training with why
        if t.state.name == "COMPLETE":
            assert abs(t.user_attrs["cost_ratio"] - 1) <= 0.1 + 1e-9
        else:
            assert (
                t.state.name == "PRUNED"
                and "no rounding comes within" in t.user_attrs["stop_reason"]
            )
    depth_at_1 = [
        t for t in ablation if t.user_attrs["strategy"] == "depth" and t.user_attrs["phi"] == 1.0
    ]
    spec = json.loads(depth_at_1[0].user_attrs["spec"])
    assert [s["dim"] for s in spec["stages"]] == [s.dim for s in space.base.stages]
    assert spec["resolution"] == space.base.resolution

    table = ablation_table(run)
    assert {(c.strategy, c.phi) for c in table} == {(s, p) for s in STRATEGIES for p in (1.0, -1.0)}
    searched = next(c for c in table if c.strategy == "searched" and c.phi == 1.0)
    assert sorted(searched.accuracies) == [0, 1] and searched.pairs == 2
    # The search's frontier holds search trials only: the ablation trained under other settings.
    assert {p.phase for p in search_frontier(run)} == {"search"}

    # Resumed: nothing is trained again, and --json reports the same table.
    before = len(study.trials)
    assert main([*args, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert len(st.load_study(storage, "abl.ablation").trials) == before
    assert {(c["strategy"], c["phi"]) for c in report["cells"]} == {
        (c.strategy, c.phi) for c in table
    }
    assert report["verdict"][0].startswith("At φ = -1:") or report["verdict"][0].startswith(
        "At φ = 1:"
    )
