"""The joint law of MACs and images seen, on synthetic cells whose truth is known: it fits,
it is checked on a held-out cell before it is believed, and it says where compute goes only
as far as the cells' noise allows."""

from __future__ import annotations

import math

import pytest

from scalesearch.joint_law import Cell, check, choose_form, decide, fit, identified

BASE_MACS, BASE_IMAGES = 15.6e6, 7200.0


def _local(a: float, b: float, k: float = math.log(0.2)):
    return lambda n, d: math.exp(k - a * math.log(n / BASE_MACS) - b * math.log(d / BASE_IMAGES))


def _cells(truth, layout, se: float = 0.002, growth: float = 2.5) -> list[Cell]:
    cells = []
    for phi, factor in layout:
        n, d = BASE_MACS * growth**phi, BASE_IMAGES * factor
        cells.append(Cell(phi, factor, n, d, truth(n, d), se, 2))
    return cells


DEFAULT_LAYOUT = [(0, 1), (1, 1), (2, 1), (0, 3), (1, 3)]  # the shipped spaces' cells


def test_the_local_law_is_recovered_from_the_default_layout() -> None:
    law = fit("local", _cells(_local(0.10, 0.25), DEFAULT_LAYOUT))
    assert law.params[1] == pytest.approx(0.10, abs=1e-9)
    assert law.params[2] == pytest.approx(0.25, abs=1e-9)
    assert "(MACs/1.56e+07)^−0.100" in law.formula()


def test_what_identifies_a_form() -> None:
    cells = _cells(_local(0.1, 0.2), DEFAULT_LAYOUT)
    assert identified("local", cells) and not identified("saturating", cells)
    assert not identified("local", cells[:3])  # one budget: images seen never vary
    diagonal = _cells(_local(0.1, 0.2), [(0, 1), (1, 3), (2, 9), (3, 27)])
    assert not identified("local", diagonal)  # MACs and images grow together: confounded


def test_the_held_out_cell_is_the_largest_compute_the_rest_can_predict() -> None:
    joint = check(_cells(_local(0.1, 0.2), DEFAULT_LAYOUT))
    assert (joint.held_out.cell.phi, joint.held_out.cell.factor) == (1, 3)
    assert joint.passed and joint.form == "local"
    assert joint.held_out.predicted == pytest.approx(joint.held_out.cell.error, rel=1e-6)


def test_a_cell_off_the_law_fails_the_check() -> None:
    cells = _cells(_local(0.1, 0.2), DEFAULT_LAYOUT)
    off = cells[-1]
    cells[-1] = Cell(off.phi, off.factor, off.macs, off.images, off.error * 1.5, off.se, 2)
    assert not check(cells).passed


@pytest.mark.parametrize(
    ("a", "b", "kind"),
    [(0.30, 0.02, "size"), (0.02, 0.30, "training"), (0.0, 0.0, "neither"), (0.2, 0.2, "either")],
)
def test_where_the_next_doubling_goes(a, b, kind) -> None:
    cells = _cells(_local(a, b), DEFAULT_LAYOUT)
    joint = check(cells)
    decision = decide(joint, cells[2])  # φ 2 at the family's budget
    assert decision.kind == kind
    assert decision.size.macs == pytest.approx(2 * cells[2].macs)
    assert decision.training.images == pytest.approx(2 * cells[2].images)
    truth = 1 - _local(a, b)(cells[2].macs, 2 * cells[2].images)
    low, high = decision.training.accuracy_band
    assert low <= truth <= high


def test_noisy_cells_widen_the_bands_until_nothing_is_claimed() -> None:
    cells = _cells(_local(0.05, 0.03), DEFAULT_LAYOUT, se=0.03)
    decision = decide(check(cells), cells[2])
    assert decision.kind == "neither"
    assert decision.size.gain_band[0] < 0 < decision.size.gain_band[1]


def test_the_saturating_form_is_chosen_where_the_cells_show_a_floor() -> None:
    def truth(n, d):
        return 0.08 + 0.25 * (n / BASE_MACS) ** -0.6 + 0.2 * (d / BASE_IMAGES) ** -0.7

    layout = [(p, f) for p in (0, 1, 2) for f in (1 / 3, 1, 3)]
    cells = _cells(truth, layout, se=0.0005)
    assert identified("saturating", cells)
    assert choose_form(cells) == "saturating"
    law = fit("saturating", cells)
    assert law.params[0] == pytest.approx(0.08, abs=0.01)  # the floor


def test_too_few_cells_give_no_check() -> None:
    assert check(_cells(_local(0.1, 0.2), [(0, 1), (1, 1), (0, 3)])) is None
