"""Equal cost on counted MACs: every shipped space keeps its promise over its ranges and φ.

A member at φ costs the base's counted MACs × c^φ within the space's tolerance, for the
corners of the coefficient ranges and the defaults, φ from −2 to 4; the plain rounding does
not (which is why the realisation exists).
"""

from __future__ import annotations

import pytest

from scalesearch.arch.cost import count_cost
from scalesearch.arch.equal_cost import naive_member
from scalesearch.search.space import Coefficients, list_spaces, load_space

PHIS = (-2, -1, 1, 2, 3, 4)


def _grid(space) -> list[Coefficients]:
    """Range corners whose solved γ lies in range, and the defaults."""
    s = space.scaling
    points = [s.defaults]
    for alpha in (s.alpha.low, s.alpha.high):
        for beta in (s.beta.low, s.beta.high):
            gamma = s.constraint.solve_gamma(alpha, beta)
            if s.gamma.low <= gamma <= s.gamma.high:
                points.append(Coefficients(alpha, beta, gamma))
    return points


@pytest.mark.slow
@pytest.mark.parametrize("name", list_spaces())
def test_every_member_is_realised_at_equal_cost(name: str) -> None:
    space = load_space(name)
    base = count_cost(space.member(0)).macs
    growth = space.scaling.constraint.target
    for coefficients in _grid(space):
        for phi in PHIS:
            member = space.realize(phi, coefficients)
            where = f"{name} φ={phi} {coefficients}"
            assert member.target_macs == round(base * growth**phi), where
            assert member.within_tolerance, (where, member.cost_ratio)


@pytest.mark.parametrize("name", list_spaces())
def test_the_realised_cost_is_the_counted_cost(name: str) -> None:
    space = load_space(name)
    member = space.realize(1, space.scaling.defaults)
    assert member.macs == count_cost(member.spec).macs  # the linear-in-depth shortcut is exact
    assert space.realize(0).spec == space.member(0) and space.realize(0).cost_ratio == 1.0


def test_plain_rounding_breaks_the_promise_that_realisation_keeps() -> None:
    space = load_space("cmt_compound")
    s = space.scaling
    corners = [(1.5, 1.05), (1.0, 1.32)]  # the measured extremes at φ = 1
    naive, realised = [], []
    for alpha, beta in corners:
        c = Coefficients(alpha, beta, s.constraint.solve_gamma(alpha, beta))
        naive.append(
            naive_member(
                space.base, alpha, beta, c.gamma, 1, s.constraint.target, s.tolerance
            ).cost_ratio
        )
        realised.append(space.realize(1, c).cost_ratio)
    assert max(naive) / min(naive) > 1.3  # plain rounding: cost, not shape, differs
    assert all(abs(r - 1) <= s.tolerance for r in realised)


def test_effective_coefficients_describe_the_realised_shape() -> None:
    space = load_space("cvt_compound")
    member = space.realize(2, space.scaling.defaults)
    alpha, beta, gamma = member.effective
    assert member.spec.resolution == pytest.approx(space.base.resolution * gamma**2)
    depth_ratio = [m.depth / b.depth for m, b in zip(member.spec.stages, space.base.stages)]
    product = 1.0
    for ratio in depth_ratio:
        product *= ratio
    assert alpha**2 == pytest.approx(product ** (1 / len(depth_ratio)))
    assert 0.8 < beta < 1.5
