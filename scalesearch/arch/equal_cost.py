"""Equal cost on counted MACs: the member at φ costs the base's MACs × c^φ, whatever its shape.

The constraint α·β^e·γ² ≈ c promises that cost grows by c per step of φ, but only on paper:
rounding is coarse on a small base (a width of 32 moves in steps of 8, i.e. 25%) and
attention's cost grows with the token count squared (γ⁴, not γ²). Measured on cmt_compound,
φ = 1 candidates that all satisfy the formula cost 1.96× to 4.15× the base, so a search that
compares them ranks sizes, not shapes. `realize` keeps the promise on the count instead: among
the roundings near the requested depths, widths and input size it picks the one whose counted
MACs are nearest the target, and reports the effective coefficients it realised.

Why it is cheap: at a fixed input size and fixed widths, a network's MACs are linear in each
stage's depth (every block of a stage is the same), MACs = fixed + Σᵢ (embedᵢ + depthᵢ·blockᵢ).
Two counts (all depths 1, all depths 2) give fixed, embedᵢ and blockᵢ exactly; every depth
combination then costs an addition. Counts are cached by shape, and nearby trials share them.
The runtime counts (`arch.runtime_counts`: layers, activations, kernels) are linear in the
depths the same way and come from the same two counts, so a realised member's counts cost
nothing more.
"""

from __future__ import annotations

import functools
import itertools
import math
from dataclasses import dataclass, replace

from scalesearch.arch.cost import count_cost
from scalesearch.arch.runtime_counts import RuntimeCounts
from scalesearch.arch.scaling import (
    WIDTH_DIVISOR,
    check_coefficients,
    multipliers,
    resolution_multiple,
    scale_spec,
)
from scalesearch.arch.spec import ArchSpec


@dataclass(frozen=True)
class Member:
    """A family member realised at equal cost.

    Attributes:
        spec: the architecture chosen.
        macs: its counted MACs.
        target_macs: the base's counted MACs × growth^φ.
        requested: (α, β, γ) asked for.
        effective: (α, β, γ) realised: the geometric-mean depth and width ratios to the base,
            and the input-size ratio, each to the power 1/φ (the requested ones at φ = 0).
        tolerance: the relative cost error allowed.
    """

    spec: ArchSpec
    macs: int
    target_macs: int
    requested: tuple[float, float, float]
    effective: tuple[float, float, float]
    tolerance: float

    @property
    def cost_ratio(self) -> float:
        return self.macs / self.target_macs

    @property
    def cost_excess(self) -> float:
        """How far the cost is off its target beyond the tolerance (<= 0 within it)."""
        return abs(self.cost_ratio - 1) - self.tolerance

    @property
    def within_tolerance(self) -> bool:
        return self.cost_excess <= 1e-12

    def miss_reason(self) -> str:
        """Why the member cannot be compared at equal cost (for a PRUNED trial)."""
        return (
            f"no rounding comes within ±{self.tolerance:.0%} of the target cost "
            f"{self.target_macs:,} MACs; the nearest costs {self.macs:,} "
            f"({self.cost_ratio:.2f}× the target)"
        )


@dataclass(frozen=True)
class LinearCost:
    """MACs (and runtime counts) of a network with fixed widths and input size, as functions
    of its depths."""

    fixed: int
    embed: tuple[int, ...]
    block: tuple[int, ...]
    runtime_parts: tuple[RuntimeCounts, tuple[RuntimeCounts, ...], tuple[RuntimeCounts, ...]]

    def macs(self, depths: tuple[int, ...]) -> int:
        return self.fixed + sum(e + d * b for e, d, b in zip(self.embed, depths, self.block))

    def runtime(self, depths: tuple[int, ...]) -> RuntimeCounts:
        """`arch.runtime_counts`' counts at these depths: linear in them as MACs are."""
        fixed, embed, block = self.runtime_parts
        for e, d, b in zip(embed, depths, block):
            fixed = fixed + e + b * d
        return fixed


def linear_cost(shape: ArchSpec) -> LinearCost:
    """Counts `shape` with every depth 1 and every depth 2 (see the module docstring): the
    same for every depth and name of the shape, which share one count."""
    return _linear_cost(with_depths(shape, (1,) * len(shape.stages)).replace(name="shape"))


@functools.lru_cache(maxsize=8192)
def _linear_cost(shape: ArchSpec) -> LinearCost:
    one = count_cost(shape)
    two = count_cost(with_depths(shape, (2,) * len(shape.stages)))
    block = tuple(b.macs - a.macs for a, b in zip(one.stages, two.stages))
    embed = tuple(a.macs - k for a, k in zip(one.stages, block))
    runtime_block = tuple(b.runtime - a.runtime for a, b in zip(one.stages, two.stages))
    runtime_embed = tuple(a.runtime - k for a, k in zip(one.stages, runtime_block))
    runtime_fixed = one.runtime
    for stage in one.stages:
        runtime_fixed = runtime_fixed - stage.runtime
    return LinearCost(
        one.macs - sum(s.macs for s in one.stages),
        embed,
        block,
        (runtime_fixed, runtime_embed, runtime_block),
    )


def count_runtime(spec: ArchSpec, resolution: int | None = None) -> RuntimeCounts:
    """The runtime counts (`arch.runtime_counts`) of `spec` for one image of side
    `resolution` (default: its own): its shape's counts at depths 1 and 2, counted in the
    same meta pass as their MACs and cached where the member was realised, extended to its
    depths (linear, as MACs are)."""
    if resolution is not None:
        spec = spec.replace(resolution=resolution)
    spec.geometry(spec.resolution)  # a clear SpecError if the network cannot take this size
    return linear_cost(spec).runtime(tuple(s.depth for s in spec.stages))


@functools.lru_cache(maxsize=256)
def base_macs(base: ArchSpec) -> int:
    return count_cost(base).macs


def target_macs(base: ArchSpec, growth: float, phi: float) -> int:
    """The promise: the base's counted MACs × growth^φ."""
    return max(1, round(base_macs(base) * growth**phi))


def realize(
    base: ArchSpec,
    alpha: float,
    beta: float,
    gamma: float,
    phi: float,
    growth: float,
    tolerance: float,
    name: str | None = None,
) -> Member:
    """The member at `phi` that meets base MACs × growth^φ with the most faithful shape.

    Candidates: each stage's depth from half its scaled value to one block above; widths at
    the multiple one step below, just below, nearest or just above the scaled value (all
    stages alike, or each nearest); the input size at the multiple just above, just below or
    one below, and further down to ¾ of the request when nothing nearer meets the tolerance.
    Candidates within the tolerance win; among them, the smallest sum of squared log shape
    errors plus 4× the squared cost error in tolerance units (see the loop).

    Args:
        base: the φ = 0 spec.
        alpha, beta, gamma, phi: the requested scaling.
        growth: the constraint's c (cost per step of φ).
        tolerance: relative cost error within which the member counts as equal cost.
        name: the member's name.

    Example:
        >>> from scalesearch import load_space
        >>> base = load_space("cmt_compound").base
        >>> member = realize(base, 1.2, 1.3, 1.15, phi=1, growth=2.5, tolerance=0.1)
        >>> member.within_tolerance, round(member.cost_ratio, 2)
        (True, 1.0)
    """
    check_coefficients(alpha=alpha, beta=beta, gamma=gamma, growth=growth)
    naive = scale_spec(base, alpha, beta, gamma, phi, name=name)
    target = target_macs(base, growth, phi)
    depth_mult, width_mult, size_mult = multipliers(alpha, beta, gamma, phi)
    scale = math.log1p(tolerance)
    best: tuple[tuple[bool, float], ArchSpec, int] | None = None
    for rescue, shapes in _shape_passes(base, naive, size_mult, width_mult):
        if rescue and best is not None and not best[0][0]:
            break  # rescue passes only for a member that misses the tolerance
        for resolution, dims in shapes:
            cost = linear_cost(with_dims(naive, dims, resolution))
            for depths in _depth_choices(base, depth_mult):
                miss = math.log(cost.macs(depths) / target) / scale
                shape = _shape_distance(
                    base, depths, dims, resolution, depth_mult, width_mult, size_mult
                )
                # Within tolerance first; then shape error plus cost error, weighted so that
                # 5% off the target weighs as a stage 2.7× too deep (log 2.7 = 1): shapes stay
                # near the request, costs land within a few percent.
                key = (abs(miss) > 1 + 1e-9, shape + 4 * miss * miss)
                if best is None or key < best[0]:
                    spec = with_depths(with_dims(naive, dims, resolution), depths)
                    best = (key, spec, cost.macs(depths))
        # Counting is the cost here (two counts per shape): stop widening the neighbourhood
        # once a member lands within half the tolerance.
        if best is not None and abs(math.log(best[2] / target)) <= scale / 2:
            break
    assert best is not None
    _, spec, macs = best
    return Member(
        spec,
        macs,
        target,
        (alpha, beta, gamma),
        effective_coefficients(base, spec, phi, (alpha, beta, gamma)),
        tolerance,
    )


def naive_member(
    base: ArchSpec,
    alpha: float,
    beta: float,
    gamma: float,
    phi: float,
    growth: float,
    tolerance: float,
    name: str | None = None,
) -> Member:
    """The plain rounding of `scale_spec`, measured against the same target (for spaces that
    turn equal cost off, and to show what equal cost corrects)."""
    spec = scale_spec(base, alpha, beta, gamma, phi, name=name)
    target = target_macs(base, growth, phi)
    return Member(
        spec,
        count_cost(spec).macs,
        target,
        (alpha, beta, gamma),
        effective_coefficients(base, spec, phi, (alpha, beta, gamma)),
        tolerance,
    )


def effective_coefficients(
    base: ArchSpec, spec: ArchSpec, phi: float, requested: tuple[float, float, float]
) -> tuple[float, float, float]:
    """(α, β, γ) that `spec` realises over `base`: geometric-mean ratios to the power 1/φ."""
    if phi == 0:
        return requested
    depth = _geomean(s.depth / b.depth for s, b in zip(spec.stages, base.stages))
    width = _geomean(s.dim / b.dim for s, b in zip(spec.stages, base.stages))
    size = spec.resolution / base.resolution
    return depth ** (1 / phi), width ** (1 / phi), size ** (1 / phi)


def _geomean(values) -> float:
    values = list(values)
    return math.exp(sum(math.log(v) for v in values) / len(values))


def _shape_passes(
    base: ArchSpec, naive: ArchSpec, size_mult: float, width_mult: float
) -> list[tuple[bool, list[tuple[int, tuple[int, ...]]]]]:
    """(rescue, [(input size, widths)]) candidates, nearest first, in widening passes: the
    nearest widths at the sizes just below and above; then every stage's width just below or
    above; then one more step down in size or width. Attention's cost grows with the size to
    the fourth, so at a large γ^φ even the smallest depths overshoot (CvT-13 at 880 px: 1.58×
    the target at depths 1/1/5): rescue passes step the size further down, one step a pass,
    to three quarters of the requested size."""
    step = resolution_multiple(base)
    scaled = base.resolution * size_mult / step
    low, high = max(1, math.floor(scaled)), max(1, math.ceil(scaled))
    sizes = sorted({low * step, high * step})
    lower = [max(1, low - 1) * step] if low > 1 else []
    nearest = tuple(s.dim for s in naive.stages)
    below, above, further = _width_steps(base, width_mult)
    passes = [
        [(r, nearest) for r in sizes],
        [(r, w) for r in sizes for w in (below, above)],
        [(r, w) for r in lower for w in (nearest, below, above, further)]
        + [(r, further) for r in sizes],
    ]
    rescues = [
        [(k * step, w) for w in (nearest, below, further)]
        for k in range(low - 2, max(0, math.floor(0.75 * scaled) - 1), -1)
    ]
    seen: set = set()
    return [
        (i >= len(passes), [c for c in p if not (c in seen or seen.add(c))])
        for i, p in enumerate(passes + rescues)
    ]


def _width_steps(base: ArchSpec, width_mult: float) -> tuple[tuple[int, ...], ...]:
    """Every stage's width at the multiple just below, just above, and one more below."""
    below, above, further = [], [], []
    for stage in base.stages:
        step = math.lcm(WIDTH_DIVISOR, stage.num_heads)
        scaled = stage.dim * width_mult / step
        floor = max(1, math.floor(scaled))
        below.append(floor * step)
        above.append(max(1, math.ceil(scaled)) * step)
        further.append(max(1, floor - 1) * step)
    return tuple(below), tuple(above), tuple(further)


def _depth_choices(base: ArchSpec, depth_mult: float):
    """Each stage from half its scaled depth to one block above: depth is the fine control
    of cost (one block of a stage of four is a quarter of that stage)."""
    ranges = []
    for stage in base.stages:
        scaled = stage.depth * depth_mult
        low, high = max(1, math.floor(scaled / 2)), max(1, math.ceil(scaled) + 1)
        ranges.append(range(low, high + 1))
    return itertools.product(*ranges)


def _shape_distance(base, depths, dims, resolution, depth_mult, width_mult, size_mult) -> float:
    """How far a candidate's shape is from the requested one (sum of squared log ratios)."""
    total = (math.log(resolution / (base.resolution * size_mult))) ** 2
    for stage, depth, dim in zip(base.stages, depths, dims):
        total += math.log(depth / (stage.depth * depth_mult)) ** 2
        total += math.log(dim / (stage.dim * width_mult)) ** 2
    return total


def with_dims(spec: ArchSpec, dims: tuple[int, ...], resolution: int) -> ArchSpec:
    stages = tuple(replace(s, dim=d) for s, d in zip(spec.stages, dims))
    return spec.replace(stages=stages, resolution=resolution)


def with_depths(spec: ArchSpec, depths: tuple[int, ...]) -> ArchSpec:
    return spec.replace(stages=tuple(replace(s, depth=d) for s, d in zip(spec.stages, depths)))
