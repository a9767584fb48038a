"""A disk that fills or will not be written, as a cluster's scratch space does: with real
processes on a small tmpfs, a run stops with one line naming the place and the cause (exit
2, no traceback), its study still reads, and once there is room `--resume` finishes with no
architecture trained twice; a read-only run folder is refused before anything starts, and
an export that runs out of room leaves no half-written folder."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from optuna.trial import TrialState

from scalesearch.search.store import storage as st
from tests.helpers import trained_count, write_space

pytestmark = [pytest.mark.ray, pytest.mark.slow]
SCALESEARCH = [sys.executable, "-m", "scalesearch"]


@contextlib.contextmanager
def tmpfs(path: Path, size: str, *options: str) -> Iterator[Path]:
    """A small tmpfs at `path` (skips where this process may not mount one)."""
    path.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", ",".join((f"size={size}", *options)), "tmpfs", str(path)],
        capture_output=True,
        text=True,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({mounted.stderr.strip()}); CI runs as root")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True)


def _run(space: Path, run_dir: Path, *extra: str) -> subprocess.CompletedProcess:
    command = [*SCALESEARCH, "run", "--space", str(space), "--run-dir", str(run_dir)]
    command += ["--no-family", "--max-concurrent", "1", *extra]
    env = {**os.environ, "SCALESEARCH_HEARTBEAT_S": "1"}
    return subprocess.run(command, capture_output=True, text=True, timeout=600, env=env)


def test_a_full_disk_is_one_line_and_resume_finishes_once_there_is_room(tmp_path) -> None:
    space = write_space(tmp_path, "full", {"max_train_images: 96": "max_train_images: 160"}, 5)
    with tmpfs(tmp_path / "small", "200k") as small:
        stopped = _run(space, small)
        assert stopped.returncode == 2, stopped.stdout + stopped.stderr
        (line,) = stopped.stderr.strip().splitlines()
        assert f"{small}/full/study.db: the disk is full" in line, line
        assert "--resume" in line and "Traceback" not in stopped.stdout + stopped.stderr
        before = st.load_study(st.default_storage(small / "full"), "full")  # still reads
        kept = {t.number: t.values for t in before.trials if t.state == TrialState.COMPLETE}
        assert 1 <= len(kept) < 5
        subprocess.run(["mount", "-o", "remount,size=64m", str(small)], check=True)
        resumed = _run(space, small, "--resume")
        assert resumed.returncode == 0, resumed.stdout + resumed.stderr
        after = st.load_study(st.default_storage(small / "full"), "full")
    assert trained_count(after.trials) == 5
    assert {n: after.trials[n].values for n in kept} == kept  # nothing lost
    # Nothing trained twice: a duplicate (the resumed sampler drew a point trained already)
    # took its twin's result under the same key, and trained nothing.
    keys = [
        t.user_attrs["train_key"]
        for t in after.trials
        if t.state == TrialState.COMPLETE and "duplicate_of" not in t.user_attrs
    ]
    assert len(keys) == len(set(keys))


def test_a_read_only_run_folder_is_refused_before_anything_starts(tmp_path) -> None:
    space = write_space(tmp_path, "ro", {}, trials=2)
    with tmpfs(tmp_path / "ro", "1m", "ro") as folder:
        refused = _run(space, folder)
    assert refused.returncode == 2
    assert refused.stderr.strip() == (
        f"error: {folder}/ro: the file system is read-only; give a folder this run may write "
        f"(--run-dir)"
    )
