"""Racing decisions on synthetic outcomes, without Ray: who is ruled out, who contends, when
the race is separated, and which trainings the next round asks for."""

from __future__ import annotations

import math

import pytest

from scalesearch.search.results.racing import (
    FIRST_ROUND,
    PRIOR_DOF,
    Candidate,
    Noise,
    difference,
    estimate_noise,
    next_round,
    race_state,
)

MEASURED = Noise(sd=0.01, rho=0.0, measured=True)


def _c(key: str, *accuracies: float, costs=(), default=False) -> Candidate:
    return Candidate(key, dict(enumerate(accuracies)), tuple(costs), default)


def test_the_noise_is_pooled_over_replicated_candidates_and_their_shared_seeds() -> None:
    # Both candidates move together from seed to seed: the data's share of the noise. Two
    # degrees of freedom of perfectly paired differences against the prior's six of none:
    # s_d² = (0 + 6·2σ²)/(2 + 6), so ρ = 1 − 6/8.
    a, b = _c("a", 0.80, 0.84, 0.82), _c("b", 0.70, 0.74, 0.72)
    noise = estimate_noise([a, b, _c("c", 0.9)], prior_sd=0.05)
    assert noise.measured and noise.sd == pytest.approx(0.02)
    assert noise.rho == pytest.approx(1 - PRIOR_DOF / (2 + PRIOR_DOF))
    # Ten pairs of four shared seeds moving together: 30 degrees of freedom outweigh six.
    many = [_c(f"m{i}", *(0.7 + i / 100 + d for d in (0.0, 0.04, 0.02, 0.03))) for i in range(5)]
    assert estimate_noise(many, prior_sd=0.05).rho == pytest.approx(
        1 - PRIOR_DOF / (30 + PRIOR_DOF)
    )
    # Independent seeds (shuffled deviations): no pairing gain.
    loose = [_c("p", 0.80, 0.84, 0.82, 0.80), _c("q", 0.74, 0.70, 0.72, 0.74)]
    assert estimate_noise(loose, prior_sd=0.05).rho == 0.0
    assert estimate_noise([_c("x", 0.8)], prior_sd=0.05) == Noise(0.05, 0.0, False)


def test_a_paired_difference_is_tighter_than_an_unpaired_one() -> None:
    a, b = _c("a", 0.80, 0.84), _c("b", 0.78, 0.80)
    noise = Noise(0.02, 0.75, True)
    paired = difference(a, b, noise)
    assert paired.paired == 2 and paired.mean == pytest.approx(0.03)
    assert paired.se == pytest.approx(0.02 * math.sqrt(2 * 0.25 / 2))
    unpaired = difference(a, Candidate("c", {5: 0.79, 6: 0.79}), noise)
    assert unpaired.paired == 0 and unpaired.se == pytest.approx(0.02)


def test_a_candidate_beaten_beyond_the_noise_is_ruled_out_and_the_rest_contend() -> None:
    leader, close, far = _c("l", 0.90, 0.91), _c("c", 0.895, 0.90), _c("f", 0.80, 0.81)
    state = race_state([far, close, leader], MEASURED)
    assert state.leader is leader and [c.key for c in state.contenders] == ["l", "c"]
    assert state.ruled_out == {"f": "l"} and not state.separated


def test_the_race_is_separated_when_the_leader_alone_is_left() -> None:
    state = race_state([_c("l", 0.90, 0.91), _c("f", 0.80, 0.81)], MEASURED)
    assert state.separated and [c.key for c in state.contenders] == ["l"]


def test_on_two_objectives_a_cheaper_less_accurate_candidate_is_not_ruled_out() -> None:
    """Accuracy against sequential layers: the cheap one stays on the frontier."""
    accurate = _c("acc", 0.90, 0.91, costs=(120,))
    cheap = _c("cheap", 0.85, 0.86, costs=(90,))
    dominated = _c("dom", 0.84, 0.85, costs=(130,))
    state = race_state([accurate, cheap, dominated], MEASURED)
    assert state.ruled_out == {"dom": "acc"}
    assert {c.key for c in state.contenders} == {"acc", "cheap"}
    assert state.separated  # the costlier one buys accuracy beyond the noise


def test_nothing_is_ruled_out_on_the_prior_alone() -> None:
    state = race_state([_c("l", 0.95), _c("f", 0.50)], Noise(0.01, 0.0, False))
    assert not state.ruled_out and not state.separated


def test_a_round_gives_the_same_next_seed_to_the_leader_defaults_and_closest_first() -> None:
    leader, default = _c("l", 0.90), _c("d", 0.85, default=True)
    near, far = _c("n", 0.89), _c("f", 0.70)
    state = race_state([far, near, default, leader], Noise(0.02, 0.0, False))
    wanted = next_round(state, seeds=[0, 1, 2, 3], min_seeds=2, max_seeds=4, budget=3)
    assert [(c.key, seed) for c, seed in wanted] == [("l", 1), ("d", 1), ("n", 1)]


def test_a_separated_race_still_gives_the_minimum_seeds_and_never_past_the_maximum() -> None:
    state = race_state([_c("l", 0.90, 0.91), _c("f", 0.80, 0.81), _c("x", 0.5)], MEASURED)
    assert state.separated
    assert next_round(state, [0, 1, 2], min_seeds=2, max_seeds=4, budget=5) == []
    assert [(c.key, s) for c, s in next_round(state, [0, 1, 2], 3, 4, 5)] == [("l", 2)]
    unseparated = race_state([_c("a", 0.9, 0.91, 0.9), _c("b", 0.9, 0.91, 0.9)], MEASURED)
    assert next_round(unseparated, [0, 1, 2], min_seeds=2, max_seeds=3, budget=5) == []


def test_until_the_noise_is_measured_a_round_is_small() -> None:
    cands = [_c("l", 0.9), _c("d", 0.8, default=True)] + [
        _c(f"x{i}", 0.85 - i / 100) for i in range(8)
    ]
    state = race_state(cands, Noise(0.02, 0.0, False))
    wanted = next_round(state, seeds=[0, 1], min_seeds=2, max_seeds=2, budget=10)
    assert len(wanted) == FIRST_ROUND and [c.key for c, _ in wanted[:2]] == ["l", "d"]


def test_the_leader_and_the_defaults_take_the_seeds_until_their_difference_is_decided() -> None:
    noise = Noise(sd=0.03, rho=0.0, measured=True)
    leader, default = _c("l", 0.90, 0.88), _c("d", 0.86, 0.87, default=True)
    near = _c("n", 0.885)
    state = race_state([near, default, leader], noise)
    assert not difference(leader, default, noise).beyond()  # +2.5 ± 3.0 points: undecided
    pair = next_round(state, seeds=[0, 1, 2, 3], min_seeds=2, max_seeds=4, budget=5)
    assert [(c.key, s) for c, s in pair] == [("l", 2), ("d", 2)]
    wide = next_round(state, [0, 1, 2, 3], 2, 4, 5, focus="wide")
    assert [(c.key, s) for c, s in wide] == [("l", 2), ("d", 2), ("n", 1)]
    decided = race_state([near, _c("d", 0.80, 0.79, default=True), leader], noise)
    assert [c.key for c, _ in next_round(decided, [0, 1, 2, 3], 2, 4, 5)] == ["l", "n"]
    ahead = race_state([near, default, _c("l", 0.90, 0.88, 0.89)], noise)
    behind = next_round(ahead, [0, 1, 2, 3], 2, 4, 5)  # only a seed both hold is paired
    assert [(c.key, s) for c, s in behind] == [("d", 2)]


def test_one_lucky_seed_does_not_lead_a_mean_of_several() -> None:
    lucky, steady = _c("lucky", 0.95), _c("steady", 0.91, 0.90, 0.92)
    noise = Noise(sd=0.03, rho=0.0, measured=True)
    state = race_state([lucky, steady, _c("d", 0.85, 0.86, default=True)], noise)
    assert state.leader.key == "steady" and state.contenders[0] is state.leader
    assert "lucky" in {c.key for c in state.contenders}  # still contends, still raced
    first = race_state([_c("a", 0.90), _c("b", 0.93)], Noise(0.02, 0.0, False))
    assert first.leader.key == "b"  # before any second seed: the best single one
