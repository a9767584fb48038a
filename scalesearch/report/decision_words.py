"""The decision in words: the search's pick at the family's training, and where the next
compute goes, each with its interval, its seeds, and, where the noise cannot support an
answer, how many seeds would and the command that trains them.

Plain text from the check (`search.defaults_check`) and the budget answer (`search.budget`),
shared by the report, the end of `scalesearch run`, `frontier`, `plan` and the dashboard.
"""

from __future__ import annotations

import math

from scalesearch.commands import retrain
from scalesearch.formatting import human, percent_band, points_band, seed_count
from scalesearch.joint_law import Cell, Decision, JointCheck, Option
from scalesearch.search.results.budget import BudgetAnswer
from scalesearch.search.results.defaults_check import DefaultsCheck
from scalesearch.stats import format_accuracy, seeds_to_settle

VERDICT = {
    "better": "beyond the noise: the search's pick is better",
    "worse": "beyond the noise: the search's pick is worse",
    "tied": "within the noise: tied",
}


def check_words(check: DefaultsCheck | None, unchecked: str | None, flag: str) -> str:
    """searched − defaults at the family's training, paired, against the family's noise."""
    if check is None:
        return f"not checked: {unchecked or 'no family trained yet'}"
    d, (low, high) = check.difference, check.interval
    how = f"paired over {seed_count(d.paired)}" if d.paired else "unpaired"
    noise = (
        f"the family's seed noise {100 * check.noise.sd:.2f} points"
        if check.noise.measured
        else "the seed noise not yet measured"
    )
    words = (
        f"searched − defaults = {100 * d.mean:+.2f} points at φ {check.phi:g} (95% "
        f"{100 * low:+.2f} to {100 * high:+.2f}, {how}; {noise}): {VERDICT[check.verdict]}"
    )
    if check.verdict != "tied":
        return words
    trials = [check.searched.trials[0], check.defaults.trials[0]]
    return (
        words + ". " + _settle(d.mean, d.se, max(1, d.paired), {check.searched.study: trials}, flag)
    )


def _settle(
    difference: float, se: float, seeds: int, trials: dict[str, list[int]], flag: str
) -> str:
    """How many seeds would tell `difference` from zero, and the commands that train them."""
    needed = seeds_to_settle(difference, se, seeds)
    if needed is None:
        smallest = 200 * se * math.sqrt(seeds / 32)
        return (
            f"A difference this small would take more than 32 seeds to tell from zero (32 "
            f"tell {smallest:.2f} points): for practical purposes, the same"
        )
    commands = retrain(trials, needed, flag)
    return (
        f"{seed_count(needed)} of each would tell {100 * abs(difference):.2f} points from "
        f"zero: {commands}"
    )


HEADS = {
    "size": "a larger φ gains most",
    "training": "longer training gains most",
    "neither": "neither a larger φ nor longer training gains beyond the noise",
}


def budget_words(budget: BudgetAnswer, flag: str) -> str:
    """Where the next doubling of training compute goes, in one line."""
    if budget.decision is None:
        return _no_decision(budget, flag)
    d, at = budget.decision, budget.decision.at
    head = _either(d) if d.kind == "either" else HEADS[d.kind]
    words = (
        f"for {d.multiple:g}× the training compute of φ {at.phi:g} "
        f"({_measured(at)}, {human(at.compute, 'FLOPs')}), {head}: "
        f"{_option(d.size, budget)}; {_option(d.training, budget)}"
    )
    if d.kind in ("size", "training", "either"):
        words += f"; size − training {100 * d.difference:+.2f} points (95% {points_band(d.difference_band)})"
    words += f". {_check_words(budget.check)}"
    if d.kind == "either":
        half = (d.difference_band[1] - d.difference_band[0]) / 4
        words += (
            " "
            + _settle(d.difference, half, min(c.seeds for c in budget.cells), _trials(budget), flag)
            + "."
        )
    elif d.kind == "neither":
        words += " " + _neither(d, budget, flag) + "."
    return words


def _either(d: Decision) -> str:
    gaining = [o for o in (d.size, d.training) if o.gains]
    if len(gaining) == 2:
        return "both gain beyond the noise, and the noise does not say which more"
    what = "a larger φ" if gaining[0].name == "size" else "longer training"
    return f"{what} gains beyond the noise, but not beyond the other's prediction"


def _measured(cell: Cell) -> str:
    return f"{format_accuracy(1 - cell.error, cell.se)} over {seed_count(cell.seeds)} now"


def _option(option: Option, budget: BudgetAnswer) -> str:
    """ "2× the MACs (φ ≈ 2.8): 85.10% (95% 84.2–86.0%)"."""
    at = budget.decision.at if budget.decision else None
    if option.name == "size":
        what = f"{option.macs / at.macs:g}× the MACs (φ ≈ {_phi_at(budget, option.macs):.1f})"
    else:
        what = f"{option.images / at.images:g}× the images seen ({option.images:,.0f})"
    return (
        f"{what} {option.accuracy:.2%} (95% {percent_band(option.accuracy_band)}, gain "
        f"{100 * option.gain:+.2f} points, 95% {points_band(option.gain_band)}"
        f"{_beyond(option, budget)})"
    )


def _beyond(option: Option, budget: BudgetAnswer) -> str:
    """Where an option lies more than one doubling past the trained cells on its axis: the
    law's straight line is then an extrapolation its held-out check did not reach."""
    if option.name == "size":
        doublings = math.log2(option.macs / max(c.macs for c in budget.cells))
        axis = "MACs"
    else:
        doublings = math.log2(option.images / max(c.images for c in budget.cells))
        axis = "images seen"
    if doublings <= 1:
        return ""
    return (
        f"; {doublings:.1f} doublings past the most {axis} trained: an extrapolation the "
        f"held-out check did not reach"
    )


def _phi_at(budget: BudgetAnswer, macs: float) -> float:
    """The φ of a member of `macs`, from the family's MACs growing as growth^φ."""
    own = sorted({(c.phi, c.macs) for c in budget.cells if c.factor == 1.0})
    if len(own) < 2:
        return own[0][0] if own else math.nan
    (p0, n0), (p1, n1) = own[0], own[-1]
    growth = (n1 / n0) ** (1 / (p1 - p0))
    return p1 + math.log(macs / n1) / math.log(growth)


def _check_words(check: JointCheck | None) -> str:
    if check is None:
        return ""
    h = check.held_out
    seeds = sorted({c.seeds for c in check.cells})
    how = "passed its check" if h.inside else "missed its check"
    return (
        f"The joint law ({check.form}, {len(check.cells)} cells of "
        f"{'/'.join(map(str, seeds))} seeds) {how}: fitted without φ {h.cell.phi:g} at "
        f"{h.cell.factor:g}× the images seen, it predicted {1 - h.predicted:.2%} (95% "
        f"{percent_band((1 - h.band[1], 1 - h.band[0]))}), measured "
        f"{format_accuracy(1 - h.cell.error, h.cell.se)}."
    )


def _no_decision(budget: BudgetAnswer, flag: str) -> str:
    if budget.check is not None and not budget.check.passed:
        seeds = min(c.seeds for c in budget.cells)
        trials = _trials(budget)
        twice = retrain(trials, 2 * seeds, flag)
        return (
            f"no decision: {_check_words(budget.check)[:-1]}, outside its band, so its "
            f"predictions are not believed. Twice the seeds of every cell would narrow the cells' noise by "
            f"√2: {twice}"
        )
    if budget.reason == "no budget study trained":
        return (
            "not measured: no budget study trained (with budget.factors 3 in the space, "
            "scalesearch run --resume trains the family on 3× the images seen)"
        )
    return f"not measured: {budget.reason}"


def _neither(d: Decision, budget: BudgetAnswer, flag: str) -> str:
    best = max((d.size, d.training), key=lambda o: o.gain)
    if best.gain <= 0:
        return (
            "Neither is predicted to gain at all: at this data, more compute of either kind "
            "buys nothing measurable; harder or more data would"
        )
    half = (best.gain_band[1] - best.gain_band[0]) / 4
    seeds = min(c.seeds for c in budget.cells)
    return _settle(best.gain, half, seeds, _trials(budget), flag)


def _trials(budget: BudgetAnswer) -> dict[str, list[int]]:
    return {study: list(numbers) for study, numbers in budget.trials}
