"""Racing: further seeds go where they can change the answer (F-Race, irace).

Each search architecture trains one seed. The race then gives more seeds, round by round,
to the *contenders* only, and stops when the answer is separated beyond the noise or its
budget (counted in trainings: a seed is a training) is spent. Seeds are paired (common random
numbers): at seed s every architecture trains on the same subset, data order and
augmentation, so a difference between two architectures at the same seeds is free of the
data's share of the noise.

The noise model: one accuracy varies by σ between seeds, and two architectures' accuracies at
one seed correlate by ρ (they saw the same data). σ is pooled over every architecture with two
or more seeds. ρ comes from the spread of paired differences, pooled over pairs that share two
or more seeds, and is shrunk toward 0 (no pairing gain) by a prior worth `PRIOR_DOF` degrees
of freedom: two architectures that share two seeds always look perfectly correlated, and
believing that would make every difference look significant. The mean paired difference over
k shared seeds then has variance 2σ²(1 − ρ)/k, and a mean over n₁ and n₂ unshared seeds
σ²(1/n₁ + 1/n₂). Before any second seed σ is the prior (the space's `race.prior_sd`).

- A beats B *beyond the noise* when their difference is over `z` standard errors.
- A candidate is *ruled out* when another beats it beyond the noise at no greater cost (with
  no cost objective: when the leader beats it); the others are *contenders*.
- The *leader* is the most accurate contender (by mean over its seeds) among those with two
  or more seeds, once any has them: a single seed's luck does not lead a mean of several.
- The race is *separated* when every contender that costs no less than another beats it beyond
  the noise: nothing left could change the frontier (with no cost: only the leader is left).

The space's default coefficients always race, so that the leader is compared with them.
Pure functions on plain values: the race is tested on synthetic outcomes without Ray.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

BEYOND = 2.0  # standard errors: about 95% two-sided


@dataclass(frozen=True)
class Candidate:
    """One architecture in the race: its accuracy at each seed it trained, its costs (lower
    is better; empty when accuracy alone counts), and whether it is the defaults'."""

    key: str
    accuracies: dict[int, float]
    costs: tuple[float, ...] = ()
    default: bool = False

    @property
    def mean(self) -> float:
        return statistics.fmean(self.accuracies.values())

    @property
    def seeds(self) -> int:
        return len(self.accuracies)


@dataclass(frozen=True)
class Noise:
    sd: float  # of one accuracy between seeds
    rho: float  # correlation of two architectures' accuracies at one seed
    measured: bool  # from replicated candidates (else the prior)


@dataclass(frozen=True)
class Difference:
    """a − b: the mean difference, its standard error, and the seeds it pairs."""

    mean: float
    se: float
    paired: int

    def beyond(self, z: float = BEYOND) -> bool:
        return self.mean > z * self.se

    def interval(self, z: float = BEYOND) -> tuple[float, float]:
        return self.mean - z * self.se, self.mean + z * self.se


@dataclass(frozen=True)
class RaceState:
    leader: Candidate
    contenders: tuple[Candidate, ...]  # the leader first, then by mean
    ruled_out: dict[str, str]  # key → the candidate that beat it
    separated: bool
    noise: Noise


PRIOR_DOF = 6.0  # the weight, in degrees of freedom, of "pairing gains nothing" (ρ = 0)


def estimate_noise(candidates: Sequence[Candidate], prior_sd: float) -> Noise:
    """σ pooled over replicated candidates (the prior without any); ρ from the pooled
    variance of paired differences, shrunk toward 0, clipped to [0, 0.95]."""
    replicated = [c for c in candidates if c.seeds > 1]
    dof = sum(c.seeds - 1 for c in replicated)
    if not dof:
        return Noise(prior_sd, 0.0, False)
    squares = sum(sum((x - c.mean) ** 2 for x in c.accuracies.values()) for c in replicated)
    sd = math.sqrt(squares / dof)
    return Noise(sd, _correlation(replicated, sd), True)


def _correlation(replicated: Sequence[Candidate], sd: float) -> float:
    """ρ = 1 − s_d²/(2σ²), where s_d² is the pooled variance of paired differences at shared
    seeds, shrunk toward 2σ² (ρ = 0) by `PRIOR_DOF` degrees of freedom."""
    squares, dof = 0.0, 0
    for i, a in enumerate(replicated):
        for b in replicated[i + 1 :]:
            shared = sorted(set(a.accuracies) & set(b.accuracies))
            if len(shared) < 2:
                continue
            diffs = [a.accuracies[s] - b.accuracies[s] for s in shared]
            mean = statistics.fmean(diffs)
            squares += sum((d - mean) ** 2 for d in diffs)
            dof += len(shared) - 1
    unpaired = 2 * sd**2
    if unpaired == 0:
        return 0.0
    paired = (squares + PRIOR_DOF * unpaired) / (dof + PRIOR_DOF)
    return min(0.95, max(0.0, 1 - paired / unpaired))


def difference(a: Candidate, b: Candidate, noise: Noise) -> Difference:
    """a − b over the seeds they share (paired), else over all their seeds (unpaired)."""
    shared = sorted(set(a.accuracies) & set(b.accuracies))
    if shared:
        mean = statistics.fmean(a.accuracies[s] - b.accuracies[s] for s in shared)
        se = noise.sd * math.sqrt(2 * (1 - noise.rho) / len(shared))
        return Difference(mean, se, len(shared))
    se = noise.sd * math.sqrt(1 / a.seeds + 1 / b.seeds)
    return Difference(a.mean - b.mean, se, 0)


def _cheaper_or_equal(a: Candidate, b: Candidate) -> bool:
    return all(x <= y for x, y in zip(a.costs, b.costs))


def race_state(candidates: Sequence[Candidate], noise: Noise, z: float = BEYOND) -> RaceState:
    """Who is ruled out, who contends, who leads, and whether the race is separated. Until a
    second seed has measured the noise, nothing is ruled out on the prior alone."""
    ruled_out = {}
    by_mean = sorted(candidates, key=lambda c: -c.mean)  # the strongest rival is named
    for c in candidates if noise.measured else ():
        for other in by_mean:
            if other is c or not _cheaper_or_equal(other, c):
                continue
            if difference(other, c, noise).beyond(z):
                ruled_out[c.key] = other.key
                break
    contenders = sorted((c for c in candidates if c.key not in ruled_out), key=lambda c: -c.mean)
    # Once contenders have second seeds, one seed's luck does not lead a mean of several
    # (the winner's curse): the leader is the best replicated one, as the family's source is.
    leader = next((c for c in contenders if c.seeds > 1), contenders[0])
    contenders = [leader, *(c for c in contenders if c is not leader)]
    # Every costlier (or, at equal cost, more accurate) contender must beat every cheaper one.
    separated = noise.measured and all(
        difference(b, a, noise).beyond(z)
        for a in contenders
        for b in contenders
        if a is not b and _cheaper_or_equal(a, b) and (a.costs != b.costs or b.mean >= a.mean)
    )
    return RaceState(leader, tuple(contenders), ruled_out, separated, noise)


FIRST_ROUND = 4  # trainings that measure the noise before anything is ruled out


def next_round(
    state: RaceState,
    seeds: Sequence[int],
    min_seeds: int,
    max_seeds: int,
    budget: int,
    focus: str = "pair",
) -> list[tuple[Candidate, int]]:
    """The trainings of the next round, at most `budget`: each contender's next seed (the
    lowest of `seeds` it lacks; the same seed for all, so the round is paired), while the
    race is not separated or a contender has fewer than `min_seeds`, and never past
    `max_seeds` seeds. The defaults and the leader first, then by closeness to the leader.
    Until the noise is measured a round holds at most `FIRST_ROUND` trainings: nothing is
    ruled out yet, and the budget is better spent once something can be.

    With `focus="pair"`, once the noise is measured and while leader − defaults is within
    the noise, a round trains those two alone (the one with fewer seeds alone, until they
    hold as many): the run's headline claim gets its seeds before the ties among the others
    do (`"wide"`: every contender, every round)."""
    wanted = []
    for c in _by_priority(state):
        if c.seeds >= max_seeds or (state.separated and c.seeds >= min_seeds):
            continue
        seed = next((s for s in seeds if s not in c.accuracies), None)
        if seed is not None:
            wanted.append((c, seed))
    if not state.noise.measured:
        return wanted[: min(budget, FIRST_ROUND)]
    pair = _undecided_pair(state) if focus == "pair" else None
    if pair:
        wanted = [(c, s) for c, s in wanted if c in pair] or wanted  # or both at max_seeds
        if len(wanted) == 2 and wanted[0][0].seeds != wanted[1][0].seeds:
            # Only seeds both hold pair: the one behind catches up first.
            wanted = [min(wanted, key=lambda w: w[0].seeds)]
    return wanted[:budget]


def _undecided_pair(state: RaceState) -> tuple[Candidate, Candidate] | None:
    """The leader and the defaults, while their difference's 95% interval holds zero (None
    when the defaults lead or are ruled out)."""
    default = next((c for c in state.contenders if c.default), None)
    if default is None or default is state.leader:
        return None
    low, high = difference(state.leader, default, state.noise).interval()
    return (state.leader, default) if low <= 0 <= high else None


def _by_priority(state: RaceState) -> list[Candidate]:
    first = [state.leader, *(c for c in state.contenders if c.default and c is not state.leader)]
    rest = [c for c in state.contenders if c not in first]
    rest.sort(key=lambda c: state.leader.mean - c.mean)
    return first + rest
