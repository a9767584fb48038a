"""What a proxy trial reports, the pure rule that turns it into an Optuna state, and the
fields of its record it fills.

The trainable (on a Ray worker) sends a `ProxyOutcome` as its final result; the driver
decides the trial's state with `decide`, which knows nothing of Ray or of the study, so
every branch is tested on plain values.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from optuna.trial import TrialState

from scalesearch.search.store.schema import TrialRecord

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


# What a trained trial's outcome measured, under the same names in its record: the fields the
# two share, less the epochs' accuracies and the node (the driver has them before the outcome).
MEASURED = tuple(
    f.name
    for f in dataclasses.fields(ProxyOutcome)
    if f.name in {g.name for g in dataclasses.fields(TrialRecord)}
    and f.name not in ("val_accuracies", "node_id")
)


def with_measured(record: TrialRecord, outcome: ProxyOutcome | None) -> TrialRecord:
    """`record` with what a trial's outcome measured (as it was for None)."""
    if outcome is None:
        return record
    return dataclasses.replace(record, **{n: getattr(outcome, n) for n in MEASURED})
