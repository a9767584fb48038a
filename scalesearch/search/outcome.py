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

    def to_report(self) -> dict[str, Any]:
        """The dict Tune carries; `final` marks it apart from the per-epoch reports and
        `epoch` and `val_accuracy` are there because Tune's scheduler reads them."""
        return {"final": True, "epoch": len(self.val_accuracies), **dataclasses.asdict(self)}

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
    early_stopped: bool = False,
    out_of_time: bool = False,
) -> Verdict:
    """The state of a trial Tune reports finished.

    Args:
        outcome: its final result, or None when Tune stopped it before one was sent.
        epochs_reported: epochs it reported before it ended.
        crashed: Tune says the trial's process raised (the trainable never raises itself,
            so this is a dead worker).
        early_stopped: the scheduler (ASHA) stopped it.
        out_of_time: the search's time budget had run out when it ended.
    """
    if crashed:
        return Verdict(TrialState.FAIL, reason=CRASHED_REASON, failure=True)
    if outcome is not None:
        if outcome.status == COMPLETED:
            return Verdict(TrialState.COMPLETE, accuracy=outcome.val_accuracy)
        return Verdict(TrialState.FAIL, reason=outcome.reason or outcome.status, failure=True)
    if early_stopped:
        return Verdict(
            TrialState.PRUNED, reason=f"stopped early by ASHA after {epochs_reported} epoch(s)"
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
