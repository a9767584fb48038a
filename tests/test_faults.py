"""0.2's commands under faults, with real processes: `ablate` killed and run again, two
`ablate` drivers on one PostgreSQL run, `report` and `frontier` while a run writes, and an
`export` that fails over an earlier one."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from optuna.trial import TrialState

from scalesearch.cli.main import main
from scalesearch.search.config import config_from_flags
from scalesearch.search.results.ablation_table import STRATEGIES
from scalesearch.search.run.inline import InlineExecutor
from scalesearch.search.run.pipeline import run_search
from scalesearch.search.space import load_space
from scalesearch.search.store import sql_tables
from scalesearch.search.store import storage as st
from scalesearch.search.store.studies import open_run
from tests.helpers import TINY_FAMILY, postgres_database, write_space

pytestmark = [pytest.mark.ray, pytest.mark.slow]
SCALESEARCH = [sys.executable, "-m", "scalesearch"]


def _searched(
    tmp_path: Path, storage: str | None = None, ablation_images: int | None = None
) -> tuple[Path, str]:
    """A finished two-trial search (no family) to ablate: its space file and storage (set
    up in this process, without Ray: the faults are the ablation's). The ablation trains as
    the family, on `ablation_images` where given (the search's trials stay short)."""
    family = TINY_FAMILY
    if ablation_images is not None:
        family = TINY_FAMILY.replace("}", f", max_train_images: {ablation_images}}}")
    space_path = write_space(tmp_path, "faults", {TINY_FAMILY: family}, trials=2)
    storage = storage or st.default_storage(tmp_path / "runs" / "faults")
    config = config_from_flags(
        load_space(space_path), tmp_path / "runs" / "faults", storage=storage,
        study_name="faults", family=False, trials=None,
    )  # fmt: skip
    run_search(config, log=lambda line: None, executor=InlineExecutor())
    return space_path, storage


def _ablation_cells(storage: str) -> Counter:
    trials = st.load_study(storage, "faults.ablation").trials
    assert not [t for t in trials if t.state == TrialState.RUNNING]
    done = [t for t in trials if t.state in (TrialState.COMPLETE, TrialState.PRUNED)]
    return Counter(
        (t.user_attrs["strategy"], t.user_attrs["phi"], t.user_attrs["seed"]) for t in done
    )


def test_a_killed_ablate_runs_again_with_nothing_twice_and_nothing_left_running(tmp_path) -> None:
    _, storage = _searched(tmp_path, ablation_images=256)
    command = SCALESEARCH + ["ablate", "--storage", storage, "--study", "faults", "--phi", "1"]
    command += ["--seeds", "1", "--run-dir", str(tmp_path / "runs"), "--max-concurrent", "1"]
    env = {"SCALESEARCH_HEARTBEAT_S": "1"}
    killed = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                              env={**os.environ, **env}, start_new_session=True)  # fmt: skip
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:  # kill it once its first member has finished
        line = killed.stdout.readline()
        if "[ablation] trial" in line and "complete" in line:
            break
    killed.send_signal(signal.SIGKILL)  # the driver and its own Ray, mid-training
    os.killpg(killed.pid, signal.SIGKILL)
    killed.wait(timeout=60)
    time.sleep(5)  # four missed beats: its running member is stale
    again = subprocess.run(command, capture_output=True, text=True, timeout=900,
                           env={**os.environ, **env})  # fmt: skip
    assert again.returncode == 0, again.stdout + again.stderr
    cells = _ablation_cells(storage)
    assert set(cells) == {(s, 1.0, 0) for s in STRATEGIES} and max(cells.values()) == 1
    failed = [
        t for t in st.load_study(storage, "faults.ablation").trials if t.state == TrialState.FAIL
    ]
    assert len(failed) <= 1  # at most the member it was training when killed


def test_two_ablate_drivers_on_one_postgresql_run_train_every_member_once(tmp_path) -> None:
    with postgres_database() as url:
        _searched(tmp_path, storage=url)
        command = SCALESEARCH + ["ablate", "--storage", url, "--study", "faults", "--phi", "1"]
        command += ["--seeds", "2", "--run-dir", str(tmp_path / "runs"), "--max-concurrent", "1"]
        drivers = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                    text=True) for _ in range(2)]  # fmt: skip
        outputs = [d.communicate(timeout=900)[0] for d in drivers]
        assert [d.returncode for d in drivers] == [0, 0], "\n".join(outputs)
        cells = _ablation_cells(url)
        assert set(cells) == {(s, 1.0, k) for s in STRATEGIES for k in (0, 1)}
        assert max(cells.values()) == 1  # no member trained twice
        trained_by = {t.user_attrs["driver"] for t in st.load_study(url, "faults.ablation").trials}
        assert len(trained_by) == 2  # both drivers took members


def test_report_and_frontier_read_a_run_while_it_writes(tmp_path) -> None:
    space = write_space(tmp_path, "busy", {}, trials=4)
    runs = tmp_path / "runs"
    writer = subprocess.Popen(SCALESEARCH + ["run", "--space", str(space), "--run-dir", str(runs)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)  # fmt: skip
    reads = []
    try:
        while writer.poll() is None:
            if (runs / "busy" / "study.db").is_file():
                for command in (["frontier", "--json"], ["report", "-o", str(tmp_path / "r.html")]):
                    reads.append(main([*command, "--run-dir", str(runs), "--study", "busy"]))
            time.sleep(2.0)  # a reader now and then, as a user would: not one that starves it
    finally:
        writer.wait(timeout=900)
    assert writer.returncode == 0, writer.stderr.read()
    assert len(reads) >= 4 and 0 in reads
    assert set(reads) <= {0, 2}  # 2 only while no trial had completed: one line, said so
    assert (
        main(["report", "--run-dir", str(runs), "--study", "busy", "-o", str(tmp_path / "r.html")])
        == 0
    )


def test_a_failed_export_leaves_the_earlier_one_whole(tmp_path, capsys) -> None:
    space = write_space(tmp_path, "shipped", {}, trials=1)
    runs = tmp_path / "runs"
    assert main(["run", "--space", str(space), "--run-dir", str(runs), "--no-family"]) == 0
    args = [
        "export",
        "--run-dir",
        str(runs),
        "--study",
        "shipped",
        "--trial",
        "0",
        "--exporter",
        "torchscript",
    ]  # this test is about the folder, not the exporter
    args += ["-o", str(tmp_path / "models")]
    assert main(args) == 0
    folder = tmp_path / "models" / "shipped-trial0"
    before = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.iterdir()}
    # A final training that "completed" with weights that are not weights: the export fails.
    broken = tmp_path / "broken" / "checkpoints"
    broken.mkdir(parents=True)
    (broken / "weights.safetensors").write_bytes(b"not a safetensors file at all")
    row = dict(study="shipped", trial=0, spec_hash="x", dataset="digits", epochs=1,
               epochs_done=1, steps=1, world_size=1, test_accuracy=0.5, params=1, macs=1,
               wall_seconds=1.0, checkpoint=str(broken), status="completed")  # fmt: skip
    sql_tables.save_final_run(open_run(st.default_storage(runs / "shipped"), "shipped").url, row)
    capsys.readouterr()
    assert main(args) == 2
    assert "not a readable weights file" in capsys.readouterr().err
    after = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.iterdir()}
    assert after == before  # the earlier export, whole
    assert not [p for p in (tmp_path / "models").iterdir() if p.name.startswith(".")]
