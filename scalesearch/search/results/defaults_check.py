"""The search's pick checked at the family's training: searched − defaults, paired.

The race separates candidates under the proxy, whose seed noise is large and whose ranking
need not hold at longer training. So the family trains the default coefficients' member at
the search φ beside the searched one, with the same seeds (phase "check", in the family's
study): their paired difference is the search's claim measured where it counts. The noise is
the family's (`racing`'s model, over every family member and the check: one training rule),
so "better" and "tied" are said against it, and a tie says how many seeds would settle it.
"""

from __future__ import annotations

from dataclasses import dataclass

from scalesearch.search.results.arch_groups import ArchGroup, arch_groups
from scalesearch.search.results.racing import (
    Candidate,
    Difference,
    Noise,
    difference,
    estimate_noise,
)
from scalesearch.search.store.schema import Phase
from scalesearch.search.store.studies import RunStudies

NO_PRIOR_SD = 0.02  # the noise assumed with no replicated member (then nothing is claimed)


@dataclass(frozen=True)
class DefaultsCheck:
    """The family's member at `phi` (the search's pick) against the defaults' there."""

    phi: float
    searched: ArchGroup
    defaults: ArchGroup
    difference: Difference  # searched − defaults
    noise: Noise

    @property
    def interval(self) -> tuple[float, float]:
        return self.difference.interval()

    def to_dict(self) -> dict:
        low, high = self.interval
        return {
            "phi": self.phi,
            "searched": {"trial": self.searched.trials[0], "accuracies": self.searched.accuracies},
            "defaults": {"trial": self.defaults.trials[0], "accuracies": self.defaults.accuracies},
            "difference": self.difference.mean,
            "interval95": [low, high],
            "paired_seeds": self.difference.paired,
            "noise_sd": self.noise.sd,
            "verdict": self.verdict,
        }

    @property
    def verdict(self) -> str:
        """ "better", "worse" or "tied", against the family's noise."""
        low, high = self.interval
        return "better" if low > 0 else "worse" if high < 0 else "tied"


def defaults_check(run: RunStudies) -> DefaultsCheck | None:
    """The check where both sides trained (None before, or where nothing was checked)."""
    checks = arch_groups(run.trials(Phase.CHECK), run.name_for(Phase.CHECK))
    if not checks or _scales_the_defaults(run):
        return None  # the race may train the check before it picks the defaults themselves
    defaults = checks[0]
    members = arch_groups(run.trials(Phase.FAMILY), run.name_for(Phase.FAMILY))
    searched = next((g for g in members if g.phi == defaults.phi), None)
    if searched is None:
        return None
    candidates = {id(g): _candidate(g) for g in [*members, defaults]}
    noise = estimate_noise(list(candidates.values()), NO_PRIOR_SD)
    diff = difference(candidates[id(searched)], candidates[id(defaults)], noise)
    return DefaultsCheck(defaults.phi, searched, defaults, diff, noise)


def _scales_the_defaults(run: RunStudies) -> bool:
    """The family scales the default coefficients' architecture: nothing to check."""
    from scalesearch.errors import StudyError
    from scalesearch.search.results.leader import choose_source

    try:
        return choose_source(run, None).default
    except StudyError:
        return False


def _candidate(group: ArchGroup) -> Candidate:
    seeds = {
        s if s is not None else -1 - i: a
        for i, (s, a) in enumerate(zip(group.seeds, group.accuracies))
    }
    return Candidate(f"{group.study}#{group.trials[0]}", seeds)


def why_unchecked(run: RunStudies) -> str:
    """Why a run has no defaults check to show (where `defaults_check` found none)."""
    from scalesearch.errors import StudyError
    from scalesearch.search.results.leader import choose_source
    from scalesearch.search.store.run_attributes import stored_space

    if not run.trials(Phase.FAMILY):
        return "no family trained yet"
    try:
        if choose_source(run, None).default:
            return "the search's pick is the default coefficients: there is nothing to check"
    except StudyError:
        return "no search trial completed"
    space = stored_space(run.search)
    if space is None or not space.family.check_defaults:
        return "not asked for (family.check_defaults: false)"
    return "the defaults' member has not finished training: scalesearch run --resume trains it"
