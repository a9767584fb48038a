"""The race on a real study (no Ray): seeds averaged per architecture, the noise pooled,
the leader against the defaults paired, and "better" said only beyond the noise."""

from __future__ import annotations

import optuna
import pytest

from scalesearch.decode import encode
from scalesearch.report.data import build_report
from scalesearch.report.words import at_a_glance
from scalesearch.search.phases.race import race_result, race_words
from scalesearch.search.results.arch_groups import arch_groups, seed_noise
from scalesearch.search.results.frontier import search_frontier
from scalesearch.search.results.leader import family_source
from scalesearch.search.run import samplers
from scalesearch.search.space import load_space
from scalesearch.search.store import storage as st
from scalesearch.search.store.studies import RunStudies

UNIT = optuna.distributions.FloatDistribution(1.0, 1.6)
SPACE = load_space("cmt_compound")  # searches accuracy against sequential layers


def _add(study, arch: str, accuracy: float, layers: int, phase: str = "search", **attrs) -> None:
    study.add_trial(
        optuna.trial.create_trial(
            params={"alpha": 1.2, "beta": 1.3},
            distributions={"alpha": UNIT, "beta": UNIT},
            values=[accuracy, layers],
            user_attrs={
                "phase": phase,
                "arch_key": arch,
                "val_images": 2400,
                "phi": 1.0,
                "params": 1000,
                "macs": 40e6,
                "layers": layers,
                **attrs,
            },
        )
    )


@pytest.fixture
def study(tmp_path):
    storage = st.default_storage(tmp_path)
    made = st.create_or_load_study(
        st.open_storage(storage), "rep", samplers.make_sampler("random", 0), SPACE.search.objectives
    )
    made.set_user_attr("space", SPACE.name)
    import json

    made.set_user_attr("space_json", json.dumps(encode(SPACE)))
    return storage, made


def test_groups_average_seeds_and_pool_their_noise(study) -> None:
    storage, s = study
    _add(s, "a", 0.90, 120, seed=0)
    _add(s, "a", 0.92, 120, phase="replicate", seed=1)
    _add(s, "b", 0.80, 100, seed=0)
    _add(s, "b", 0.84, 100, phase="replicate", seed=1)
    _add(s, "a", 0.90, 120, duplicate_of=0)  # took trial 0's result: trained nothing
    groups = arch_groups(s.trials, "rep")
    assert [g.trials for g in groups] == [(0, 1), (2, 3)]
    assert [g.seeds for g in groups] == [(0, 1), (0, 1)]
    assert groups[0].mean == pytest.approx(0.91) and groups[1].mean == pytest.approx(0.82)
    # pooled over groups: sd² = (0.02²/2 + 0.04²/2) / 2
    assert seed_noise(groups) == pytest.approx(((0.0002 + 0.0008) / 2) ** 0.5)
    points = search_frontier(RunStudies(storage, s))
    assert [(p.trial, p.seeds) for p in points] == [(2, 2), (0, 2)]  # fewer layers first
    assert points[1].accuracy == pytest.approx(0.91)
    assert points[1].accuracy_se == pytest.approx(seed_noise(groups) / 2**0.5)  # pooled, not own


@pytest.mark.parametrize(
    ("default_accuracies", "verdict"),
    [((0.80, 0.81), "beyond the noise: better"), ((0.905, 0.915), "within the noise: tied")],
)
def test_better_is_said_only_beyond_the_noise_paired(study, default_accuracies, verdict) -> None:
    storage, s = study
    _add(s, "a", 0.90, 100, seed=0)
    _add(s, "a", 0.92, 100, phase="replicate", seed=1)
    for seed, accuracy in enumerate(default_accuracies):
        _add(s, "d", accuracy, 100, phase="replicate", seed=seed, default_coefficients=True)
    result = race_result(RunStudies(storage, s), SPACE)
    assert result.leader.trials == (0, 1)
    assert result.versus_defaults.paired == 2  # seeds 0 and 1 of both: a paired difference
    words = race_words(result)
    assert verdict in words and "paired over 2 seeds" in words
    gain = dict(at_a_glance(build_report(storage, "rep")))["gain over the defaults (proxy)"]
    assert ("beyond the seed noise: better" in gain) == verdict.endswith("better")
    assert "paired over 2 seeds" in gain


def test_without_a_second_seed_no_claim_is_made(study) -> None:
    storage, s = study
    _add(s, "a", 0.90, 100, seed=0)
    _add(s, "d", 0.70, 100, seed=0, default_coefficients=True)
    result = race_result(RunStudies(storage, s), SPACE)
    assert not result.state.noise.measured and not result.state.ruled_out
    assert "not measured yet" in race_words(result) and "no claim is made" in race_words(result)
    gain = dict(at_a_glance(build_report(storage, "rep")))["gain over the defaults (proxy)"]
    assert gain.startswith("not measured: no architecture has two seeds")


def test_the_family_scales_the_best_replicated_architecture_not_a_lucky_seed(study) -> None:
    """One seed at 0.93 beats a two-seed mean of 0.91 only by luck: where the race gave
    seeds, the family's coefficients come from the best replicated architecture."""
    storage, s = study
    _add(s, "a", 0.92, 100, seed=0)
    _add(s, "a", 0.90, 100, phase="replicate", seed=1)
    _add(s, "lucky", 0.93, 100, seed=0)
    run = RunStudies(storage, s)
    assert family_source(run, None).number == 0
    assert family_source(run, 2).number == 2  # asked for by number: as asked


def test_defaults_that_realise_a_searched_architecture_are_still_the_defaults(study) -> None:
    """Equal cost can map the default coefficients onto a network the search trained: their
    replicates are duplicates of it, and that architecture is the defaults' in the race."""
    storage, s = study
    _add(s, "a", 0.90, 100, seed=0)  # the search's trial 0: the defaults' network
    _add(s, "a", 0.88, 100, phase="replicate", seed=1, replicate_of=0)
    _add(s, "a", 0.90, 100, phase="replicate", seed=0, duplicate_of=0, default_coefficients=True)
    _add(s, "a", 0.88, 100, phase="replicate", seed=1, duplicate_of=1, default_coefficients=True)
    _add(s, "b", 0.95, 100, seed=0)
    _add(s, "b", 0.85, 100, phase="replicate", seed=1, replicate_of=4)
    groups = {g.trials[0]: g for g in arch_groups(s.trials, "rep")}
    assert groups[0].default and not groups[4].default
    result = race_result(RunStudies(storage, s), SPACE)
    default = next(c for c in result.state.contenders if c.default)
    assert result.groups[default.key].trials == (0, 1)
