"""Single-dimension scaling for the papers' ablation: one base grown to one cost, one way.

EfficientNet and CMT justify compound scaling by comparing it, at equal cost, with growing a
single dimension. Here a `depth`, `width` or `resolution` member at φ grows only that
dimension of the base until its counted MACs meet the compound members' target, the base's
MACs × c^φ, so that a difference in accuracy is one of shape, not of size.

Candidates are exact in the other dimensions: each stage's depth (or width) at the rounding
just below or above the common multiplier m that meets the target (2^stages choices), or
each input size on the network's multiple. The one nearest the target wins, the most
uniform on a tie. Widths move in 25% steps on a small base and input sizes in larger ones,
so a pure candidate may miss the tolerance; only then may the deepest stage move by whole
blocks (the finest control of cost), and the member's effective α says so.

Counting is cheap: `linear_cost` counts a shape twice (all depths 1 and 2) and prices every
depth by addition, so a member costs a few counts of one-block networks.
"""

from __future__ import annotations

import itertools
import math

from scalesearch.arch.equal_cost import (
    Member,
    effective_coefficients,
    linear_cost,
    target_macs,
    with_depths,
    with_dims,
)
from scalesearch.arch.scaling import WIDTH_DIVISOR, resolution_multiple
from scalesearch.arch.spec import ArchSpec

SINGLE_DIMENSIONS = ("depth", "width", "resolution")
_BISECTION_STEPS = 20  # log m to 1e-5 of its range: far below one rounding step


def single_dimension(
    base: ArchSpec,
    dimension: str,
    phi: float,
    growth: float,
    tolerance: float,
    name: str | None = None,
) -> Member:
    """The member at `phi` that grows only `dimension` to base MACs × growth^φ.

    Raises:
        ValueError: `dimension` is not one of SINGLE_DIMENSIONS.
    """
    if dimension not in SINGLE_DIMENSIONS:
        raise ValueError(
            f"unknown scaling dimension {dimension!r}; one of {', '.join(SINGLE_DIMENSIONS)}"
        )
    target = target_macs(base, growth, phi)
    spec, macs = _nearest(base, dimension, target)
    if abs(macs / target - 1) > tolerance:
        spec, macs = _trim_deepest(spec, target)
    spec = spec.replace(name=name or f"{base.name}-{dimension}-phi{phi:g}")
    requested = tuple(growth if d == dimension else 1.0 for d in SINGLE_DIMENSIONS)
    return Member(
        spec, macs, target, requested, effective_coefficients(base, spec, phi, requested), tolerance
    )


def _nearest(base: ArchSpec, dimension: str, target: int) -> tuple[ArchSpec, int]:
    """The pure candidate nearest the target: (spec, counted MACs)."""
    depths = tuple(s.depth for s in base.stages)
    dims = tuple(s.dim for s in base.stages)
    if dimension == "depth":
        cost = linear_cost(base)
        m = _solve(lambda m: cost.macs(_scaled_depths(depths, m)), target)
        choices = [(d, dims, base.resolution) for d in _roundings(depths, m, _depth_steps)]
    elif dimension == "width":
        steps = tuple(math.lcm(WIDTH_DIVISOR, s.num_heads) for s in base.stages)
        m = _solve(lambda m: _macs(base, depths, _nearest_dims(dims, steps, m), None), target)
        widths = _roundings(dims, m, lambda d, m, i: _width_steps(d, m, steps[i]))
        choices = [(depths, w, base.resolution) for w in widths]
    else:
        step = resolution_multiple(base)
        m = _solve(lambda m: _macs(base, depths, dims, _size(base.resolution, step, m)), target)
        low = max(1, math.floor(base.resolution * m / step))
        choices = [(depths, dims, r * step) for r in (low, low + 1)]
    scored = []
    for d, w, r in choices:
        macs = _macs(base, d, w, r)
        spread = _spread(d, depths) + _spread(w, dims)
        scored.append((abs(math.log(macs / target)), spread, d, w, r, macs))
    _, _, d, w, r, macs = min(scored)
    return with_depths(with_dims(base, w, r), d), macs


def _trim_deepest(spec: ArchSpec, target: int) -> tuple[ArchSpec, int]:
    """The deepest stage's depth (≥ 1) whose cost is nearest the target."""
    cost = linear_cost(spec)
    depths = [s.depth for s in spec.stages]
    i = max(range(len(depths)), key=lambda k: (cost.block[k] * depths[k], k))
    best = None
    for depth in range(1, 4 * depths[i] + 2):
        trial = tuple(depth if k == i else d for k, d in enumerate(depths))
        macs = cost.macs(trial)
        key = abs(math.log(macs / target))
        if best is None or key < best[0]:
            best = (key, trial, macs)
    assert best is not None
    return with_depths(spec, best[1]), best[2]


def _solve(macs_at, target: int) -> float:
    """m > 0 where the (monotone, stepwise) cost crosses the target, by bisection on log m."""
    low, high = math.log(1 / 64), math.log(64)
    for _ in range(_BISECTION_STEPS):
        middle = (low + high) / 2
        if macs_at(math.exp(middle)) > target:
            high = middle
        else:
            low = middle
    return math.exp((low + high) / 2)


def _macs(base: ArchSpec, depths, dims, resolution: int | None) -> int:
    return linear_cost(with_dims(base, dims, resolution or base.resolution)).macs(depths)


def _scaled_depths(depths: tuple[int, ...], m: float) -> tuple[int, ...]:
    return tuple(max(1, round(d * m)) for d in depths)


def _depth_steps(depth: int, m: float, _: int) -> tuple[int, ...]:
    return (max(1, math.floor(depth * m)), max(1, math.ceil(depth * m)))


def _width_steps(dim: int, m: float, step: int) -> tuple[int, ...]:
    scaled = dim * m / step
    return (max(1, math.floor(scaled)) * step, max(1, math.ceil(scaled)) * step)


def _nearest_dims(dims: tuple[int, ...], steps: tuple[int, ...], m: float) -> tuple[int, ...]:
    return tuple(max(1, round(d * m / s)) * s for d, s in zip(dims, steps))


def _size(resolution: int, step: int, m: float) -> int:
    return max(1, round(resolution * m / step)) * step


def _roundings(values: tuple[int, ...], m: float, steps) -> list[tuple[int, ...]]:
    """Every per-stage choice of the rounding just below or above value × m."""
    options = [sorted(set(steps(v, m, i))) for i, v in enumerate(values)]
    return list(itertools.product(*options))


def _spread(values: tuple[int, ...], base: tuple[int, ...]) -> float:
    """How unevenly the stages grew (variance of the log ratios): 0 for one multiplier."""
    logs = [math.log(v / b) for v, b in zip(values, base)]
    mean = sum(logs) / len(logs)
    return sum((x - mean) ** 2 for x in logs)
