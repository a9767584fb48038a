"""The family at its training budgets as cells of one law: where the next compute goes.

Each cell is one member at one budget (the family's own is factor 1, each budget study's its
factor): its mean error over its seeds, the standard error of that mean (the larger of its
validation images' binomial error and its study's pooled seed noise, over √seeds: one
training rule per study), its MACs and images seen. `scalesearch.joint_law` fits them, checks
the fit on a held-out cell and weighs twice the MACs against twice the images seen.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from scalesearch import joint_law
from scalesearch.joint_law import Cell, Decision, JointCheck
from scalesearch.search.results.arch_groups import ArchGroup, arch_groups, pooled_sd
from scalesearch.search.store.schema import Phase, TrialRecord
from scalesearch.search.store.studies import RunStudies
from scalesearch.stats import binomial_se


@dataclass(frozen=True)
class BudgetAnswer:
    """The cells, the law and its check, and the decision (None where the cells do not
    allow one: `reason` says why)."""

    cells: tuple[Cell, ...]
    check: JointCheck | None
    decision: Decision | None
    reason: str | None = None
    trials: tuple[tuple[str, tuple[int, ...]], ...] = ()  # each study's cells, by first trial

    @property
    def operating_point(self) -> Cell | None:
        """The family's largest member at its own budget: the compute spent so far."""
        own = [c for c in self.cells if c.factor == 1.0]
        return max(own, key=lambda c: c.macs) if own else None


def budget_cells(run: RunStudies, family_noise: float) -> list[Cell]:
    """Every member at every budget: the family's (factor 1), then each budget study's."""
    return [cell for _, _, cell in _cells(run, family_noise)]


def _cells(run: RunStudies, family_noise: float) -> list[tuple[str, int, Cell]]:
    """(study, first trial, cell) of every member at every budget."""
    budgets = [(1.0, run.trials(Phase.FAMILY), run.name_for(Phase.FAMILY))]
    budgets += [
        (f, run.trials(Phase.BUDGET, factor=f), run.name_for(Phase.BUDGET, f))
        for f in run.budget_factors()
    ]
    found = []
    for factor, trials, study in budgets:
        groups = arch_groups(trials, study)
        noise = family_noise if factor == 1.0 else pooled_sd([g.accuracies for g in groups])
        if math.isnan(noise):
            noise = family_noise
        images = {t.number: TrialRecord.from_trial(t).images_seen for t in trials}
        for group in groups:
            cell = _cell(group, factor, noise, images)
            if cell is not None:
                found.append((study, group.trials[0], cell))
    return found


def _cell(group: ArchGroup, factor: float, noise: float, images: dict) -> Cell | None:
    seen = [images.get(n) for n in group.trials]
    if None in seen:  # trained before images seen were recorded: no place on the axis
        return None
    spread = max(binomial_se(group.mean, group.val_images), 0.0 if math.isnan(noise) else noise)
    return Cell(
        phi=group.phi,
        factor=factor,
        macs=float(group.macs),
        images=sum(seen) / len(seen),
        error=1 - group.mean,
        se=spread / math.sqrt(len(group.accuracies)),
        seeds=len(group.accuracies),
    )


def budget_answer(
    run: RunStudies, family_noise: float, multiple: float = 2.0, flops: float | None = None
) -> BudgetAnswer:
    """The cells' law, its check and where `multiple` × the operating point's compute goes
    (or `flops` of training compute, where given)."""
    found = _cells(run, family_noise)
    cells = tuple(cell for _, _, cell in found)
    studies: dict[str, list[int]] = {}
    for study, first, _ in found:
        studies.setdefault(study, []).append(first)
    trials = tuple((study, tuple(numbers)) for study, numbers in studies.items())
    if not any(c.factor != 1.0 for c in cells):
        return BudgetAnswer(cells, None, None, "no budget study trained", trials)
    check = joint_law.check(cells)
    if check is None:
        reason = (
            "too few cells: a law of MACs and images seen needs two values of each, four "
            "cells, and one more to check it on"
        )
        return BudgetAnswer(cells, None, None, reason, trials)
    if not check.passed:
        return BudgetAnswer(cells, check, None, "the law missed its held-out cell", trials)
    at = BudgetAnswer(cells, check, None).operating_point
    assert at is not None
    multiple = multiple if flops is None else flops / at.compute
    return BudgetAnswer(cells, check, joint_law.decide(check, at, multiple), None, trials)
