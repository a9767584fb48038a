"""Rung decisions: ASHA on accuracy, MOASHA on accuracy and cost, on synthetic rungs."""

from __future__ import annotations

import dataclasses

import pytest

from scalesearch.search.results.frontier import non_dominated_fronts
from scalesearch.search.run.early_stopping import pareto_rung_stop, rung_costs, rung_stop
from scalesearch.search.space import load_space

# Rung 1 of a search whose members differ in cost: (accuracy, MMACs) of earlier trials.
EARLIER = [(0.90, 80.0), (0.88, 70.0), (0.86, 60.0), (0.84, 50.0), (0.80, 45.0), (0.78, 40.0)]


def test_accuracy_alone_stops_the_cheap_point_moasha_keeps() -> None:
    cheap = (0.70, 10.0)  # far cheaper than anything before: non-dominated at its rung
    assert rung_stop(cheap[0], [a for a, _ in EARLIER])  # ASHA: below the top half, stopped
    assert not pareto_rung_stop(cheap, EARLIER)  # MOASHA: on the first front, kept


def test_moasha_still_stops_a_dominated_trial() -> None:
    dominated = (0.79, 75.0)  # less accurate and dearer than (0.88, 70)
    assert pareto_rung_stop(dominated, EARLIER)
    assert rung_stop(dominated[0], [a for a, _ in EARLIER])


def test_moasha_keeps_the_top_fronts_and_ranks_a_deep_point_out() -> None:
    # Three fronts; the new point sits on the third, beyond the kept half (3 of 6).
    earlier = [(0.9, 10.0), (0.8, 5.0), (0.85, 20.0), (0.75, 15.0), (0.7, 30.0), (0.6, 40.0)]
    fronts = non_dominated_fronts(earlier)
    assert fronts[0] == [0, 1] and fronts[1] == [2, 3]
    assert pareto_rung_stop((0.72, 25.0), earlier)  # dominated by fronts 0 and 1
    assert not pareto_rung_stop((0.95, 50.0), earlier)  # most accurate of all: front 0


def test_too_little_history_stops_nothing() -> None:
    assert not pareto_rung_stop((0.1, 99.0), EARLIER[:3])
    assert not rung_stop(0.1, [0.9, 0.8, 0.7])


def test_three_objectives() -> None:
    earlier = [(0.9, 50.0, 5.0), (0.85, 40.0, 4.0), (0.8, 30.0, 6.0), (0.7, 60.0, 7.0)]
    assert not pareto_rung_stop((0.6, 45.0, 1.0), earlier)  # fastest of all: kept
    assert pareto_rung_stop((0.6, 70.0, 8.0), earlier)  # worst on every axis


def test_the_rule_follows_the_space() -> None:
    shipped = load_space("cmt_compound")
    # The shipped search weighs accuracy against sequential layers, which equal MACs do not
    # hold level: MOASHA keeps the cheap end of that frontier.
    assert rung_costs(shipped) == ("layers",)
    on_macs = dataclasses.replace(
        shipped.search, objectives={"accuracy": "maximize", "macs": "minimize"}
    )
    space = dataclasses.replace(shipped, search=on_macs)
    assert rung_costs(space) == ()  # equal cost holds MACs level: ASHA
    latency = dataclasses.replace(
        space.search,
        objectives={"accuracy": "maximize", "macs": "minimize", "latency": "minimize"},
    )
    assert rung_costs(dataclasses.replace(space, search=latency)) == ("macs", "latency")
    unequal = dataclasses.replace(
        space, scaling=dataclasses.replace(space.scaling, equal_cost=False)
    )
    assert rung_costs(unequal) == ("macs",)
    forced = dataclasses.replace(space.search, early_stopping="asha")
    assert rung_costs(dataclasses.replace(unequal, search=forced)) == ()


@pytest.mark.parametrize(
    ("objectives", "message"),
    [
        ({"macs": "minimize", "accuracy": "maximize"}, "accuracy first"),
        ({"accuracy": "maximize"}, "one or two costs"),
        ({"accuracy": "maximize", "latency": "maximize"}, "but got latency: maximize"),
    ],
)
def test_objectives_are_checked(objectives, message) -> None:
    from scalesearch.errors import SpaceError

    space = load_space("cmt_compound")
    with pytest.raises(SpaceError, match=message):
        dataclasses.replace(space.search, objectives=objectives)
