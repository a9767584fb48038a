"""The architecture the family scales: the race's leader, a replicated mean before a lucky
single seed, or the one a user names; and whether it is the default coefficients' own."""

from __future__ import annotations

from dataclasses import dataclass

from optuna.trial import FrozenTrial, TrialState

from scalesearch.errors import StudyError
from scalesearch.search.results.arch_groups import arch_groups
from scalesearch.search.store.schema import Phase
from scalesearch.search.store.storage import trial_numbered
from scalesearch.search.store.studies import RunStudies


@dataclass(frozen=True)
class FamilySource:
    """The search trial whose coefficients the family scales, and whether its architecture
    is the default coefficients' (then there is nothing to check them against)."""

    trial: FrozenTrial
    default: bool


def family_source(run: RunStudies, number: int | None) -> FrozenTrial:
    """The search trial whose coefficients the family scales (`choose_source`'s trial)."""
    return choose_source(run, number).trial


def choose_source(run: RunStudies, number: int | None) -> FamilySource:
    """The search trial whose coefficients the family scales: `number`, or the first trial
    of the searched architecture with the best mean accuracy over its seeds (the cheaper one
    on a tie): the race's leader. Where the race gave seeds, only architectures with two or
    more compete: a single seed's luck would otherwise beat a mean of several (the winner's
    curse). A family already begun keeps its coefficients: a resume never orphans the
    members it trained (a 0.2 family, chosen by another rule, included)."""
    complete = run.trials(Phase.SEARCH, states=(TrialState.COMPLETE,))
    groups = arch_groups(run.search_trials(), run.name)
    defaults = {n for g in groups if g.default for n in g.trials}
    if number is not None:
        match = [t for t in complete if t.number == number]
        if not match:
            raise StudyError(
                f"trial {number} is not a complete search trial of this study; "
                f"`scalesearch frontier` lists the search's trials"
            )
        return FamilySource(match[0], number in defaults)
    begun = [t.params for t in run.trials(Phase.FAMILY)]
    kept = [t for t in complete if begun and t.params == begun[0]]
    if kept:  # a resumed family keeps the coefficients its trained members have
        return FamilySource(kept[0], kept[0].number in defaults)
    searched = [g for g in groups if g.phase == Phase.SEARCH]
    if not searched:
        raise StudyError("no search trial completed, so there are no coefficients to scale")
    replicated = [g for g in searched if len(g.accuracies) > 1]
    best = max(replicated or searched, key=lambda g: (g.mean, -g.macs))
    return FamilySource(trial_numbered(run.search, best.trials[0]), best.default)
