"""The scaling verdict within the noise: gains, saturated or inconclusive, said in words."""

from __future__ import annotations

import math

import pytest

from scalesearch.verdict import Member, scaling_verdict, z_score

MACS = [1.56e7, 3.9e7, 9.7e7, 2.4e8]


def _family(accuracies: list[float], se: float = 0.004) -> list[Member]:
    return [Member(float(i), MACS[i], a, se, 2) for i, a in enumerate(accuracies)]


def test_a_difference_is_measured_in_standard_errors_of_the_difference() -> None:
    small, large = _family([0.90, 0.92], se=0.01)
    assert z_score(small, large) == pytest.approx(0.02 / math.hypot(0.01, 0.01))


def test_a_flat_family_within_the_noise_is_saturated_at_its_smallest() -> None:
    """The default run of 0.2: φ 0/1/2 at 96.44 / 97.12 / 96.75% with se near 0.45."""
    verdict = scaling_verdict(_family([0.9644, 0.9712, 0.9675], se=0.0045))
    assert verdict.kind == "saturated" and verdict.saturated_at == 0.0
    assert verdict.words.startswith("Saturated: no member beyond φ = 0")
    assert "train the family longer" in verdict.words
    assert "at 2 seeds a gain under 1.3 points is not told from the noise" in verdict.words
    assert "slow gain" not in verdict.words  # φ 2 fell back: nothing rises throughout


def test_steps_that_all_rise_within_the_noise_may_be_a_slow_gain_and_say_so() -> None:
    """A Fashion-MNIST default run: φ 0/1/2 at 77.10 / 78.23 / 78.83% ± 0.64, 2 seeds each."""
    verdict = scaling_verdict(_family([0.7710, 0.7823, 0.7883], se=0.0064))
    assert verdict.kind == "saturated" and verdict.saturated_at == 0.0
    assert "a gain under 1.8 points is not told from the noise" in verdict.words
    assert "may be a slow gain rather than a plateau" in verdict.words
    # What would tell: computed from the measured gain and noise, not "more seeds".
    assert "3 seeds of φ = 0 and φ = 2 would tell their 1.73 points" in verdict.words
    assert verdict.settle == (0.0, 2.0, 3)


def test_gains_that_stop_are_saturated_where_they_stop() -> None:
    verdict = scaling_verdict(_family([0.80, 0.88, 0.885, 0.884]))
    assert verdict.kind == "saturated" and verdict.saturated_at == 1.0
    assert "error floor at" in verdict.words  # four members: the saturating law's floor


def test_a_member_worse_beyond_the_noise_is_inconclusive_and_says_what_to_train() -> None:
    verdict = scaling_verdict(_family([0.90, 0.94, 0.91]))
    assert verdict.kind == "inconclusive"
    assert "φ = 2" in verdict.words and "less accurate than the one at φ = 1" in verdict.words
    assert "Train the family longer" in verdict.words


def test_a_member_worse_within_the_noise_does_not_block_the_law() -> None:
    """φ 2 a hair under φ 1 is a tie; φ 1 still beats φ 0 beyond the noise: saturated at 1."""
    verdict = scaling_verdict(_family([0.80, 0.90, 0.899]))
    assert verdict.kind == "saturated" and verdict.saturated_at == 1.0


def test_steady_gains_that_the_law_predicts_are_gains_with_a_prediction() -> None:
    errors = [0.3 * (m / 1e7) ** -0.3 for m in MACS]
    verdict = scaling_verdict(_family([1 - e for e in errors], se=0.002), next_macs=6e8)
    assert verdict.kind == "gains" and verdict.law.passed
    assert "should reach" in verdict.words


def test_gains_the_law_does_not_predict_are_inconclusive() -> None:
    verdict = scaling_verdict(_family([0.80, 0.85, 0.98], se=0.003), next_macs=3e8)
    assert verdict.kind == "inconclusive" and not verdict.law.passed
    assert "every step up gains" in verdict.words and "no prediction" in verdict.words


def test_too_few_members_are_inconclusive() -> None:
    verdict = scaling_verdict(_family([0.8, 0.9]))
    assert verdict.kind == "inconclusive" and "needs three" in verdict.words


def test_no_family_says_how_to_train_one() -> None:
    verdict = scaling_verdict([])
    assert verdict.kind == "inconclusive" and verdict.words.startswith("No family trained yet")
