"""From verdict to decision on real studies (no Ray): what the family phase plans beside the
family, the defaults' check read against the family's noise, the budget cells and their law,
and the words with the commands that would settle what the noise leaves open."""

from __future__ import annotations

import json
import shlex

import optuna
import pytest

from scalesearch.report.data import build_report
from scalesearch.report.decision_words import budget_words, check_words
from scalesearch.report.words import at_a_glance
from scalesearch.search.config import RunConfig
from scalesearch.search.phases.family import family_phase
from scalesearch.search.results.budget import budget_answer
from scalesearch.search.results.defaults_check import defaults_check, why_unchecked
from scalesearch.search.results.noise import family_seed_noise
from scalesearch.search.run import samplers
from scalesearch.search.space import load_space
from scalesearch.search.store import run_attributes
from scalesearch.search.store import storage as st
from scalesearch.search.store.schema import Phase
from scalesearch.search.store.studies import RunStudies

UNIT = optuna.distributions.FloatDistribution(1.0, 1.6)
SPACE = load_space("cmt_compound")
SEARCHED = {"alpha": 1.33, "beta": 1.43}
GAMMA = SPACE.scaling.constraint.solve_gamma(1.33, 1.43)
FLAG = "--storage 'sqlite:///x.db'"


def _add(study, params, accuracy, macs, **attrs) -> None:
    values = [accuracy, macs] if len(study.directions) == 2 else [accuracy, 100]
    study.add_trial(
        optuna.trial.create_trial(
            params=params,
            distributions={k: UNIT for k in params},
            values=values,
            user_attrs={"val_images": 2400, "macs": macs, "params": 1000, **attrs},
        )
    )


def _search(tmp_path, name: str) -> tuple[str, optuna.Study]:
    """A new split run's search study of the shipped space."""
    url = st.default_storage(tmp_path)
    search = st.create_or_load_study(
        st.open_storage(url), name, samplers.make_sampler("random", 0), SPACE.search.objectives
    )
    run_attributes.bind_run(search, SPACE, SPACE.proxy)
    return url, search


@pytest.fixture
def run(tmp_path) -> RunStudies:
    """A split run whose search trained the searched and the default coefficients once."""
    url, search = _search(tmp_path, "run x")
    _add(search, SEARCHED, 0.72, 39e6, phase="search", phi=1.0, seed=0, arch_key="s")
    defaults = SPACE.default_params()
    _add(search, defaults, 0.62, 39e6, phase="replicate", phi=1.0, seed=0, arch_key="d",
         default_coefficients=True)  # fmt: skip
    return RunStudies(url, search)


def _config(run: RunStudies, tmp_path) -> RunConfig:
    return RunConfig(SPACE, run.url, run.name, tmp_path, 1, SPACE.proxy, resume=True)


def _family(run: RunStudies, rows: dict[float, tuple[float, ...]], macs0=15.6e6) -> None:
    study = run.study_for(Phase.FAMILY, create=True)
    for phi, accuracies in rows.items():
        for seed, accuracy in enumerate(accuracies):
            _add(study, SEARCHED, accuracy, macs0 * 2.5**phi, phase="family", phi=phi,
                 seed=seed, arch_key=f"f{phi}", images_seen=7200, gamma=GAMMA)  # fmt: skip


def _check(run: RunStudies, accuracies: tuple[float, ...]) -> None:
    study = run.study_for(Phase.CHECK, create=True)
    for seed, accuracy in enumerate(accuracies):
        _add(study, SPACE.default_params(), accuracy, 39e6, phase="check", phi=1.0, seed=seed,
             arch_key="c", default_coefficients=True, images_seen=7200)  # fmt: skip


def test_the_family_phase_plans_members_the_defaults_check_and_budgets(run, tmp_path) -> None:
    units = family_phase(run, _config(run, tmp_path), "me", lambda _: None).units
    kinds = [(u.phase, u.record.phi, u.record.budget_factor) for u in units]
    assert kinds.count((Phase.FAMILY, 2.0, None)) == 2  # φ 0, 1, 2 × 2 seeds
    assert kinds.count((Phase.CHECK, 1.0, None)) == 2  # the defaults at the search φ
    assert kinds.count((Phase.BUDGET, 1.0, 3.0)) == 2  # φ 0, 1 at 3× the images seen
    assert len(units) == 6 + 2 + 4
    check = [u for u in units if u.phase == Phase.CHECK]
    assert all(u.params == SPACE.default_params() for u in check)
    assert [u.record.seed for u in check] == [0, 1]  # the family's seeds: paired
    # The longest first: φ 1 at 3× the images (7.5× the base's cost) before φ 2 (6.25×).
    assert units[0].phase == Phase.BUDGET and units[0].record.phi == 1.0
    assert units[2].phase == Phase.FAMILY and units[2].record.phi == 2.0


def test_nothing_is_checked_when_the_search_picked_the_defaults(tmp_path) -> None:
    """Equal cost realised the defaults' network in the search, and it led the race."""
    url, search = _search(tmp_path, "d")
    _add(search, SEARCHED, 0.99, 39e6, phase="search", phi=1.0, seed=0, arch_key="d")
    _add(search, SPACE.default_params(), 0.99, 39e6, phase="replicate", phi=1.0, seed=0,
         arch_key="d", default_coefficients=True, duplicate_of=0)  # fmt: skip
    run, said = RunStudies(url, search), []
    units = family_phase(run, _config(run, tmp_path), "me", said.append).units
    assert not [u for u in units if u.phase == Phase.CHECK]
    assert any("the default coefficients: nothing to check" in line for line in said)
    _family(run, {1: (0.8,)})
    assert why_unchecked(run).startswith("the search's pick is the default coefficients")


@pytest.mark.parametrize(
    ("defaults", "verdict"),
    [((0.70, 0.71), "better"), ((0.770, 0.778), "tied")],
)
def test_the_check_is_said_against_the_family_noise(run, defaults, verdict) -> None:
    _family(run, {0: (0.74, 0.75), 1: (0.775, 0.785), 2: (0.79, 0.80)})
    _check(run, defaults)
    check = defaults_check(run)
    assert check is not None and check.verdict == verdict
    assert check.difference.paired == 2 and check.noise.measured
    words = check_words(check, None, FLAG)
    assert "paired over 2 seeds" in words and "at φ 1" in words
    if verdict == "tied":
        # What would settle it: computed seeds, and the command that trains them.
        command = words[words.index("scalesearch retrain") :]
        argv = shlex.split(command)
        assert argv[argv.index("--study") + 1] == "run x.family"  # quoted: it has a space
        assert argv.count("--trial") == 2 and int(argv[argv.index("--seeds") + 1]) > 2
    glance = dict(at_a_glance(build_report(run.url, run.name)))
    assert glance["at the family's training"] == check_words(check, None, glance_flag(run))


def glance_flag(run: RunStudies) -> str:
    from scalesearch.redact import storage_flag

    return storage_flag(run.url)


def test_why_there_is_no_check(run) -> None:
    assert why_unchecked(run) == "no family trained yet"
    _family(run, {0: (0.74,), 1: (0.78,)})
    assert "has not finished training" in why_unchecked(run)


def test_budget_cells_fit_a_law_that_names_where_compute_goes(run) -> None:
    _family(run, {0: (0.740, 0.742), 1: (0.771, 0.773), 2: (0.801, 0.803)})
    budget = run.study_for(Phase.BUDGET, create=True, factor=3.0)
    for phi, accuracy in ((0, 0.830), (1, 0.852)):
        for seed in (0, 1):
            _add(budget, SEARCHED, accuracy + 0.001 * seed, 15.6e6 * 2.5**phi, phase="budget",
                 phi=float(phi), seed=seed, budget_factor=3.0, images_seen=21600, arch_key=f"b{phi}")  # fmt: skip
    assert run.budget_factors() == [3.0]
    assert run.name_for(Phase.BUDGET, 3.0) == "run x.budget3x"
    answer = budget_answer(run, family_seed_noise(run, []))
    assert len(answer.cells) == 5 and answer.check is not None
    held = answer.check.held_out.cell
    assert (held.phi, held.factor) == (1.0, 3.0)
    assert answer.decision is not None and answer.decision.kind == "training"
    words = budget_words(answer, FLAG)
    assert words.startswith("for 2× the training compute of φ 2")
    assert "longer training gains most" in words and "passed its check" in words
    glance = dict(at_a_glance(build_report(run.url, run.name)))
    assert glance["next compute"].startswith("for 2× the training compute of φ 2")


def test_without_a_budget_the_next_compute_is_not_measured(run) -> None:
    _family(run, {0: (0.74, 0.75), 1: (0.77, 0.78), 2: (0.79, 0.80)})
    words = budget_words(budget_answer(run, family_seed_noise(run, [])), FLAG)
    assert words.startswith("not measured: no budget study trained")


def test_plan_answers_for_a_compute_the_user_gives(run, capsys) -> None:
    from scalesearch.cli.main import main

    _family(run, {0: (0.740, 0.742), 1: (0.771, 0.773), 2: (0.801, 0.803)})
    budget = run.study_for(Phase.BUDGET, create=True, factor=3.0)
    for phi, accuracy in ((0, 0.830), (1, 0.852)):
        _add(budget, SEARCHED, accuracy, 15.6e6 * 2.5**phi, phase="budget", phi=float(phi),
             seed=0, budget_factor=3.0, images_seen=21600, arch_key=f"b{phi}")  # fmt: skip
    assert (
        main(["plan", "--storage", run.url, "--study", run.name, "--compute", "4x", "--json"]) == 0
    )
    plan = json.loads(capsys.readouterr().out)
    assert plan["decision"]["multiple"] == pytest.approx(4.0)
    at = plan["decision"]["at"]
    flops = 8 * at["compute"]
    assert main(["plan", "--storage", run.url, "--study", run.name, "--compute", f"{flops:g}"]) == 0
    assert "8× the training compute of φ 2" in capsys.readouterr().out
    assert main(["plan", "--storage", run.url, "--study", run.name, "--compute", "lots"]) == 2
    assert capsys.readouterr().err.startswith("error: --compute must be FLOPs")
