"""optuna-dashboard on a finished run, in a real headless Chromium: one fidelity per study,
the family on a MACs axis, notes, the answer's figures and an exported model's artifacts.

Pictures of the pages are kept under runs/ci/ (ignored by git): CI's artifacts.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from scalesearch.cli.main import main
from scalesearch.report.browser import find_chromium, run_chromium, screenshot
from scalesearch.search.store import storage as st
from tests.helpers import free_port, write_space

pytestmark = pytest.mark.ray
PICTURES = Path(__file__).resolve().parents[1] / "runs" / "ci"


def _text(url: str) -> str:
    """The page's visible text after its scripts ran."""
    dom = run_chromium(url, "--dump-dom").stdout
    dom = re.sub(r"<(style|script)[^>]*>.*?</\1>", "", dom, flags=re.S)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", dom))


def _api(port: int, path: str) -> dict:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as r:
        return json.loads(r.read())


@pytest.fixture
def dashboard(tmp_path):
    """A finished tiny run with one exported family member, and its dashboard."""
    space = write_space(tmp_path, "shown", {}, trials=3)
    runs = tmp_path / "runs"
    assert main(["run", "--space", str(space), "--run-dir", str(runs)]) == 0
    assert main(["export", "--run-dir", str(runs), "--study", "shown.family", "--trial", "0",
                 "-o", str(tmp_path / "models"), "--exporter", "torchscript"]) == 0  # fmt: skip
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "scalesearch", "dashboard", "--run-dir", str(runs)]
        + ["--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(100):
            try:
                studies = _api(port, "/api/studies")["study_summaries"]
                break
            except OSError:
                time.sleep(0.2)
        else:
            pytest.fail("the dashboard did not answer within 20 s")
        yield port, {s["study_name"]: s["study_id"] for s in studies}, runs
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_the_dashboard_shows_one_fidelity_per_study_with_notes_figures_and_artifacts(
    dashboard,
) -> None:
    if find_chromium() is None:
        pytest.skip("no Chromium on this machine (apt install chromium; .ci/run installs it)")
    port, ids, runs = dashboard
    assert set(ids) == {"shown", "shown.family"}
    base = f"http://127.0.0.1:{port}/dashboard/studies"
    # The search study: accuracy against sequential layers, search trials only.
    search = _text(f"{base}/{ids['shown']}")
    assert "Objective Y: sequential_layers" in search
    assert "The search: accuracy against layers at equal MACs (proxy training)" in search
    study = st.load_study(st.default_storage(runs / "shown"), "shown")
    assert {t.user_attrs["phase"] for t in study.trials} == {"search"}
    # The family study: its φ members on a MACs axis, its frontier figure.
    family = _text(f"{base}/{ids['shown.family']}")
    assert "Objective Y: MACs" in family
    assert "The family frontier: accuracy against MACs across φ" in family
    members = st.load_study(st.default_storage(runs / "shown"), "shown.family").trials
    assert {t.user_attrs["phase"] for t in members} == {"family", "check"}  # the defaults
    assert sorted({t.user_attrs["phi"] for t in members}) == [-2.0, -1.0, 1.0]
    # The run's answer as the study's note, and the report as a study artifact.
    note = _text(f"{base}/{ids['shown']}/note")
    assert "scalesearch run shown" in note and "Reproduce" in note
    assert any(w in note for w in ("Saturated:", "Gains:", "Inconclusive:"))
    assert "report.html" in search  # Study Artifacts
    # A trial's note and the exported model's files as its artifacts.
    trial = _text(f"{base}/{ids['shown.family']}/trials?numbers=0")
    assert "Trial 0: family" in trial and "Architecture" in trial and "Trained under" in trial
    for name in ("model.onnx", "weights.safetensors", "spec.json", "README.md"):
        assert name in trial[trial.index("Artifacts") :], name
    PICTURES.mkdir(parents=True, exist_ok=True)
    screenshot(f"{base}/{ids['shown.family']}", PICTURES / "dashboard-family-study.png", 1400, 1800)
    screenshot(f"{base}/{ids['shown']}/note", PICTURES / "dashboard-study-note.png", 1400, 1400)
    screenshot(
        f"{base}/{ids['shown.family']}/trials?numbers=0",
        PICTURES / "dashboard-trial.png",
        1400,
        1800,
    )
    assert (PICTURES / "dashboard-trial.png").stat().st_size > 20_000


def test_trial_notes_are_written_once_and_rewritten_where_they_change(tmp_path) -> None:
    """Read back by optuna-dashboard's own reader; a longer note replaces a shorter one
    chunk for chunk, a shorter one blanks what is left of a longer one."""
    import optuna
    import optuna_dashboard

    from scalesearch.report.board import save_notes
    from scalesearch.search.store import optuna_private
    from scalesearch.search.store import storage as st

    study = st.create_or_load_study(
        st.open_storage(st.default_storage(tmp_path)), "notes", optuna.samplers.RandomSampler()
    )
    for _ in range(3):
        study.tell(study.ask(), [0.5, 1.0])
    ids = [optuna_private.trial_id(t) for t in study.trials]
    long = "x" * 5000  # three of the dashboard's 2,045-character chunks

    def note(n: int) -> str:
        return optuna_dashboard.get_note(optuna_private.live_trial(study, study.trials[n]))

    assert save_notes(study, {ids[0]: "first", ids[1]: long}) == 2
    assert (note(0), note(1), note(2)) == ("first", long, "")
    assert save_notes(study, {ids[0]: "first", ids[1]: long}) == 0  # nothing changed
    assert save_notes(study, {ids[0]: long, ids[1]: "short", ids[2]: "third"}) == 3
    assert (note(0), note(1), note(2)) == (long, "short", "third")
