"""A storage password never reaches what the tool prints or writes for people to share.

A real run on the local PostgreSQL with a password in its URL (the server trusts local
connections, so the password is carried but not needed), then `report`, `frontier` and
`export`: every file they wrote and everything they printed is searched for it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from scalesearch.redact import STORAGE_ENV, has_password, hidden_in, shown, storage_flag
from tests.helpers import postgres_database, write_space

SECRET = "Sup3rS3cretPw"


@pytest.mark.parametrize(
    ("url", "seen"),
    [
        ("postgresql://ann:pw@db:5432/s", "postgresql://ann:***@db:5432/s"),
        ("postgresql://ann@db/s", "postgresql://ann@db/s"),
        ("sqlite:////tmp/x/study.db", "sqlite:////tmp/x/study.db"),
    ],
)
def test_a_url_is_shown_without_its_password(url, seen) -> None:
    assert shown(url) == seen
    assert has_password(url) == ("***" in seen)
    flag = storage_flag(url)
    assert flag == (f'--storage "${STORAGE_ENV}"' if has_password(url) else f"--storage '{url}'")
    assert hidden_in(f"cannot reach {url} now") == f"cannot reach {seen} now"


def _scalesearch(*args: str, env: dict | None = None, cwd: Path) -> subprocess.CompletedProcess:
    done = subprocess.run(
        [sys.executable, "-m", "scalesearch", *args],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=cwd,
        env={**os.environ, **(env or {})},
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done


@pytest.mark.ray
def test_no_password_in_anything_a_run_report_and_export_write(tmp_path) -> None:
    space = write_space(tmp_path, "secret", {}, trials=2)
    with postgres_database() as url:
        with_password = url.replace("postgres@", f"postgres:{SECRET}@")
        runs = tmp_path / "runs"
        printed = [
            _scalesearch("run", "--space", str(space), "--storage", with_password,
                         "--run-dir", str(runs), "--replicates", "1", cwd=tmp_path),
            # Commands to run again name the variable: --storage falls back to it.
            _scalesearch("report", "--study", "secret", "-o", str(tmp_path / "report.html"),
                         env={STORAGE_ENV: with_password}, cwd=tmp_path),
            _scalesearch("frontier", "--study", "secret", env={STORAGE_ENV: with_password},
                         cwd=tmp_path),
            _scalesearch("export", "--storage", with_password, "--study", "secret.family",
                         "--trial", "0", "-o", str(tmp_path / "export"), "--exporter", "torchscript",
                         cwd=tmp_path),
        ]  # fmt: skip
    output = "".join(p.stdout + p.stderr for p in printed)
    assert "postgres:***@" in output and SECRET not in output
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert (tmp_path / "report.html").is_file() and list((tmp_path / "export").rglob("README.md"))
    assert len(written) > 10, written
    leaks = [p for p in written if SECRET.encode() in p.read_bytes()]
    assert not leaks, leaks
    report = (tmp_path / "report.html").read_text()
    assert f'--storage "${STORAGE_ENV}"' in report and "SCALESEARCH_STORAGE holds" in report
    card = next((tmp_path / "export").rglob("README.md")).read_text()
    assert f'--storage "${STORAGE_ENV}"' in card and "postgres:***@" in card
