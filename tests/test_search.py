"""The search end to end: real local Ray, real SQLite and PostgreSQL studies."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from scalesearch.cli.main import main
from scalesearch.errors import SearchFailed
from scalesearch.search.config import config_from_flags
from scalesearch.search.results.frontier import search_frontier
from scalesearch.search.results.latencies import run_latencies
from scalesearch.search.run import samplers
from scalesearch.search.run.pipeline import run_search
from scalesearch.search.space import load_space
from scalesearch.search.store import run_attributes
from scalesearch.search.store import storage as st
from scalesearch.search.store.schema import TrialRecord
from scalesearch.search.store.studies import open_run
from tests.helpers import (
    LAYERS_OBJECTIVE,
    free_port,
    pareto_trained,
    postgres_database,
    trained_count,
    write_space,
)

pytestmark = pytest.mark.ray

RECORDED = {
    "phase",
    "phi",
    "gamma",
    "spec",
    "spec_hash",
    "params",
    "macs",
    "resolution",
    "scalesearch_version",
    "wall_seconds",
    "node_id",
    "val_accuracies",
}


def _run(space_path: Path, run_dir: Path, storage: str | None = None, **flags):
    space = load_space(space_path)
    storage = storage or st.default_storage(run_dir)
    config = config_from_flags(
        space,
        run_dir,
        storage=storage,
        study_name=space.name,
        trials=flags.pop("trials", space.search.trials),
        **flags,
    )
    return run_search(config, log=lambda line: None), storage


def _check_study(storage: str, name: str, trials: int) -> optuna.Study:
    study = st.load_study(storage, name)
    search = [t for t in study.trials if t.user_attrs["phase"] == "search"]
    assert trained_count(search) == trials
    for t in study.trials:
        assert t.state != TrialState.RUNNING
        if t.state == TrialState.COMPLETE:
            assert set(t.user_attrs) >= RECORDED, RECORDED - set(t.user_attrs)
            assert t.values[1] == t.user_attrs["layers"]  # the laptop spaces' runtime cost
            assert len(t.user_attrs["val_accuracies"]) == 2
            spec = json.loads(t.user_attrs["spec"])
            assert spec["num_classes"] == 10
            assert {"alpha", "beta"} <= set(t.params)
        if t.state == TrialState.PRUNED:
            assert t.user_attrs["stop_reason"]
    front = {p.trial for p in search_frontier(open_run(storage, name))}
    assert front == pareto_trained(study)
    assert all(study.trials[n].state == TrialState.COMPLETE for n in front)
    return study


def test_search_and_family_on_sqlite(tmp_path, local_ray, capsys) -> None:
    timed = write_space(tmp_path, "tiny", {"latency_passes: 0": "latency_passes: 3"}, trials=4)
    result, storage = _run(timed, tmp_path)
    study = _check_study(storage, "tiny", trials=4)
    # The search and the family trained in one Tune run: its workers were started once.
    assert [p.name for p in (tmp_path / "ray").iterdir() if p.is_dir()] == ["tiny-search"]
    # One fidelity per study: the family has its own, linked to the search's.
    assert {t.user_attrs["phase"] for t in study.trials} <= {"search", "replicate"}
    assert run_attributes.run_names(storage) == ["tiny"]
    family_study = st.load_study(storage, "tiny.family")
    assert family_study.user_attrs["run"] == "tiny"
    assert [d.name for d in family_study.directions] == ["MAXIMIZE", "MINIMIZE"]
    assert family_study.metric_names == ["val_accuracy", "MACs"]
    family = [t for t in family_study.trials if t.user_attrs["phase"] == "family"]
    members = sorted((t.user_attrs["phi"], t.user_attrs["seed"]) for t in family)
    assert members == [(p, s) for p in (-2.0, -1.0, 1.0) for s in (0, 1)]  # two seeds each
    # Beside them, the default coefficients at the search φ with the same seeds: the check.
    check = [t for t in family_study.trials if t.user_attrs["phase"] == "check"]
    assert sorted((t.user_attrs["phi"], t.user_attrs["seed"]) for t in check) == [
        (1.0, 0),
        (1.0, 1),
    ]
    assert all(t.user_attrs["default_coefficients"] for t in check)
    assert all(t.values[1] == t.user_attrs["macs"] for t in family)
    (copy,) = [t for t in family if t.user_attrs.get("copied_from") is not None]
    assert (copy.user_attrs["phi"], copy.user_attrs["seed"]) == (1.0, 0)  # the search φ, seed 0
    source = study.trials[copy.user_attrs["copied_from"]]
    assert copy.params == source.params and copy.values[0] == source.values[0]
    assert copy.values[1] == source.user_attrs["macs"]  # its study's cost, not the search's
    assert len({t.params["alpha"] for t in family}) == 1
    assert result.search_frontier and 0 < result.search_hypervolume < 1
    assert {p.phi for p in result.family_frontier} <= {-2.0, -1.0, 1.0}
    assert all(p.seeds == 2 for p in result.family_frontier)  # every point has an error bar
    # Once the trainings ended, every architecture was timed, or left unmeasured with why.
    latency = run_latencies(storage, "tiny")
    complete = [t for s in open_run(storage, "tiny").studies() for t in s.trials]
    hashes = {
        TrialRecord.from_trial(t).spec_hash for t in complete if t.state == TrialState.COMPLETE
    }
    assert set(latency.timed) | set(latency.unmeasured) == hashes
    capsys.readouterr()  # drop what Ray printed during the search
    assert main(["frontier", "--storage", storage, "--study", "tiny", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert {p["trial"] for p in listed["search"]} == pareto_trained(study)
    assert [p["trial"] for p in listed["family"]] == [p.trial for p in result.family_frontier]
    assert all(p["study"] == "tiny.family" for p in listed["family"])
    assert all({"trial", "accuracy", "macs", "params", "spec"} <= set(p) for p in listed["search"])


def test_a_search_on_three_objectives(tmp_path, local_ray, capsys) -> None:
    """Accuracy, MACs and measured latency: three values per trial, a 3-D frontier."""
    objectives = "  objectives: {accuracy: maximize, macs: minimize, latency: minimize}\n"
    space = write_space(tmp_path, "three", {LAYERS_OBJECTIVE: objectives}, trials=2)
    result, storage = _run(space, tmp_path, family=False)
    study = st.load_study(storage, "three")
    assert [d.name for d in study.directions] == ["MAXIMIZE", "MINIMIZE", "MINIMIZE"]
    assert study.metric_names == ["val_accuracy", "MACs", "latency_ms"]
    complete = [t for t in study.trials if t.state == TrialState.COMPLETE]
    assert complete
    for t in complete:
        assert t.values[1] == t.user_attrs["macs"] and t.values[2] == t.user_attrs["latency_ms"]
        assert t.user_attrs["latency_batch_ms"] > 0 and t.user_attrs["latency_batch"] == 8
        assert "threads" in t.user_attrs["latency_device"]
    assert {p.trial for p in result.search_frontier} == pareto_trained(study)
    assert all(p.latency_ms is not None for p in result.search_frontier)
    assert 0 < result.search_hypervolume < 1
    capsys.readouterr()
    assert main(["frontier", "--storage", storage, "--study", "three", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)["search"]
    assert all(p["latency_ms"] > 0 for p in listed)
    assert main(["frontier", "--storage", storage, "--study", "three"]) == 0
    assert "inference latency at batch 1" in capsys.readouterr().out


def test_over_budget_is_rejected_without_training(tmp_path, local_ray) -> None:
    space = write_space(tmp_path, "costly", {"max_macs: 2.0e+8": "max_macs: 1.0e+6"}, trials=3)
    result, storage = _run(space, tmp_path, family=False)
    study = st.load_study(storage, "costly")
    assert [t.state for t in study.trials] == [TrialState.PRUNED] * 3
    assert all("over the MACs budget" in t.user_attrs["stop_reason"] for t in study.trials)
    assert all("wall_seconds" not in t.user_attrs for t in study.trials)  # never trained
    assert result.search_frontier == []


def test_a_trial_below_the_earlier_rung_stops_after_its_first_epoch(tmp_path, local_ray) -> None:
    """ASHA on a real Ray: the driver's stop reaches the running trial, which ends itself
    after epoch 1 (PRUNED with the rule's name); the first batch, with nothing earlier to
    rank against, trained to the end."""
    # ASHA by name: `auto` takes MOASHA for a runtime cost, under which a trial with fewer
    # layers than the four below is on the first front and never stopped.
    asha = {"  batch_size: 2 ": "  early_stopping: asha\n  batch_size: 2 "}
    space = write_space(tmp_path, "rungs", asha, trials=2)
    _, storage = _run(space, tmp_path, family=False)
    study = st.load_study(storage, "rungs")
    real = study.trials[0]
    # Four earlier trials that reached 100% at epoch 1: any new trial ranks in the lower half.
    for _ in range(4):
        study.add_trial(
            optuna.trial.create_trial(
                params=real.params,
                distributions=real.distributions,
                values=[1.0, real.values[1]],
                user_attrs={**real.user_attrs, "val_accuracies": [1.0, 1.0]},
            )
        )
    # This process is the same driver: its budget becomes 8, with 6 done, so 2 more train.
    _run(space, tmp_path, storage=storage, family=False, join=True, trials=8)
    study = st.load_study(storage, "rungs")
    # A duplicate (the sampler chose a point trained already) took its twin's result and
    # trained nothing: the two that trained are the ones the rung ranks.
    (first, second) = [t for t in study.trials[6:] if "duplicate_of" not in t.user_attrs]
    for trial in (first, second):
        assert trial.state == TrialState.PRUNED
        assert trial.user_attrs["stop_reason"] == "stopped early by ASHA after 1 epoch(s)"
        assert len(trial.user_attrs["val_accuracies"]) == 1
    assert [t.state for t in study.trials[:2]] == [TrialState.COMPLETE] * 2


def test_a_trial_that_raises_ends_fail_with_its_message(tmp_path, local_ray) -> None:
    # A base for 1-channel input: the driver only counts it (on meta), the trial trains it
    # on RGB-prepared batches and raises in the first convolution.
    space = write_space(
        tmp_path,
        "onechannel",
        {"  num_classes: 10\n": "  num_classes: 10\n  in_chs: 1\n"},
        trials=1,
    )
    with pytest.raises(
        SearchFailed, match=r"stopped after 3 trials failed in a row; the last: RuntimeError"
    ):
        _run(space, tmp_path, family=False, max_concurrent=1)
    study = st.load_study(st.default_storage(tmp_path), "onechannel")
    assert [t.state for t in study.trials] == [TrialState.FAIL] * 3
    assert all("expected input" in t.user_attrs["error"] for t in study.trials)


def test_same_search_on_postgresql(tiny_space, tmp_path, local_ray) -> None:
    with postgres_database() as url:
        _run(tiny_space, tmp_path, storage=url, trials=2, family=False)
        _check_study(url, "tiny", trials=2)


def _sigint_default() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.mark.parametrize(
    ("stop", "code", "said"),
    [(signal.SIGINT, 130, "interrupted: "), (signal.SIGTERM, 143, "stopped by SIGTERM: ")],
    ids=["ctrl-c", "sigterm"],
)
def test_interrupt_then_resume_loses_and_repeats_nothing(tmp_path, stop, code, said) -> None:
    """Ctrl-C, or a scheduler's SIGTERM (preemption, scancel, an eviction): the run stops
    with its line and exit status, its running trial ended FAIL at once (a resume retrains
    it without waiting for heartbeats), and a resume loses and repeats nothing (resumed
    after Ctrl-C: both stops leave the study alike, checked here)."""
    space = write_space(
        tmp_path,
        "resumable",
        {"max_train_images: 96": "max_train_images: 160"},
        trials=3,
    )
    storage = st.default_storage(tmp_path / "resumable")
    command = [
        sys.executable,
        "-m",
        "scalesearch",
        "run",
        "--space",
        str(space),
        "--run-dir",
        str(tmp_path),
        "--no-family",
        "--max-concurrent",
        "1",
    ]
    # A shell without job control starts background commands with SIGINT ignored, and Python
    # keeps an inherited SIG_IGN: the run must start as from a terminal, SIGINT at default.
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            preexec_fn=_sigint_default)  # fmt: skip
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:  # wait until one trial has finished
        line = proc.stdout.readline()
        if "complete:" in line or "pruned:" in line:
            break
    proc.send_signal(stop)
    output = proc.communicate(timeout=120)[0]
    assert proc.returncode == code, output
    assert said in output and "Traceback" not in output, output
    before = st.load_study(storage, "resumable")
    kept = {t.number: t.values for t in before.trials if t.state == TrialState.COMPLETE}
    assert 1 <= trained_count(before.trials) < 3
    assert not [t for t in before.trials if t.state == TrialState.RUNNING]
    if stop == signal.SIGTERM:
        return
    resumed = subprocess.run(command + ["--resume"], capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    after = st.load_study(storage, "resumable")
    assert trained_count(after.trials) == 3
    assert {n: after.trials[n].values for n in kept} == kept  # nothing lost or redone
    report = tmp_path / "resumable" / "report.html"  # the run ends by writing its report
    assert f"report: {report}" in resumed.stdout.replace("\n", "") and report.is_file()


def test_dashboard_serves_the_study(tmp_path) -> None:
    storage = st.default_storage(tmp_path)
    st.create_or_load_study(st.open_storage(storage), "shown", samplers.make_sampler("random", 0))
    port = free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "scalesearch",
            "dashboard",
            "--storage",
            storage,
            "--port",
            str(port),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(100):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/studies", timeout=2) as r:
                    studies = json.loads(r.read())["study_summaries"]
                break
            except OSError:
                time.sleep(0.2)
        else:
            pytest.fail("the dashboard did not answer within 20 s")
        assert [s["study_name"] for s in studies] == ["shown"]
    finally:
        # SIGTERM, as a scheduler stops it, while requests are being answered (wsgiref's
        # handler swallows an interrupt raised inside a request: the server served on).
        asking = _asking_until_stopped(f"http://127.0.0.1:{port}/api/studies")
        time.sleep(0.5)
        server.terminate()
        try:
            assert server.wait(timeout=10) == 143
        finally:
            server.kill()
            asking.set()


def _asking_until_stopped(url: str) -> threading.Event:
    """Requests to `url`, one after another in a thread, until the event returned is set."""
    stop = threading.Event()

    def ask() -> None:
        while not stop.is_set():
            try:
                with urllib.request.urlopen(url, timeout=2) as r:
                    r.read()
            except OSError:
                time.sleep(0.05)

    threading.Thread(target=ask, daemon=True).start()
    return stop


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["run", "--space", "cmt_compound", "--storage", "nonsense"], "must be an SQLAlchemy URL"),
        (
            ["run", "--space", "cmt_compound", "--storage", "oracle2://x/y"],
            "unknown database dialect",
        ),
        (
            ["run", "--space", "cmt_compound", "--storage", "postgresql://nobody@127.0.0.1:1/none"],
            "cannot connect",
        ),
        (["run", "--space", "no_such_space"], "unknown search space 'no_such_space'"),
        (
            ["run", "--space", "cmt_compound", "--resume", "--run-dir", "{tmp}"],
            "--resume: no study",
        ),
        (["frontier", "--run-dir", "{tmp}"], "give --study or --storage"),
    ],
)
def test_bad_input_is_one_line_exit_2(args, message, tmp_path, capsys) -> None:
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and err.count("\n") == 0, err


def test_bad_flag_exits_2() -> None:
    assert main(["run", "--space", "cmt_compound", "--trails", "3"]) == 2
