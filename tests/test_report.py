"""The report: its data functions on a fixture study, and the page in a real headless Chromium."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import optuna
import pytest

from scalesearch.cli.main import main
from scalesearch.report.browser import find_chromium, run_chromium
from scalesearch.report.data import build_report, family_members
from scalesearch.report.page import render_report
from scalesearch.report.words import at_a_glance, verdict_lines
from scalesearch.search.run import samplers
from scalesearch.search.space import load_space
from scalesearch.search.store import run_attributes, sql_tables
from scalesearch.search.store import storage as st
from scalesearch.search.store.schema import Phase
from scalesearch.search.store.studies import RunStudies

ROOT = Path(__file__).resolve().parents[1]
UNIT = optuna.distributions.FloatDistribution(1.0, 1.6)
EXPONENT, SCALE = -0.3, 40.0  # the fixture family's error = SCALE · MACs^EXPONENT
SEARCH = [(0.90, 40e6, 30), (0.93, 50e6, 34), (0.91, 60e6, 38), (0.85, 30e6, 26)]


def _add(study, number_of_params, phase, phi, values, alpha=1.2, beta=1.3, **attrs) -> None:
    study.add_trial(
        optuna.trial.create_trial(
            params={"alpha": alpha, "beta": beta},
            distributions={"alpha": UNIT, "beta": UNIT},
            values=values,
            user_attrs={
                "phase": phase,
                "phi": phi,
                "gamma": 1.15,
                "params": number_of_params,
                **attrs,
            },
        )
    )


def _timed(run: str, spec_hash: str, ms: float) -> dict:
    """A row of the run's latency table, as a quiet timing writes it."""
    passes = json.dumps([ms * 0.98, ms, ms * 1.03])
    return dict(
        study=run,
        spec_hash=spec_hash,
        session="q",
        device="AMD EPYC (1 threads)",
        ms_batch1=ms,
        ms_batch=6 * ms,
        batch=8,
        passes_ms=passes,
        layers=None,
        unmeasured=None,
    )


# The ablation at φ = 1, two seeds: (strategy, accuracy of seed 0, of seed 1).
ABLATION = [("searched", 0.930, 0.934), ("default", 0.920, 0.921), ("depth", 0.900, 0.910)]


@pytest.fixture(params=["0.2", "split"])
def fixture_study(tmp_path, request) -> tuple[str, str]:
    """A run as 0.2 wrote it (every phase in one study, the search on accuracy and MACs) or
    as 0.3 does (a study per fidelity, the search on accuracy and sequential layers)."""
    storage = st.default_storage(tmp_path)
    split = request.param == "split"
    space = load_space("cmt_compound")
    if not split:
        search = dataclasses.replace(
            space.search, objectives={"accuracy": "maximize", "macs": "minimize"}
        )
        space = dataclasses.replace(space, search=search)
    study = st.create_or_load_study(
        st.open_storage(storage), "fx", samplers.make_sampler("random", 0), space.search.objectives
    )
    run_attributes.store_space(study, space)
    if split:
        run_attributes.mark_split(study)
    run = RunStudies(storage, study)
    for i, (acc, macs, layers) in enumerate(SEARCH):
        attrs = dict(spec_hash=f"s{i}", val_images=2400)
        values = [acc, layers if split else macs]
        _add(
            study,
            700_000,
            "search",
            1.0,
            values,
            1.0 + 0.1 * i,
            1.5 - 0.1 * i,
            macs=macs,
            layers=layers,
            **attrs,
        )
    sql_tables.save_latencies(storage, [_timed("fx", f"s{i}", 2.0 + i) for i in range(len(SEARCH))])
    family = run.study_for(Phase.FAMILY, create=True)
    for phi, macs in [(2.0, 120e6), (0.0, 15e6), (1.0, 45e6)]:  # out of order on purpose
        accuracy = 1 - SCALE * macs**EXPONENT
        _add(
            family,
            300_000,
            "family",
            phi,
            [accuracy, macs],
            macs=macs,
            seed=0,
            arch_key=f"f{phi}",
            val_images=5000,
        )
    ablation = run.study_for(Phase.ABLATION, create=True)
    for strategy, *accuracies in ABLATION:
        for seed, accuracy in enumerate(accuracies):
            attrs = dict(strategy=strategy, seed=seed, ablation_source=1, cost_ratio=1.0, macs=45e6)
            _add(ablation, 400_000, "ablation", 1.0, [accuracy, 45e6], **attrs)
    study.add_trial(optuna.trial.create_trial(state=optuna.trial.TrialState.FAIL))
    return storage, "fx"


def test_data_functions_on_a_fixture_study(fixture_study) -> None:
    storage, name = fixture_study
    final = dict(study=name, trial=1, spec_hash="x", dataset="mnist", epochs=5, epochs_done=5)
    final |= dict(steps=10, world_size=1, test_accuracy=0.95, params=1, macs=1, wall_seconds=1.0)
    sql_tables.save_final_run(storage, {**final, "checkpoint": "/c1", "status": "completed"})
    data = build_report(storage, name)
    study = st.load_study(storage, name)
    # The search frontier holds search trials only, on the search study's own axes.
    candidates = [t for t in study.trials if t.values and t.user_attrs["phase"] == "search"]
    pareto = {
        t.number
        for t in candidates
        if not any(
            o.values[0] >= t.values[0] and o.values[1] <= t.values[1] and o.values != t.values
            for o in candidates
        )
    }
    assert {p.trial for p in data.search_points if p.on_frontier} == pareto
    assert {p.trial for p in data.search_frontier} == pareto
    assert {p.phase for p in data.search_points} == {"search"}
    # The family, one member per φ in MACs order, is the accuracy–MACs frontier.
    assert [m.phi for m in data.members] == [0.0, 1.0, 2.0]
    assert [p.phi for p in data.family_frontier] == [0.0, 1.0, 2.0]
    # It follows error = SCALE · MACs^EXPONENT exactly, every step gains beyond the noise:
    # the law holds out its largest member, predicts it, and only then predicts the next one.
    assert data.scaling.kind == "gains"
    assert data.scaling.law.law.b == pytest.approx(-EXPONENT, abs=1e-6)
    assert data.scaling.law.passed and data.scaling.law.held_out["inside"]
    assert data.next["phi"] == 3.0 and data.next["macs"] > 120e6
    assert data.fidelity.pairs == [(1, 0.93, 0.95)]
    assert data.summary.trials == {"complete": 13, "fail": 1}
    cells = {c.strategy: c for c in data.ablation}
    assert cells["searched"].mean == pytest.approx(0.932)
    assert cells["searched"].difference == pytest.approx(0.0115)
    assert cells["depth"].pairs == 2
    lines = verdict_lines(data)
    assert lines[0].startswith("Gains: every step up gains beyond the noise")
    # The ablation's answer, with the interval over the paired seeds.
    assert lines[1].startswith("At φ = 1: the searched coefficients beat the default")
    assert "over 2 paired seeds" in lines[1]
    # The family's seed noise, pooled over the ablation's cells: sd² = mean of the cells' sd².
    pooled = ((0.004**2 / 2 + 0.001**2 / 2 + 0.01**2 / 2) / 3) ** 0.5
    assert data.family_noise == pytest.approx(pooled)
    assert f"varies by {100 * pooled:.2f} points" in lines[2]


def test_the_family_s_seeds_make_one_member_with_its_error(tmp_path) -> None:
    storage = st.default_storage(tmp_path)
    study = st.create_or_load_study(
        st.open_storage(storage), "two", samplers.make_sampler("random", 0)
    )
    run_attributes.mark_split(study)
    family = RunStudies(storage, study).study_for(Phase.FAMILY, create=True)
    for phi, accuracies in [(0.0, (0.80, 0.82)), (1.0, (0.86, 0.85))]:
        for seed, accuracy in enumerate(accuracies):
            attrs = dict(macs=1e7 * (1 + phi), seed=seed, arch_key=f"f{phi}", val_images=10_000)
            _add(family, 1, "family", phi, [accuracy, 1e7 * (1 + phi)], **attrs)
    data_members = family_members(RunStudies(storage, study), [])
    assert [(m.phi, m.seeds) for m in data_members] == [(0.0, 2), (1.0, 2)]
    assert data_members[0].accuracy == pytest.approx(0.81)
    pooled = ((0.02**2 / 2 + 0.01**2 / 2) / 2) ** 0.5  # over the two members' seeds
    assert data_members[0].se == pytest.approx(pooled / 2**0.5)


@pytest.mark.parametrize("failed_only", [False, True])
def test_a_study_without_complete_trials_is_one_line_exit_2(tmp_path, capsys, failed_only) -> None:
    storage = st.default_storage(tmp_path)
    study = st.create_or_load_study(
        st.open_storage(storage), "empty", samplers.make_sampler("random", 0)
    )
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
    # family frontier, search, latency, coefficients, importance, ablation, scaling law
    assert plots == 7, plots
    assert dom.count('class="main-svg"') >= plots  # each plot drew its SVG
    assert dom.count("js-plotly-plot") >= plots
    assert "Uncaught" not in done.stderr, done.stderr[-2000:]
    verdict = dom[dom.index('id="verdict"') : dom.index("<h2>Family frontier")]
    assert "the searched coefficients beat the default coefficients" in verdict
    assert "passed its check" in verdict


def test_the_page_reads_at_a_glance(fixture_study, tmp_path) -> None:
    storage, name = fixture_study
    data = build_report(storage, name)
    glance = dict(at_a_glance(data))
    assert glance["scaling"].startswith("Gains:")
    assert glance["family frontier"].startswith("accuracy against MACs, each member trained")
    assert glance["best coefficients"].startswith("alpha 1.100, beta 1.400")  # trial 1, 93%
    assert glance["latency"] == (
        "4 architectures timed with nothing else training, on AMD EPYC (1 threads), 3 passes "
        "interleaved: pass-to-pass τ (least pair) 1.00, median spread 5%; τ(layers, latency) n/a"
    )
    assert glance["gain over the defaults (proxy)"].startswith(
        "not measured: no architecture has two"
    )
    # No check and no budget in this study: each says what is missing, not a number.
    assert glance["at the family's training"].startswith("not checked: ")
    assert glance["next compute"].startswith("not measured: no budget study trained")
    assert "proxy fidelity" not in glance  # said only once final runs measure it
    text = render_report(data, tmp_path / "r.html").read_text()
    summary = text[text.index('id="summary"') : text.index('id="verdict"')]
    assert "trials: 13 complete, 1 fail; search budget not recorded" in summary
    assert "MACs budget 200 M MACs" in summary and "{" not in summary  # no raw dicts
    search = text[text.index("<h2>Search frontier") : text.index("<h2>Ablation")]
    assert "<td>50.0 M</td><td>0.700 M</td>" in search  # human numbers
    family = text[text.index("<h2>Family frontier") : text.index("<h2>Search frontier")]
    assert family.count("<tr><td>") == 3  # φ 0, 1, 2
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
