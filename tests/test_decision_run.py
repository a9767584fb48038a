"""The decision end to end, with real trainings in this process (the inline executor, no
Ray): the family phase trains the defaults' check and a budget beside the family, every
training is recorded with what it saw, and `retrain` adds seeds of a trial's exact network
recorded as its phase records one, never training one twice."""

from __future__ import annotations

import pytest
from optuna.trial import TrialState

from scalesearch.cli.main import main
from scalesearch.report.data import build_report
from scalesearch.report.words import at_a_glance
from scalesearch.search.config import config_from_flags
from scalesearch.search.run.inline import InlineExecutor
from scalesearch.search.run.pipeline import run_search
from scalesearch.search.space import load_space
from scalesearch.search.store import storage as st
from scalesearch.search.store.schema import Phase, TrialRecord
from scalesearch.search.store.studies import open_run
from tests.helpers import TINY_FAMILY, write_space

BUDGET = "budget: {factors: [2], phi: [-2, -1]}"


@pytest.fixture(scope="module")
def decided(tmp_path_factory):
    """A finished run: 3 search trials, the family φ −2, −1, 1 × 2 seeds, the defaults'
    check at φ 1 and the budget at 2× the images seen (its φ −2 and −1)."""
    folder = tmp_path_factory.mktemp("decided")
    path = write_space(folder, "dec", {TINY_FAMILY: TINY_FAMILY + "\n" + BUDGET}, trials=3)
    space = load_space(path)
    url = st.default_storage(folder)
    config = config_from_flags(space, folder, storage=url, study_name="dec", trials=3)
    run_search(config, log=lambda line: None, executor=InlineExecutor())
    return url, space, folder


def test_the_family_phase_trains_the_check_and_the_budget(decided) -> None:
    url, space, _ = decided
    run = open_run(url, "dec")
    check = run.trials(Phase.CHECK, states=(TrialState.COMPLETE,))
    assert len(check) == 2 and all(t.params == space.default_params() for t in check)
    assert {TrialRecord.from_trial(t).seed for t in check} == {0, 1}  # the family's seeds
    assert run.budget_factors() == [2.0]
    budget = run.trials(Phase.BUDGET, states=(TrialState.COMPLETE,))
    assert len(budget) == 4
    family = [TrialRecord.from_trial(t) for t in run.trials(Phase.FAMILY)]
    for t in budget:
        record = TrialRecord.from_trial(t)
        twin = next(f for f in family if f.phi == record.phi and f.seed == record.seed)
        assert record.epochs == 2 * twin.epochs  # 2× the images seen: twice the epochs
        assert record.images_seen == 2 * twin.images_seen > 0
    assert {s.study_name for s in run.studies()} == {"dec", "dec.family", "dec.budget2x"}


def test_the_answer_says_the_check_and_the_next_compute(decided) -> None:
    url, _, _ = decided
    glance = dict(at_a_glance(build_report(url, "dec")))
    assert glance["at the family's training"].startswith("searched − defaults = ")
    assert "paired over 2 seeds" in glance["at the family's training"]
    nxt = glance["next compute"]
    assert nxt.startswith(("for 2× the training compute of φ 1", "no decision: The joint law"))


def test_retrain_adds_a_seed_of_the_exact_network_once(decided, capsys) -> None:
    url, _, folder = decided
    run = open_run(url, "dec")
    member = next(
        t
        for t in run.trials(Phase.FAMILY, states=(TrialState.COMPLETE,))
        if TrialRecord.from_trial(t).phi == -1.0
    )
    args = ["retrain", "--storage", url, "--study", "dec.family", "--trial", str(member.number)]
    args += ["--seeds", "3", "--inline", "--run-dir", str(folder)]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "at the family's training" in out and "next compute" in out  # the answer again
    run = open_run(url, "dec")
    seeds = [
        TrialRecord.from_trial(t)
        for t in run.trials(Phase.FAMILY, states=(TrialState.COMPLETE,))
        if t.params == member.params and TrialRecord.from_trial(t).phi == -1.0
    ]
    assert sorted(r.seed for r in seeds) == [0, 1, 2]  # seed 2 added, as a family member
    assert main(args) == 0  # asked again: nothing left to train
    assert "every training asked for is done already" in capsys.readouterr().out


def test_retrain_of_a_search_trial_is_a_race_training(decided, capsys) -> None:
    url, _, folder = decided
    args = ["retrain", "--storage", url, "--study", "dec", "--trial", "0", "--seed", "7"]
    assert main([*args, "--inline", "--run-dir", str(folder)]) == 0
    run = open_run(url, "dec")
    added = [TrialRecord.from_trial(t) for t in run.trials(Phase.REPLICATE)]
    assert [(r.seed, r.replicate_of) for r in added if r.seed == 7] == [(7, 0)]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ([], "give either --seeds K (seeds in all) or --seed S"),
        (["--seeds", "2", "--seed", "3"], "give either --seeds K"),
        (["--seeds", "0"], "--seeds must be >= 1"),
        (["--seed", "-1"], "--seed must be >= 0"),
    ],
)
def test_retrain_refuses_bad_input_in_one_line(decided, extra, message, capsys) -> None:
    url, _, _ = decided
    assert main(["retrain", "--storage", url, "--study", "dec", "--trial", "0", *extra]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {message}") and err.count("\n") == 1


def test_retrain_names_a_trial_that_is_not_there(decided, capsys) -> None:
    url, _, _ = decided
    assert main(["retrain", "--storage", url, "--study", "dec.family", "--trial", "99",
                 "--seeds", "2"]) == 2  # fmt: skip
    assert "study 'dec.family' has trials 0.." in capsys.readouterr().err
