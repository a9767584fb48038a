"""Replicates averaged, their seed noise pooled, and "better" said only beyond it (no Ray)."""

from __future__ import annotations

import optuna
import pytest

from scalesearch.cli.report_data import build_report
from scalesearch.search import storage as st
from scalesearch.search.frontier import frontier
from scalesearch.search.replicates import arch_groups, compare_to_defaults, seed_noise

UNIT = optuna.distributions.FloatDistribution(1.0, 1.6)


def _add(study, arch: str, accuracy: float, macs: int, phase: str = "search", **attrs) -> None:
    study.add_trial(
        optuna.trial.create_trial(
            params={"alpha": 1.2, "beta": 1.3},
            distributions={"alpha": UNIT, "beta": UNIT},
            values=[accuracy, macs],
            user_attrs={
                "phase": phase,
                "arch_key": arch,
                "val_images": 2400,
                "phi": 1.0,
                "params": 1000,
                **attrs,
            },
        )
    )


@pytest.fixture
def study(tmp_path):
    storage = st.default_storage(tmp_path)
    made = st.create_or_load_study(st.open_storage(storage), "rep", st.make_sampler("random", 0))
    return storage, made


def test_groups_average_seeds_and_pool_their_noise(study) -> None:
    _, s = study
    _add(s, "a", 0.90, 40, seed=0)
    _add(s, "a", 0.92, 40, phase="replicate", seed=1)
    _add(s, "b", 0.80, 30, seed=0)
    _add(s, "b", 0.84, 30, phase="replicate", seed=1)
    _add(s, "a", 0.90, 40, duplicate_of=0)  # took trial 0's result: trained nothing
    groups = arch_groups(s)
    assert [g.trials for g in groups] == [(0, 1), (2, 3)]
    assert groups[0].mean == pytest.approx(0.91) and groups[1].mean == pytest.approx(0.82)
    # pooled over groups: sd² = (0.02²/2 + 0.04²/2) / 2
    assert seed_noise(groups) == pytest.approx(((0.0002 + 0.0008) / 2) ** 0.5)
    points = frontier(s)
    assert [(p.trial, p.seeds) for p in points] == [(2, 2), (0, 2)]
    assert points[1].accuracy == pytest.approx(0.91)
    assert points[1].accuracy_se == pytest.approx(seed_noise(groups) / 2**0.5)  # pooled, not own


@pytest.mark.parametrize(
    ("default_accuracies", "verdict"),
    [
        ((0.80, 0.81), "beyond the measured seed noise"),
        ((0.905, 0.915), "within the measured seed noise"),
    ],
)
def test_better_is_said_only_beyond_the_noise(study, default_accuracies, verdict) -> None:
    storage, s = study
    _add(s, "a", 0.90, 40, seed=0)
    _add(s, "a", 0.92, 40, phase="replicate", seed=1)
    for seed, accuracy in enumerate(default_accuracies):
        _add(s, "d", accuracy, 40, phase="replicate", seed=seed, default_coefficients=True)
    groups = arch_groups(s)
    comparison = compare_to_defaults(groups, seed_noise(groups))
    assert verdict in comparison.words
    assert ("No claim of better" in comparison.words) == verdict.startswith("within")
    assert build_report(storage, "rep")["noise"]["words"] == comparison.words


def test_without_replicates_the_report_says_the_noise_is_unmeasured(study) -> None:
    storage, s = study
    _add(s, "a", 0.90, 40, seed=0)
    words = build_report(storage, "rep")["noise"]["words"]
    assert "seed noise is unmeasured" in words and "--replicates" in words


def test_the_family_scales_the_best_replicated_architecture_not_a_lucky_seed(study) -> None:
    """One seed at 0.93 beats a two-seed mean of 0.91 only by luck: where replicates were
    trained, the family's coefficients come from the best replicated architecture."""
    from scalesearch.search.family import family_source

    _, s = study
    _add(s, "a", 0.92, 40, seed=0)
    _add(s, "a", 0.90, 40, phase="replicate", seed=1)
    _add(s, "lucky", 0.93, 40, seed=0)
    assert family_source(s, None).number == 0
    assert family_source(s, 2).number == 2  # asked for by number: as asked


def test_defaults_that_realise_a_searched_architecture_are_still_the_defaults(study) -> None:
    """Equal cost can map the default coefficients onto a network the search trained: their
    replicates are duplicates of it, and that architecture is the defaults' in the verdict."""
    from scalesearch.search.replicates import noise_verdict

    _, s = study
    _add(s, "a", 0.90, 40, seed=0)  # the search's trial 0: the defaults' network
    _add(s, "a", 0.88, 40, phase="replicate", seed=1, replicate_of=0)
    _add(s, "a", 0.90, 40, phase="replicate", seed=0, duplicate_of=0, default_coefficients=True)
    _add(s, "a", 0.88, 40, phase="replicate", seed=1, duplicate_of=1, default_coefficients=True)
    _add(s, "b", 0.95, 40, seed=0)
    _add(s, "b", 0.85, 40, phase="replicate", seed=1, replicate_of=4)
    groups = {g.trials[0]: g for g in arch_groups(s)}
    assert groups[0].default and not groups[4].default
    verdict = noise_verdict(s)
    assert verdict.comparison is not None and verdict.comparison.default.trials == (0, 1)
    assert "Search trial 0 realised the default coefficients' own architecture" in verdict.words
