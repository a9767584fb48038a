"""What a proxy trial reports, and the pure rule that turns it into an Optuna state.

The trainable (on a Ray worker) sends a `ProxyOutcome` as its final result; the driver
decides the trial's state with `decide`, which knows nothing of Ray or of the study, so
every branch is tested on plain values.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from optuna.trial import TrialState

COMPLETED = "completed"
STOPPED = "stopped"  # ended itself at an epoch's end because the driver stopped it early
CRASHED_REASON = "the trial's process failed (see the Ray logs in the run folder)"


@dataclass(frozen=True)
class ProxyOutcome:
    """The final result of one proxy trial, as the trainable reports it.

    Attributes:
        status: "completed", "stopped", "diverged" (from train_proxy) or "error" (raised).
        reason: why it did not complete (the exception's message for "error").
        val_accuracies: validation accuracy after each epoch.
        val_accuracy: the last epoch's (0.0 if none).
        val_images: the images it was measured on (its binomial error follows).
        train_loss_sum, images_per_second, train_seconds: what the training measured.
        node_id: the Ray node that ran it.
        latency_ms, latency_batch_ms, latency_batch, latency_device: inference latency at
            batch 1 and at `latency_batch`, and the device it was measured on.
    """

    status: str
    reason: str | None = None
    val_accuracies: list[float] = field(default_factory=list)
    val_accuracy: float = 0.0
    val_images: int = 0
    train_loss_sum: float = 0.0
    images_per_second: float = 0.0
    train_seconds: float = 0.0
    node_id: str | None = None
    latency_ms: float | None = None
    latency_batch_ms: float | None = None
    latency_batch: int | None = None
    latency_device: str | None = None
    precision: str | None = None  # what it trained in
    images_seen: int | None = None  # training images stepped through, repeats included

    def to_report(self) -> dict[str, Any]:
        """The dict Tune carries; `final` marks it apart from the per-epoch reports and
        `epoch` and `val_accuracy` are there because Tune's scheduler reads them."""
        return {"final": True, "epoch": len(self.val_accuracies), **dataclasses.asdict(self)}

    @classmethod
    def from_result(cls, result: Any, node_id: str | None) -> ProxyOutcome:
        """The outcome of a finished `train_proxy` (a `ProxyResult`), as its node saw it."""
        latency = result.latency
        return cls(
            status=result.status,
            reason=result.reason,
            val_accuracies=result.val_accuracies,
            val_accuracy=result.val_accuracy,
            val_images=result.val_images,
            train_loss_sum=result.train_loss_sum,
            images_per_second=result.images_per_second,
            train_seconds=result.seconds,
            node_id=node_id,
            latency_ms=None if latency is None else latency.ms_batch1,
            latency_batch_ms=None if latency is None else latency.ms_batch,
            latency_batch=None if latency is None else latency.batch,
            latency_device=None if latency is None else latency.device,
            precision=result.precision,
            images_seen=result.images_seen,
        )

    @classmethod
    def from_report(cls, report: dict[str, Any]) -> ProxyOutcome | None:
        """The outcome in a Tune result, or None for a per-epoch result (not final)."""
        if not report.get("final"):
            return None
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in report.items() if k in names})


@dataclass(frozen=True)
class Verdict:
    """How a trial ends in the study.

    Attributes:
        state: COMPLETE (on the frontier), PRUNED (counts toward the budget, never on the
            frontier) or FAIL (retried by a resumed search).
        accuracy: the objective value, for COMPLETE only.
        reason: why it was pruned or failed.
        failure: counts toward the failures-in-a-row that stop a broken search; an
            interruption or the time budget does not.
    """

    state: TrialState
    accuracy: float | None = None
    reason: str | None = None
    failure: bool = False


def decide(
    outcome: ProxyOutcome | None,
    epochs_reported: int,
    crashed: bool = False,
    early_stopped: str | None = None,
    out_of_time: bool = False,
) -> Verdict:
    """The state of a trial Tune reports finished.

    Args:
        outcome: its final result ("stopped" when it ended itself on the driver's early
            stop), or None when Tune stopped it before one was sent.
        epochs_reported: epochs it reported before it ended.
        crashed: Tune says the trial's process raised (the trainable never raises itself,
            so this is a dead worker).
        early_stopped: the rung rule that stopped it ("ASHA", or MOASHA and its costs).
        out_of_time: the search's time budget had run out when it ended.
    """
    if crashed:
        return Verdict(TrialState.FAIL, reason=CRASHED_REASON, failure=True)
    if outcome is not None and outcome.status == COMPLETED:
        return Verdict(TrialState.COMPLETE, accuracy=outcome.val_accuracy)
    if outcome is not None and not (early_stopped and outcome.status == STOPPED):
        return Verdict(TrialState.FAIL, reason=outcome.reason or outcome.status, failure=True)
    if early_stopped:
        return Verdict(
            TrialState.PRUNED,
            reason=f"stopped early by {early_stopped} after {epochs_reported} epoch(s)",
        )
    why = "the time budget ran out" if out_of_time else "the search was interrupted"
    return Verdict(TrialState.FAIL, reason=f"stopped before the end: {why}")


def rung_stop(
    accuracy: float, earlier: list[float], reduction_factor: int = 2, min_results: int = 4
) -> bool:
    """ASHA's rung rule on a fixed history: stop unless `accuracy` is in the top
    1/reduction_factor of `earlier` results at the same epoch. With fewer than `min_results`
    earlier results nothing is stopped (too little to rank against)."""
    if len(earlier) < min_results:
        return False
    ranked = sorted(earlier, reverse=True)
    keep = max(1, len(ranked) // reduction_factor)
    return accuracy < ranked[keep - 1]


def pareto_rung_stop(
    point: tuple[float, ...],
    earlier: list[tuple[float, ...]],
    reduction_factor: int = 2,
    min_results: int = 4,
) -> bool:
    """MOASHA's rung rule (Schmucker et al., 2021) on a fixed history: results are
    (accuracy, cost, ...) with accuracy maximised and costs minimised. The rung keeps the
    best 1/reduction_factor of its results by non-dominated sorting (fronts in order, the
    last front taken by crowding distance, as NSGA-II); a result on the first front — no
    earlier result is at least as accurate and as cheap, and better in one — is never
    stopped. Accuracy alone would stop the cheap trials first, the very points that make
    the low end of an accuracy–cost frontier."""
    if len(earlier) < min_results:
        return False
    everyone = [point, *earlier]
    fronts = non_dominated_fronts(everyone)
    if 0 in fronts[0]:
        return False
    keep = max(1, len(earlier) // reduction_factor)
    kept: list[int] = []
    for front in fronts:
        if len(kept) + len(front) <= keep:
            kept.extend(front)
            continue
        by_crowding = sorted(front, key=lambda i: -_crowding(everyone, front)[i])
        kept.extend(by_crowding[: keep - len(kept)])
        break
    return 0 not in kept


def dominates(a: tuple[float, ...], b: tuple[float, ...]) -> bool:
    """a is at least as good as b everywhere and better somewhere (accuracy first, up;
    costs after, down)."""
    signed_a, signed_b = (a[0], *(-x for x in a[1:])), (b[0], *(-x for x in b[1:]))
    return all(x >= y for x, y in zip(signed_a, signed_b)) and signed_a != signed_b


def non_dominated_fronts(points: list[tuple[float, ...]]) -> list[list[int]]:
    """Indices of `points` by front: the first front dominated by none, the next dominated
    only by the first, and so on."""
    left, fronts = set(range(len(points))), []
    while left:
        front = sorted(i for i in left if not any(dominates(points[j], points[i]) for j in left))
        fronts.append(front)
        left -= set(front)
    return fronts


def _crowding(points: list[tuple[float, ...]], front: list[int]) -> dict[int, float]:
    """NSGA-II's crowding distance within a front: the ends of each objective are infinite."""
    distance = dict.fromkeys(front, 0.0)
    for k in range(len(points[front[0]])):
        ordered = sorted(front, key=lambda i: points[i][k])
        span = points[ordered[-1]][k] - points[ordered[0]][k]
        distance[ordered[0]] = distance[ordered[-1]] = float("inf")
        if span == 0:
            continue
        for left, mid, right in zip(ordered, ordered[1:], ordered[2:]):
            distance[mid] += (points[right][k] - points[left][k]) / span
    return distance
