"""Studies written by earlier versions still load, report and resume.

- tests/data/study_v0.1.db was made by `scalesearch run` of the 0.1 layout on
  tests/data/legacy_space.yaml (3 search trials and the family on digits).
- tests/data/study_v0.2.db was made by 0.2 (commit cbc943b) under Optuna 4.9 on
  tests/data/space_v0.2.yaml: `run` (4 search trials, replicates, the family under its own
  settings), `ablate --phi 1 --seeds 2` and `train --trial 0 --epochs 1`, all in one study.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from optuna.trial import TrialState

from scalesearch.cli.main import main
from scalesearch.report.data import build_report
from scalesearch.search.results.frontier import search_frontier
from scalesearch.search.store import run_attributes
from scalesearch.search.store import storage as st
from scalesearch.search.store.schema import Phase, TrialRecord
from scalesearch.search.store.studies import open_run
from tests.helpers import NO_RACE, trained_count

DATA = Path(__file__).parent / "data"


def _without_timing(space: Path, folder: Path, race: bool = True) -> Path:
    """The old space as written, less the quiet latency timing that runs after a run's
    trainings (and the race, where asked), which these tests are not about: both are what
    the current version adds to an old study's resume, tested on a new run elsewhere."""
    extra = "  latency_passes: 0\n" + ("" if race else f"  {NO_RACE}\n")
    text = space.read_text().replace("\nsearch:\n", "\nsearch:\n" + extra, 1)
    assert text != space.read_text()
    path = folder / space.name
    path.write_text(text)
    return path


@pytest.fixture
def legacy(tmp_path: Path) -> str:
    shutil.copy(DATA / "study_v0.1.db", tmp_path / "study.db")
    return st.default_storage(tmp_path)


@pytest.fixture
def v02(tmp_path: Path) -> str:
    shutil.copy(DATA / "study_v0.2.db", tmp_path / "study.db")
    return st.default_storage(tmp_path)


def test_a_0_2_study_made_under_optuna_4_reads_and_reports(v02, capsys) -> None:
    study = st.load_study(v02, "v02")
    phases = {TrialRecord.from_trial(t).phase for t in study.trials}
    assert phases == {Phase.SEARCH, Phase.REPLICATE, Phase.FAMILY, Phase.ABLATION}
    assert main(["frontier", "--storage", v02, "--study", "v02", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    run = open_run(v02, "v02")
    assert not run.split  # 0.2 kept every phase in one study: read by phase
    assert [p["trial"] for p in listed["search"]] == [p.trial for p in search_frontier(run)]
    assert {p["phase"] for p in listed["search"]} <= {"search", "replicate"}
    assert listed["family"] and {p["phi"] for p in listed["family"]} <= {-1.0, 0.0, 1.0}
    data = build_report(v02, "v02")
    assert len(data.members) == 3 and data.ablation and data.finals
    assert {p.phase for p in data.search_points} <= {"search", "replicate"}
    assert set(data.importances) == {"alpha", "beta"}


@pytest.mark.ray
def test_a_0_2_study_resumes_in_its_own_layout(v02, tmp_path) -> None:
    """Its budget is spent and its replicates trained; the family now trains two seeds, so
    the second seed of each member is what a resume trains, in the 0.2 study itself."""
    space = _without_timing(DATA / "space_v0.2.yaml", tmp_path)
    done = subprocess.run(
        [sys.executable, "-m", "scalesearch", "run", "--space", str(space)]
        + ["--storage", v02, "--study", "v02", "--run-dir", str(tmp_path), "--resume"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert run_attributes.run_names(v02) == ["v02"]  # no phase study was made beside it
    study = st.load_study(v02, "v02")
    assert study.metric_names == ["val_accuracy", "MACs"]  # the objectives it was made with
    family = [t for t in study.trials if TrialRecord.from_trial(t).phase == Phase.FAMILY]
    complete = [t for t in family if t.state == TrialState.COMPLETE]
    members = sorted((t.user_attrs["phi"], t.user_attrs["seed"]) for t in complete)
    assert members == [(p, s) for p in (-1.0, 0.0, 1.0) for s in (0, 1)]
    search = [t for t in study.trials if TrialRecord.from_trial(t).phase == Phase.SEARCH]
    assert trained_count(search) == 4  # its budget, spent already
    assert "report:" in done.stdout and all(m.seeds == 2 for m in build_report(v02, "v02").members)


def test_the_old_study_reads_as_typed_records(legacy, capsys) -> None:
    study = st.load_study(legacy, "legacy")
    records = [TrialRecord.from_trial(t) for t in study.trials]
    assert {r.phase for r in records} == {Phase.SEARCH, Phase.FAMILY}
    complete = [t for t in study.trials if t.state == TrialState.COMPLETE]
    assert all(TrialRecord.from_trial(t).arch().num_classes == 10 for t in complete)
    assert run_attributes.stored_space(study).name == "legacy"
    assert main(["frontier", "--storage", legacy, "--study", "legacy", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)["search"]
    assert [p["trial"] for p in listed] == [
        p.trial for p in search_frontier(open_run(legacy, "legacy"))
    ]
    assert build_report(legacy, "legacy").members


def test_a_failed_join_leaves_the_old_study_as_it_was(legacy, capsys) -> None:
    before = st.load_study(legacy, "legacy")
    args = [
        "run",
        "--space",
        str(DATA / "legacy_space.yaml"),
        "--storage",
        legacy,
        "--join",
        "--dataset",
        "cifar10",
    ]
    assert main(args) == 2
    assert "--data-dir" in capsys.readouterr().err
    after = st.load_study(legacy, "legacy")
    assert after.user_attrs == before.user_attrs and len(after.trials) == len(before.trials)


@pytest.mark.ray
def test_the_old_study_takes_more_trials(legacy, tmp_path) -> None:
    space = _without_timing(DATA / "legacy_space.yaml", tmp_path, race=False)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "scalesearch",
            "run",
            "--space",
            str(space),
            "--storage",
            legacy,
            "--run-dir",
            str(tmp_path),
            "--join",
            "--trials",
            "1",
            "--no-family",
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    study = st.load_study(legacy, "legacy")
    search = [t for t in study.trials if TrialRecord.from_trial(t).phase == Phase.SEARCH]
    assert trained_count(search) == 4  # 3 from 0.1, one more now
    assert run_attributes.search_budget(study) == 4
