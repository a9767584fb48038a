"""Trainings grouped by architecture, and what their seeds measure.

One proxy accuracy mixes the architecture's worth with the seed's luck (the split, the
initialisation, the data order). `arch_groups` gathers each architecture's trainings (same
spec and settings, any seed), and `seed_noise` pools their spread; the race
(`scalesearch.search.phases.race`) compares them, paired.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass

from optuna.trial import FrozenTrial, TrialState

from scalesearch.search.costs import COSTS
from scalesearch.search.store.schema import Phase, TrialRecord
from scalesearch.stats import binomial_se, mean_sd


@dataclass(frozen=True)
class ArchGroup:
    """Every complete training of one architecture (same spec and training settings)."""

    study: str  # the study its trials are in
    trials: tuple[int, ...]  # the first is the one that represents it
    accuracies: tuple[float, ...]
    seeds: tuple[int | None, ...]  # of each training, in the same order
    macs: int
    params: dict
    phase: Phase
    phi: float
    default: bool  # it trains the space's default coefficients
    val_images: int | None
    params_count: int | None = None
    latency_ms: float | None = None  # median over its trainings (batch 1), where measured
    costs: dict[str, float | None] | None = None  # every registered cost, where recorded

    def cost(self, name: str) -> float | None:
        """A cost objective of the architecture (`scalesearch.search.costs`)."""
        return (self.costs or {}).get(name)

    @property
    def mean(self) -> float:
        return mean_sd(self.accuracies)[0]

    @property
    def sd(self) -> float:
        return mean_sd(self.accuracies)[1]

    def se(self, noise: float | None) -> float:
        """Of the mean. With the study's pooled seed noise measured: noise / √n (two seeds
        say little about their own spread, and one seed carries the whole seed noise), never
        below the validation set's binomial error over √n (the report's rule, so a member
        shows one error bar everywhere); without it, the binomial error of the validation
        set, which is a lower bound."""
        binomial = binomial_se(self.mean, self.val_images)
        if noise is not None:
            return max(noise, binomial) / math.sqrt(len(self.accuracies))
        return binomial


def arch_groups(trials: list[FrozenTrial], study: str) -> list[ArchGroup]:
    """The complete ones of `trials` (of study `study`) grouped by architecture.

    A trial that took another's result (a duplicate of a twin, a family member copied from
    its search trial) counts as a training of its group only where that other trial is not
    among `trials` (it would count twice): a family member that took an ablation member's
    training is that member's seed; a search duplicate is not a second seed of its twin.
    """
    grouped: dict[str, list[FrozenTrial]] = {}
    # The default coefficients may realise an architecture the search trained already: their
    # replicate is then a duplicate, and its flag marks the architecture it took.
    default_keys = set()
    inside = {(TrialRecord.from_trial(t).phase, t.number) for t in trials}
    for t in trials:
        if t.state != TrialState.COMPLETE:
            continue
        record = TrialRecord.from_trial(t)
        if record.default_coefficients and record.arch_key:
            default_keys.add(record.arch_key)
        if _counts(record, inside):
            grouped.setdefault(record.arch_key or f"trial:{t.number}", []).append(t)
    groups = []
    for trials in grouped.values():
        trials.sort(key=lambda t: t.number)
        first = TrialRecord.from_trial(trials[0])
        records = [TrialRecord.from_trial(t) for t in trials]
        # From the record, not values[1]: a study's second objective may be latency.
        macs = int(first.macs if first.macs is not None else trials[0].values[1])
        groups.append(
            ArchGroup(
                study=study,
                trials=tuple(t.number for t in trials),
                accuracies=tuple(t.values[0] for t in trials),
                seeds=tuple(r.seed for r in records),
                macs=macs,
                params=dict(trials[0].params),
                phase=first.phase,
                phi=float(first.phi or 0.0),
                default=any(r.default_coefficients for r in records)
                or first.arch_key in default_keys,
                val_images=first.val_images,
                params_count=first.params,
                latency_ms=_median([r.latency_ms for r in records]),
                costs=_costs(first, records, macs),
            )
        )
    return sorted(groups, key=lambda g: g.trials[0])


def _costs(first: TrialRecord, records: list[TrialRecord], macs: int) -> dict:
    """Every registered cost of a group: a timed one the median over its trainings, a counted
    one its first record's (the same for every training of one network)."""
    found: dict[str, float | None] = {}
    for name, cost in COSTS.items():
        if cost.source == "timed":
            found[name] = _median([getattr(r, cost.field) for r in records])
        else:
            found[name] = getattr(first, cost.field)
    found["macs"] = macs
    return found


def _counts(record: TrialRecord, inside: set[tuple[Phase, int]]) -> bool:
    """Whether a complete trial is a training of its own in a group of `inside` trials."""
    if record.copied_from is not None:  # a family copy: its source is a search trial
        return (Phase.SEARCH, record.copied_from) not in inside
    if record.duplicate_of is not None:
        numbers = {number for _, number in inside}
        return record.duplicate_study is not None or record.duplicate_of not in numbers
    return True


def _median(values: list[float | None]) -> float | None:
    measured = sorted(v for v in values if v is not None)
    return statistics.median(measured) if measured else None


def seed_noise(
    groups: list[ArchGroup], phases: tuple[Phase, ...] = (Phase.SEARCH, Phase.REPLICATE)
) -> float | None:
    """The pooled standard deviation of one accuracy over seeds (None without replicates),
    of one training rule: by default the proxy's (search and replicates), since the family
    and the ablation train longer and their seeds vary by another amount."""
    sd = pooled_sd([g.accuracies for g in groups if g.phase in phases])
    return None if math.isnan(sd) else sd


def pooled_sd(samples: list[tuple[float, ...]]) -> float:
    """The pooled sd of one accuracy over seeds, from each architecture's accuracies (NaN
    without one of two or more)."""
    replicated = [s for s in samples if len(s) > 1]
    dof = sum(len(s) - 1 for s in replicated)
    if not dof:
        return math.nan
    squares = sum(sum((x - sum(s) / len(s)) ** 2 for x in s) for s in replicated)
    return math.sqrt(squares / dof)
