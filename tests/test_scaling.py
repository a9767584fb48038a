"""The rounding policy of compound scaling, table-driven."""

from __future__ import annotations

import pytest

from scalesearch.arch.presets import PRESETS
from scalesearch.arch.scaling import (
    Constraint,
    ConstraintError,
    resolution_multiple,
    round_depth,
    round_resolution,
    round_width,
    scale_spec,
)


@pytest.mark.parametrize(
    ("width", "heads", "expected"),
    [
        (32.0, 1, 32),
        (41.6, 1, 40),
        (54.08, 1, 56),
        (10.4, 1, 16),  # 8 would be > 10% short
        (36.0, 1, 40),
        (96.0, 3, 96),
        (100.0, 3, 96),
        (130.0, 6, 120),
        (124.8, 4, 128),
        (3.0, 1, 8),
        (1000.0, 16, 1008),
    ],
)
def test_round_width(width: float, heads: int, expected: int) -> None:
    rounded = round_width(width, heads)
    assert rounded == expected
    assert rounded % 8 == 0 and rounded % heads == 0
    assert rounded >= 0.9 * width


@pytest.mark.parametrize(
    ("depth", "expected"), [(1.0, 1), (1.2, 2), (2.4, 3), (6.000000000000001, 6), (0.3, 1)]
)
def test_round_depth(depth: float, expected: int) -> None:
    assert round_depth(depth) == expected


@pytest.mark.parametrize(
    ("resolution", "multiple", "expected"),
    [(55.2, 8, 56), (63.48, 8, 64), (36.8, 16, 32), (257.6, 32, 256), (3.0, 32, 32)],
)
def test_round_resolution(resolution: float, multiple: int, expected: int) -> None:
    assert round_resolution(resolution, multiple) == expected


def test_resolution_multiple_includes_reductions() -> None:
    # CMT: stride 32 overall, and k=8 keys at stride 4 need multiples of 32 as well.
    assert resolution_multiple(PRESETS["cmt-s"]) == 32
    assert resolution_multiple(PRESETS["cvt-13"]) == 16


@pytest.mark.parametrize("phi", [-2, -1, 0, 1, 2, 3, 4])
@pytest.mark.parametrize("name", ["cmt-ti", "cvt-13"])
def test_scaled_specs_keep_the_invariants(name: str, phi: float) -> None:
    base = PRESETS[name]
    spec = scale_spec(base, 1.2, 1.3, 1.15, phi)
    for stage, base_stage in zip(spec.stages, base.stages):
        assert stage.dim % 8 == 0 and stage.dim % stage.num_heads == 0
        assert stage.dim >= 0.9 * base_stage.dim * 1.3**phi
        assert stage.depth >= base_stage.depth * 1.2**phi - 1e-9
        assert stage.num_heads == base_stage.num_heads
    assert spec.resolution % resolution_multiple(base) == 0
    spec.geometry(spec.resolution)  # valid at its own resolution


def test_phi_zero_keeps_the_base_resolution_and_depths() -> None:
    spec = scale_spec(PRESETS["cmt-s"], 1.2, 1.3, 1.15, 0)
    assert spec.resolution == 224
    assert [s.depth for s in spec.stages] == [3, 3, 16, 3]


def test_constraint_solves_and_checks() -> None:
    cmt = Constraint(1.5, 2.5, 0.1)
    gamma = cmt.solve_gamma(1.2, 1.3)
    assert cmt.product(1.2, 1.3, gamma) == pytest.approx(2.5)
    cmt.check(1.2, 1.3, 1.15)  # 2.35: inside 10%
    with pytest.raises(ConstraintError, match=r"within 10% of 2.5, but got 3.920"):
        cmt.check(2.0, 1.3, 1.15)
