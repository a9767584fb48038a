"""The scaling law is checked before it predicts: the held-out largest member."""

from __future__ import annotations

import numpy as np
import pytest

from scalesearch.law import check_law, choose_form, fit_law

MACS = [1e7, 2.5e7, 6.25e7, 1.5625e8, 3.9e8]


def _saturating(macs, a=0.3, b=0.3, c=0.02):
    return [a * (m / 1e7) ** -b + c for m in macs]


def test_a_family_that_follows_a_known_law_passes_and_predicts_it():
    rng = np.random.default_rng(0)
    se = 0.003
    error = [e + rng.normal(0, se) for e in _saturating(MACS)]
    check = check_law(MACS, error, [se] * len(MACS), next_macs=9.75e8)
    assert check.held_out["inside"]
    assert check.passed
    truth = _saturating([9.75e8])[0]
    low, high = check.next_prediction["band"]
    assert low <= truth <= high
    assert "passed its check" in check.words and "should reach" in check.words


def test_a_held_out_miss_gets_no_prediction():
    """The largest member improves far more than the trend of the others."""
    error = [0.20, 0.15, 0.02]
    check = check_law(MACS[:3], error, [0.003] * 3, next_macs=1.5e8)
    assert not check.held_out["inside"] and check.next_prediction is None
    assert not check.passed and "it measured 2.00%" in check.words


def test_too_few_members_for_a_law():
    check = check_law(MACS[:2], [0.2, 0.15], [0.01, 0.01])
    assert check.law is None and not check.passed and "needs three" in check.words


def test_the_power_law_recovers_its_exponent():
    law = fit_law("power", MACS, [0.5 * (m / 1e7) ** -0.25 for m in MACS])
    assert law.b == pytest.approx(0.25, abs=1e-9) and law.a == pytest.approx(0.5, rel=1e-9)


def test_the_form_is_chosen_by_held_out_error():
    assert choose_form(MACS[:3], _saturating(MACS[:3])) == "power"  # three points: power only
    assert choose_form(MACS, _saturating(MACS, c=0.05)) == "saturating"
    assert choose_form(MACS, [0.5 * (m / 1e7) ** -0.25 for m in MACS]) == "power"
