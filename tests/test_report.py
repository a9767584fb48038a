"""The report: its data functions on a fixture study, and the page in a real headless Chromium."""

from __future__ import annotations

import json
import shutil
import subprocess

import optuna
import pytest

from scalesearch.cli.app import main
from scalesearch.cli.report import render_report
from scalesearch.cli.report_data import build_report, family_rows, fit_power_law
from scalesearch.decode import encode
from scalesearch.errors import ReportError
from scalesearch.search import records
from scalesearch.search import storage as st
from scalesearch.search.space import load_space

UNIT = optuna.distributions.FloatDistribution(1.0, 1.6)
EXPONENT, SCALE = -0.3, 40.0  # the fixture family's error = SCALE · MACs^EXPONENT


def _add(study, number_of_params, phase, phi, accuracy, macs, alpha=1.2, beta=1.3) -> None:
    study.add_trial(
        optuna.trial.create_trial(
            params={"alpha": alpha, "beta": beta},
            distributions={"alpha": UNIT, "beta": UNIT},
            values=[accuracy, macs],
            user_attrs={
                "phase": phase,
                "phi": phi,
                "gamma": 1.15,
                "params": number_of_params,
                "macs": macs,
            },
        )
    )


@pytest.fixture
def fixture_study(tmp_path) -> tuple[str, str]:
    storage = st.default_storage(tmp_path)
    study = st.create_or_load_study(st.open_storage(storage), "fx", st.make_sampler("random", 0))
    study.set_user_attr("space", "cmt_compound")
    study.set_user_attr("space_json", json.dumps(encode(load_space("cmt_compound"))))
    for i, (acc, macs) in enumerate([(0.90, 40e6), (0.93, 50e6), (0.91, 60e6), (0.85, 30e6)]):
        _add(study, 700_000, "search", 1.0, acc, macs, alpha=1.0 + 0.1 * i, beta=1.5 - 0.1 * i)
    for phi, macs in [(2.0, 120e6), (0.0, 15e6), (1.0, 45e6)]:  # out of order on purpose
        _add(study, 300_000, "family", phi, 1 - SCALE * macs**EXPONENT, macs)
    study.add_trial(optuna.trial.create_trial(state=optuna.trial.TrialState.FAIL))
    return storage, "fx"


def test_data_functions_on_a_fixture_study(fixture_study) -> None:
    storage, name = fixture_study
    records.save_final_run(
        storage,
        dict(
            study=name,
            trial=1,
            spec_hash="x",
            dataset="mnist",
            epochs=5,
            epochs_done=5,
            steps=10,
            world_size=1,
            test_accuracy=0.95,
            params=1,
            macs=1,
            wall_seconds=1.0,
            checkpoint="/c1",
            status="completed",
        ),
    )
    data = build_report(storage, name)
    study = st.load_study(storage, name)
    assert {p["trial"] for p in data["points"] if p["on_frontier"]} == {
        t.number for t in study.best_trials
    }
    assert [p["phi"] for p in data["family"]] == [0.0, 1.0, 2.0]
    assert data["law"].b == pytest.approx(EXPONENT, abs=1e-6)
    assert data["next"]["phi"] == 3.0 and data["next"]["macs"] > 120e6
    assert data["fidelity"]["pairs"] == [(1, 0.93, 0.95)]
    assert data["summary"]["trials"] == {"complete": 7, "fail": 1}


def test_power_law_fit_recovers_a_known_exponent_with_a_band() -> None:
    macs = [1e7, 3e7, 1e8, 3e8, 1e9]
    noise = [1.02, 0.97, 1.01, 0.99, 1.0]
    law = fit_power_law(macs, [5.0 * m**-0.25 * n for m, n in zip(macs, noise)])
    assert law.b == pytest.approx(-0.25, abs=0.02)
    low, high = law.band(3e9)
    assert low < law.predict(3e9) < high
    assert high / low > law.band(1e8)[1] / law.band(1e8)[0]  # wider away from the data
    with pytest.raises(ReportError):
        fit_power_law([1e7], [0.1])


def test_family_rows_keep_one_member_per_phi() -> None:
    points = [dict(phase="family", phi=p, trial=i) for i, p in enumerate([1.0, 0.0, 1.0])]
    assert [r["phi"] for r in family_rows(points)] == [0.0, 1.0]


@pytest.mark.parametrize("failed_only", [False, True])
def test_a_study_without_complete_trials_is_one_line_exit_2(tmp_path, capsys, failed_only) -> None:
    storage = st.default_storage(tmp_path)
    study = st.create_or_load_study(st.open_storage(storage), "empty", st.make_sampler("random", 0))
    if failed_only:
        study.add_trial(optuna.trial.create_trial(state=optuna.trial.TrialState.FAIL))
    assert (
        main(["report", "--storage", storage, "--study", "empty", "-o", str(tmp_path / "r.html")])
        == 2
    )
    err = capsys.readouterr().err.strip()
    assert "has no complete trial yet" in err and err.count("\n") == 0, err


def _chromium() -> str | None:
    return (
        shutil.which("chromium")
        or shutil.which("chromium-browser")
        or shutil.which("google-chrome")
    )


def test_the_page_renders_every_plot_offline_in_chromium(fixture_study, tmp_path) -> None:
    browser = _chromium()
    if browser is None:
        pytest.skip("no Chromium on this machine (apt install chromium; .ci/run installs it)")
    storage, name = fixture_study
    page = render_report(build_report(storage, name), tmp_path / "report.html")
    assert '<script src="http' not in page.read_text()  # plotly.js is inside: opens offline
    done = subprocess.run(
        [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={tmp_path / 'profile'}",
            "--virtual-time-budget=15000",
            "--enable-logging=stderr",
            "--v=0",
            "--dump-dom",
            page.resolve().as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    dom = done.stdout
    plots = dom.count('class="plot"')
    assert plots == 5, plots  # frontier, family, coefficients, importance, scaling law
    assert dom.count('class="main-svg"') >= plots  # each plot drew its SVG
    assert dom.count("js-plotly-plot") >= plots
    assert "Uncaught" not in done.stderr, done.stderr[-2000:]
