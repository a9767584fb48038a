"""Does scaling up pay? A family's answer, judged against its own noise.

A family is φ members, each trained alike with a few seeds. Its answer is one of three:

- **gains**: every step up the family gains beyond the noise, and a scaling law, fitted
  without the largest member, predicts that member inside its 95% band (`law.check_law`):
  the law is believed, and it predicts the next member with its band;
- **saturated**: from some member φ = k on, no larger member gains on it beyond the noise:
  at this data and training budget, more MACs buy nothing measurable. An answer, not a
  failure; with four or more members the saturating law's floor is given;
- **inconclusive**: the family cannot say (fewer than three members; a larger member worse
  than a smaller one beyond the noise, i.e. under-trained; or gains the law cannot predict):
  the words say what to train.

"Beyond the noise" is a difference of at least two standard errors of the difference (each
member's error being the larger of its validation set's binomial error and the family's
measured seed noise, over √seeds): about 95% two-sided. A difference inside that is a tie.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from scalesearch.formatting import seed_count
from scalesearch.law import LawCheck, check_law, fit_law
from scalesearch.stats import seeds_to_settle

BEYOND = 2.0  # standard errors of a difference that make it real


@dataclass(frozen=True)
class Member:
    """One family member as the verdict sees it: mean accuracy over its seeds and the
    standard error of that mean."""

    phi: float
    macs: float
    accuracy: float
    se: float
    seeds: int


@dataclass(frozen=True)
class ScalingVerdict:
    kind: str  # "gains", "saturated" or "inconclusive"
    words: str
    law: LawCheck | None = None  # the law's fit and checks, where one was fitted
    saturated_at: float | None = None  # the φ past which nothing gains, for "saturated"
    settle: tuple[float, float, int] | None = None  # (φ, φ, seeds each) that would tell


def z_score(smaller: Member, larger: Member) -> float:
    """(larger − smaller) accuracy over the standard error of the difference."""
    se = math.hypot(_finite(smaller.se), _finite(larger.se))
    diff = larger.accuracy - smaller.accuracy
    return math.copysign(math.inf, diff) if se == 0 else diff / se


def scaling_verdict(members: Sequence[Member], next_macs: float | None = None) -> ScalingVerdict:
    """The family's answer (see the module docstring). `next_macs`: the next member's MACs,
    predicted when the verdict is "gains"."""
    family = sorted(members, key=lambda m: m.macs)
    n = len(family)
    if n == 0:
        return ScalingVerdict(
            "inconclusive",
            "No family trained yet, so nothing says whether scaling up pays: run the search "
            "without --no-family, or scalesearch run --resume.",
        )
    if n < 3:
        return ScalingVerdict(
            "inconclusive",
            f"Inconclusive: {n} family member(s); a verdict needs three (two to fit a law, one "
            f"to check it). Add family φ values.",
        )
    worse = _worse_beyond_noise(family)
    if worse is not None:
        small, large = worse
        return ScalingVerdict(
            "inconclusive",
            f"Inconclusive: the member at φ = {large.phi:g} ({_acc(large)}) is less accurate "
            f"than the one at φ = {small.phi:g} ({_acc(small)}) beyond the noise "
            f"({-z_score(small, large):.1f} standard errors): the larger members are "
            f"under-trained. Train the family longer (family.epochs, family.budget_exponent).",
        )
    k = _saturation_index(family)
    if k < n - 1:
        return _saturated(family, k)
    law = check_law(
        [m.macs for m in family],
        [1 - m.accuracy for m in family],
        [m.se for m in family],
        next_macs=next_macs,
    )
    if law.passed:
        return ScalingVerdict(
            "gains", f"Gains: every step up gains beyond the noise. {law.words}", law
        )
    return ScalingVerdict(
        "inconclusive",
        f"Inconclusive: every step up gains beyond the noise, but {law.words[0].lower()}"
        f"{law.words[1:]}",
        law,
    )


def _worse_beyond_noise(family: list[Member]) -> tuple[Member, Member] | None:
    for i, small in enumerate(family):
        for large in family[i + 1 :]:
            if z_score(small, large) <= -BEYOND:
                return small, large
    return None


def _saturation_index(family: list[Member]) -> int:
    """The first member that no larger one beats beyond the noise (the last one when every
    member is beaten by a larger one: the family still gains)."""
    for i, member in enumerate(family):
        if not any(z_score(member, larger) >= BEYOND for larger in family[i + 1 :]):
            return i
    return len(family) - 1


def _saturated(family: list[Member], k: int) -> ScalingVerdict:
    at = family[k]
    larger = ", ".join(f"φ = {m.phi:g} {_acc(m)}" for m in family[k + 1 :])
    resolution, settle = _resolution(family, k)
    words = (
        f"Saturated: no member beyond φ = {at.phi:g} ({_acc(at)}, {at.macs / 1e6:.1f} MMACs) "
        f"gains on it beyond the noise ({larger}). At this data and training budget, more "
        f"MACs buy no measurable accuracy{resolution}"
    )
    if len(family) >= 4:
        law = fit_law("saturating", [m.macs for m in family], [1 - m.accuracy for m in family])
        words += f" The saturating law puts the error floor at {law.c:.2%}."
    else:
        words += " A fourth member would let the saturating law give the floor."
    if k == 0:
        words += (
            " To see gains, train the family longer (family.epochs, family.budget_exponent) "
            "or on harder data."
        )
    return ScalingVerdict("saturated", words, saturated_at=at.phi, settle=settle)


def _resolution(family: list[Member], k: int) -> tuple[str, tuple[float, float, int] | None]:
    """What "measurable" means here: the smallest gain of the largest member over φ = k the
    noise lets through, and, where every step past k rises, that a slow gain is not ruled
    out, with the seeds of each that would tell it (and those φ and seeds)."""
    at, top = family[k], family[-1]
    smallest = BEYOND * math.hypot(_finite(at.se), _finite(top.se))
    words = f": at {seed_count(at.seeds)} a gain under {100 * smallest:.1f} points is not told from the noise"
    steps = list(zip(family[k:], family[k + 1 :]))
    if not all(b.accuracy > a.accuracy for a, b in steps):
        return words + ".", None
    words += ". Every step past it rises, so this may be a slow gain rather than a plateau"
    gain, se = top.accuracy - at.accuracy, math.hypot(_finite(at.se), _finite(top.se))
    needed = seeds_to_settle(gain, se, min(at.seeds, top.seeds), BEYOND)
    if needed is None:
        return words + ": too small a gain to tell from the noise with seeds (over 32 each).", None
    words += (
        f": {seed_count(needed)} of φ = {at.phi:g} and φ = {top.phi:g} would tell their "
        f"{100 * gain:.2f} points from the noise."
    )
    return words, (at.phi, top.phi, needed)


def _acc(member: Member) -> str:
    se = "" if not math.isfinite(member.se) else f" ± {100 * member.se:.2f}"
    return f"{member.accuracy:.2%}{se}"


def _finite(value: float) -> float:
    return value if math.isfinite(value) else 0.0
