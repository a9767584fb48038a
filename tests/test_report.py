"""The report: its data functions on a fixture study, and the page in a real headless Chromium."""

from __future__ import annotations

import json
from pathlib import Path

import optuna
import pytest

from scalesearch.cli.app import main
from scalesearch.cli.browser import find_chromium, run_chromium
from scalesearch.cli.report import render_report
from scalesearch.cli.report_data import build_report, family_rows
from scalesearch.decode import encode
from scalesearch.search import records
from scalesearch.search import storage as st
from scalesearch.search.space import load_space

ROOT = Path(__file__).resolve().parents[1]
UNIT = optuna.distributions.FloatDistribution(1.0, 1.6)
EXPONENT, SCALE = -0.3, 40.0  # the fixture family's error = SCALE · MACs^EXPONENT


def _add(study, number_of_params, phase, phi, accuracy, macs, alpha=1.2, beta=1.3, **attrs) -> None:
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
                **attrs,
            },
        )
    )


# The ablation at φ = 1, two seeds: (strategy, accuracy of seed 0, of seed 1).
ABLATION = [("searched", 0.930, 0.934), ("default", 0.920, 0.921), ("depth", 0.900, 0.910)]


@pytest.fixture
def fixture_study(tmp_path) -> tuple[str, str]:
    storage = st.default_storage(tmp_path)
    study = st.create_or_load_study(st.open_storage(storage), "fx", st.make_sampler("random", 0))
    study.set_user_attr("space", "cmt_compound")
    study.set_user_attr("space_json", json.dumps(encode(load_space("cmt_compound"))))
    for i, (acc, macs) in enumerate([(0.90, 40e6), (0.93, 50e6), (0.91, 60e6), (0.85, 30e6)]):
        attrs = dict(latency_ms=2.0 + i, latency_device="AMD EPYC (1 threads)", val_images=2400)
        _add(
            study,
            700_000,
            "search",
            1.0,
            acc,
            macs,
            alpha=1.0 + 0.1 * i,
            beta=1.5 - 0.1 * i,
            **attrs,
        )
    for phi, macs in [(2.0, 120e6), (0.0, 15e6), (1.0, 45e6)]:  # out of order on purpose
        _add(study, 300_000, "family", phi, 1 - SCALE * macs**EXPONENT, macs, val_images=5000)
    for strategy, *accuracies in ABLATION:
        for seed, accuracy in enumerate(accuracies):
            attrs = dict(strategy=strategy, seed=seed, ablation_source=1, cost_ratio=1.0)
            _add(study, 400_000, "ablation", 1.0, accuracy, 45e6, **attrs)
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
    # cmt_compound's family trains longer than its proxy: only the search is on the frontier.
    candidates = [t for t in study.trials if t.values and t.user_attrs["phase"] == "search"]
    pareto = {
        t.number
        for t in candidates
        if not any(
            o.values[0] >= t.values[0] and o.values[1] <= t.values[1] and o.values != t.values
            for o in candidates
        )
    }
    assert {p["trial"] for p in data["points"] if p["on_frontier"]} == pareto
    assert [p["phi"] for p in data["family"]] == [0.0, 1.0, 2.0]
    assert not any(p["on_frontier"] for p in data["points"] if p["phase"] == "ablation")
    assert [p["phi"] for p in data["family"]] == [0.0, 1.0, 2.0]
    # The family follows error = SCALE · MACs^EXPONENT exactly: the law holds out its largest
    # member, predicts it, and only then predicts the next one.
    assert data["law"].law.b == pytest.approx(-EXPONENT, abs=1e-6)
    assert data["law"].passed and data["law"].held_out["inside"]
    assert data["next"]["phi"] == 3.0 and data["next"]["macs"] > 120e6
    assert data["fidelity"]["pairs"] == [(1, 0.93, 0.95)]
    assert data["summary"]["trials"] == {"complete": 13, "fail": 1}
    cells = {c["strategy"]: c for c in data["ablation"]}
    assert cells["searched"]["mean"] == pytest.approx(0.932)
    assert cells["searched"]["difference_from_default"] == pytest.approx(0.0115)
    assert cells["depth"]["paired_seeds"] == 2
    # The verdict opens with the ablation's answer, with the interval over the paired seeds.
    assert data["verdict"][0].startswith("At φ = 1: the searched coefficients beat the default")
    assert "over 2 paired seeds" in data["verdict"][0]
    # The family's seed noise, pooled over the ablation's cells: sd² = mean of the cells' sd².
    pooled = ((0.004**2 / 2 + 0.001**2 / 2 + 0.01**2 / 2) / 3) ** 0.5
    assert f"varies by {100 * pooled:.2f} points" in data["verdict"][1]


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


def test_the_page_renders_every_plot_offline_in_chromium(fixture_study, tmp_path) -> None:
    if find_chromium() is None:
        pytest.skip("no Chromium on this machine (apt install chromium; .ci/run installs it)")
    storage, name = fixture_study
    page = render_report(build_report(storage, name), tmp_path / "report.html")
    assert '<script src="http' not in page.read_text()  # plotly.js is inside: opens offline
    done = run_chromium(page, "--enable-logging=stderr", "--v=0", "--dump-dom")
    dom = done.stdout
    plots = dom.count('class="plot"')
    # frontier, latency, family, coefficients, importance, ablation, scaling law
    assert plots == 7, plots
    assert dom.count('class="main-svg"') >= plots  # each plot drew its SVG
    assert dom.count("js-plotly-plot") >= plots
    assert "Uncaught" not in done.stderr, done.stderr[-2000:]
    verdict = dom[dom.index('id="verdict"') : dom.index("Pareto frontier")]
    assert "the searched coefficients beat the default coefficients" in verdict
    assert "passed its checks" in verdict


def test_the_page_reads_at_a_glance(fixture_study, tmp_path) -> None:
    storage, name = fixture_study
    data = build_report(storage, name)
    glance = dict(data["glance"])
    assert glance["best coefficients"].startswith("alpha 1.100, beta 1.400")  # trial 1, 93%
    assert "no replicates" in glance["gain over the defaults"].lower()
    assert glance["proxy fidelity"].startswith("not measured: 0 frontier model(s) trained")
    assert glance["scaling law"].startswith("passed its checks")
    text = render_report(data, tmp_path / "r.html").read_text()
    summary = text[text.index('id="summary"') : text.index('id="verdict"')]
    assert "trials: 13 complete, 1 fail; search budget not recorded" in summary
    assert "MACs budget 200 M MACs" in summary and "{" not in summary  # no raw dicts
    frontier = text[text.index("<h2>Pareto frontier") : text.index("<h2>Reproduce")]
    assert "<td>50.0 M</td><td>0.700 M</td><td>3 ms</td>" in frontier  # human numbers, latency
    assert "scalesearch export --storage" in text and "--pareto" in text


def test_the_report_command_keeps_a_screenshot(fixture_study, tmp_path) -> None:
    if find_chromium() is None:
        pytest.skip("no Chromium on this machine (apt install chromium; .ci/run installs it)")
    storage, name = fixture_study
    # Kept under the run folder of the checkout (runs/, ignored by git): CI's artifact.
    picture = ROOT / "runs" / "ci" / "report-screenshot.png"
    picture.unlink(missing_ok=True)
    args = ["report", "--storage", storage, "--study", name, "-o", str(tmp_path / "r.html")]
    assert main([*args, "--screenshot", str(picture)]) == 0
    data = picture.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000
