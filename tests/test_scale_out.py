"""Scale-out: a real two-node Ray cluster, drivers sharing a PostgreSQL study, a killed driver."""

from __future__ import annotations

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
from scalesearch.errors import StudyError
from scalesearch.search.results.frontier import search_frontier
from scalesearch.search.store import storage as st
from scalesearch.search.store.studies import open_run
from tests.helpers import free_port, pareto_trained, postgres_database, trained_count, write_space

pytestmark = pytest.mark.ray

SCALESEARCH = [sys.executable, "-m", "scalesearch", "run"]
# `ray start` turns on token authentication here; its clients must use it too.
TOKEN_AUTH = {**os.environ, "RAY_AUTH_MODE": "token"}


def _ray_start(*args: str) -> subprocess.Popen:
    """`ray start --block` in its own process group (so teardown stops this node alone)."""
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "ray.scripts.scripts",
            "start",
            "--block",
            "--num-cpus=1",
            "--disable-usage-stats",
            *args,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        env=TOKEN_AUTH,
    )


def _wait_for_nodes(address: str, count: int) -> None:
    probe = (
        "import ray, sys; ray.init(address=sys.argv[1], logging_level='ERROR');"
        "print(sum(n['Alive'] for n in ray.nodes()))"
    )
    for _ in range(30):
        out = subprocess.run(
            [sys.executable, "-c", probe, address],
            capture_output=True,
            text=True,
            env=TOKEN_AUTH,
            timeout=120,
        )
        if out.stdout.strip() == str(count):
            return
        time.sleep(1)
    pytest.fail(f"the Ray cluster at {address} did not reach {count} nodes")


@pytest.fixture
def two_node_cluster():
    """A head and a second node on loopback ports (never 6379: Redis holds it here)."""
    address = f"127.0.0.1:{free_port()}"
    nodes = [
        _ray_start(
            "--head",
            f"--port={address.split(':')[1]}",
            "--include-dashboard=false",
            "--node-ip-address=127.0.0.1",
        )
    ]
    time.sleep(3)
    nodes.append(_ray_start(f"--address={address}", "--node-ip-address=127.0.0.1"))
    try:
        _wait_for_nodes(address, 2)
        yield address
    finally:  # both nodes asked at once; a node still stopping after 10 s is killed
        for node in reversed(nodes):
            os.killpg(node.pid, signal.SIGTERM)
        for node in reversed(nodes):
            try:
                node.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(node.pid, signal.SIGKILL)
                node.wait(timeout=30)


def test_search_spreads_over_a_two_node_cluster(two_node_cluster, tmp_path) -> None:
    # Trials long enough (400 images) to overlap while the driver realises the next spec.
    space = write_space(
        tmp_path,
        "spread",
        {"max_train_images: 96": "max_train_images: 400"},
        trials=4,
    )
    done = subprocess.run(
        SCALESEARCH
        + [
            "--space",
            str(space),
            "--run-dir",
            str(tmp_path),
            "--address",
            two_node_cluster,
            "--no-family",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        env=TOKEN_AUTH,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    study = st.load_study(st.default_storage(tmp_path / "spread"), "spread")
    trained = [t for t in study.trials if "node_id" in t.user_attrs]
    assert len({t.user_attrs["node_id"] for t in trained}) == 2, [t.user_attrs for t in trained]


def test_unreachable_cluster_is_one_line_exit_2(tmp_path, capsys) -> None:
    args = [
        "run",
        "--space",
        "cmt_compound",
        "--run-dir",
        str(tmp_path),
        "--address",
        f"127.0.0.1:{free_port()}",
    ]
    started = time.monotonic()
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert "no Ray cluster answers there" in err and err.count("\n") == 0, err
    assert time.monotonic() - started < 30


def test_two_drivers_share_one_postgresql_study(tmp_path) -> None:
    space = write_space(tmp_path, "shared", {}, trials=3)
    with postgres_database() as url:
        command = SCALESEARCH + [
            "--space",
            str(space),
            "--run-dir",
            str(tmp_path),
            "--storage",
            url,
            "--join",
            "--max-concurrent",
            "1",
        ]
        drivers = [
            subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            for _ in range(2)
        ]
        outputs = [d.communicate(timeout=600)[0] for d in drivers]
        assert [d.returncode for d in drivers] == [0, 0], "\n".join(outputs)
        study = st.load_study(url, "shared")
        search = [t for t in study.trials if t.user_attrs.get("phase") == "search"]
        assert trained_count(search) == 6  # both budgets: architectures trained
        assert len({t.user_attrs["driver"] for t in search}) == 2  # both drivers trained
        points = Counter((t.params["alpha"], t.params["beta"]) for t in search)
        assert max(points.values()) == 1  # no point sampled twice
        family = st.load_study(url, "shared.family").trials  # the family's own study
        members = sorted(
            (t.user_attrs["phase"], t.user_attrs["phi"], t.user_attrs["seed"]) for t in family
        )
        expected = [("check", 1.0, 0), ("check", 1.0, 1)]  # the defaults beside the family
        expected += [("family", p, s) for p in (-2.0, -1.0, 1.0) for s in (0, 1)]
        assert members == expected  # none twice
        assert all(t.state == TrialState.COMPLETE for t in family)
        assert {p.trial for p in search_frontier(open_run(url, "shared"))} == pareto_trained(study)


def test_a_killed_driver_s_trial_ends_fail_and_resume_completes(tmp_path) -> None:
    space = write_space(
        tmp_path,
        "killed",
        {"max_train_images: 96": "max_train_images: 512"},
        trials=3,
    )
    storage = st.default_storage(tmp_path / "killed")
    command = SCALESEARCH + [
        "--space",
        str(space),
        "--run-dir",
        str(tmp_path),
        "--no-family",
        "--max-concurrent",
        "1",
    ]
    env = {**os.environ, "SCALESEARCH_HEARTBEAT_S": "1"}
    # Its own session: the kill takes the driver and the local Ray it started, as when a
    # machine dies.
    log = tmp_path / "driver.log"
    with log.open("w") as out:
        driver = subprocess.Popen(
            command, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    deadline = time.monotonic() + 300
    while not _running_trials(storage, "killed"):
        assert driver.poll() is None, f"the driver ended early:\n{log.read_text()}"
        assert time.monotonic() < deadline, f"no trial started:\n{log.read_text()}"
        time.sleep(0.5)
    time.sleep(2)  # mid-trial
    os.killpg(driver.pid, signal.SIGKILL)
    driver.wait(timeout=30)
    running = _running_trials(storage, "killed")
    # The trial training, and the next one where it was asked ahead (built, not trained).
    assert 1 <= len(running) <= 2, f"running {running}; the driver said:\n{log.read_text()}"

    resumed = subprocess.run(
        command + ["--resume"], env=env, capture_output=True, text=True, timeout=300
    )
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert "of a stopped driver as failed" in resumed.stdout
    study = st.load_study(storage, "killed")
    assert all(study.trials[killed].state == TrialState.FAIL for killed in running)
    assert trained_count(study.trials) == 3
    assert not [t for t in study.trials if t.state == TrialState.RUNNING]


def _running_trials(storage: str, name: str) -> list[int]:
    if not Path(storage.removeprefix("sqlite:///")).is_file():
        return []
    try:
        study = st.load_study(storage, name)
    except StudyError:
        return []
    return [t.number for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))]
