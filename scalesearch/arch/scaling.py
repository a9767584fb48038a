"""Compound scaling: (base spec, α, β, γ, φ) → spec, with an explicit rounding policy.

depth × α^φ rounded up; width × β^φ rounded to a multiple of 8 that the stage's head count
divides, never more than 10% below the scaled value (EfficientNet's `round_filters`);
resolution × γ^φ rounded to the nearest multiple the network can take (its total stride,
and every lightweight-attention reduction). FLOPs then grow about (α·β^e·γ²)^φ, where the
space's constraint states e and the target constant c.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from scalesearch.arch.spec import ArchSpec, StageSpec
from scalesearch.errors import ConstraintError

WIDTH_DIVISOR = 8
MIN_WIDTH_FRACTION = 0.9
MAX_MULTIPLIER = 1000.0


def round_width(width: float, num_heads: int = 1, divisor: int = WIDTH_DIVISOR) -> int:
    """Nearest multiple of lcm(divisor, heads), bumped up if it fell more than 10% short."""
    step = math.lcm(divisor, num_heads)
    rounded = max(step, int(width / step + 0.5) * step)
    if rounded < MIN_WIDTH_FRACTION * width:
        rounded += step
    return rounded


def round_depth(depth: float) -> int:
    """Depths round up (EfficientNet's `round_repeats`), and never below one block."""
    # The epsilon keeps 1.2 * 5 = 6.000000000000001 from becoming 7.
    return max(1, math.ceil(depth - 1e-9))


def round_resolution(resolution: float, multiple: int) -> int:
    """Nearest multiple of `multiple`, at least one multiple."""
    return max(multiple, int(resolution / multiple + 0.5) * multiple)


def resolution_multiple(spec: ArchSpec) -> int:
    """The step between input sizes the network takes exactly.

    The total stride keeps every grid whole; a lightweight attention whose keys are reduced
    k-fold at a stage of cumulative stride s needs the input to be a multiple of s·k.
    """
    multiple = spec.total_stride
    stride = 2 if spec.stem is not None else 1
    for stage in spec.stages:
        stride *= stage.embed.stride
        if stage.block.attention == "light":
            multiple = math.lcm(multiple, stride * stage.block.kv_reduction)
    return multiple


def scale_spec(
    base: ArchSpec, alpha: float, beta: float, gamma: float, phi: float, name: str | None = None
) -> ArchSpec:
    """The member of `base`'s family at compound exponent `phi` (negative φ shrinks).

    Heads stay as in the base (as CMT's variants keep 1/2/4/8); widths of the stem and of a
    conv head scale with β too, as EfficientNet scales its stem and head.
    """
    check_coefficients(alpha=alpha, beta=beta, gamma=gamma)
    if not math.isfinite(phi):
        raise ConstraintError(f"phi must be a finite number, but got phi={phi}")
    depth_mult, width_mult, size_mult = multipliers(alpha, beta, gamma, phi)
    stages = tuple(_scale_stage(s, depth_mult, width_mult) for s in base.stages)
    stem = base.stem and replace(base.stem, out_chs=round_width(base.stem.out_chs * width_mult))
    head = base.head
    if head.kind == "conv_pool":
        head = replace(head, hidden_dim=round_width(head.hidden_dim * width_mult))
    resolution = round_resolution(base.resolution * size_mult, resolution_multiple(base))
    return replace(
        base,
        name=name or f"{base.name}-phi{phi:g}",
        stages=stages,
        stem=stem,
        head=head,
        resolution=resolution,
    )


def check_coefficients(**coefficients: float) -> None:
    """Coefficients lie in (0, 1000]: a power of zero, a negative or NaN has no meaning, and
    a coefficient past 1000 is a typo that would overflow the arithmetic."""
    for name, value in coefficients.items():
        if not (math.isfinite(value) and 0 < value <= MAX_MULTIPLIER):
            given = ", ".join(f"{k}={v}" for k, v in coefficients.items())
            raise ConstraintError(
                f"{name} must be a number in (0, {MAX_MULTIPLIER:g}], but got {given}"
            )


def multipliers(alpha: float, beta: float, gamma: float, phi: float) -> tuple[float, float, float]:
    """α^φ, β^φ, γ^φ, refused when the member would not fit any machine.

    The bound (each multiplier at most 1000×) is far past any published family (EfficientNet
    B7 is 3.1× deep and 2.7× wide at φ = 6) and keeps int() and the model builder finite.
    """
    try:
        mults = (alpha**phi, beta**phi, gamma**phi)
    except OverflowError:
        mults = (math.inf, math.inf, math.inf)
    if max(mults) > MAX_MULTIPLIER:
        raise ConstraintError(
            f"phi={phi:g} with alpha={alpha:g}, beta={beta:g}, gamma={gamma:g} scales a dimension "
            f"more than {MAX_MULTIPLIER:g}x; choose a smaller phi or coefficients nearer 1"
        )
    return mults


def _scale_stage(stage: StageSpec, depth_mult: float, width_mult: float) -> StageSpec:
    return replace(
        stage,
        depth=round_depth(stage.depth * depth_mult),
        dim=round_width(stage.dim * width_mult, stage.num_heads),
    )


@dataclass(frozen=True)
class Constraint:
    """α·β^e·γ² ≈ c: the compound-scaling constraint (CMT: e = 1.5, c = 2.5; EfficientNet:
    e = 2, c = 2). FLOPs of a transformer grow about α·β²·γ² per unit of φ."""

    width_exponent: float
    target: float
    tolerance: float = 0.1

    def product(self, alpha: float, beta: float, gamma: float) -> float:
        return alpha * beta**self.width_exponent * gamma**2

    def solve_gamma(self, alpha: float, beta: float) -> float:
        """The γ that puts (α, β, γ) exactly on the constraint."""
        check_coefficients(alpha=alpha, beta=beta)
        return math.sqrt(self.target / (alpha * beta**self.width_exponent))

    def check(self, alpha: float, beta: float, gamma: float) -> None:
        """Raises ConstraintError when the triple is off by more than the tolerance."""
        check_coefficients(alpha=alpha, beta=beta, gamma=gamma)
        product = self.product(alpha, beta, gamma)
        if abs(product / self.target - 1) > self.tolerance:
            raise ConstraintError(
                f"alpha*beta^{self.width_exponent:g}*gamma^2 must be within "
                f"{self.tolerance:.0%} of {self.target:g}, but got {product:.3f} for "
                f"alpha={alpha}, beta={beta}, gamma={gamma}"
            )
