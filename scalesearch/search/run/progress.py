"""The driver's progress lines, from counts it keeps (the study is not scanned per line).

One line per trial told: what it measured (accuracy ± its binomial error, MACs, the search's
runtime cost or latency) or why it ended, then the phase's counts, the time, and the best
accuracy of the phase so far. The counts start from the study's as the phase begins (a
resumed or joined run's trials count) and grow with what this driver tells.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from optuna.trial import TrialState

from scalesearch.formatting import human
from scalesearch.search.costs import COSTS, varying
from scalesearch.search.store.schema import TrialRecord
from scalesearch.stats import binomial_se, format_accuracy


@dataclass
class Progress:
    """Counts of one phase: finished (complete or pruned) and failed trials, the best
    accuracy; `running` comes from the driver's live trials."""

    phase: str
    log: Callable[[str], None]
    costs: tuple[str, ...] = ("macs",)  # the phase's cost objectives, shown after MACs
    finished: int = 0
    failed: int = 0
    best: float | None = None

    def told(
        self,
        number: int,
        state: TrialState,
        record: TrialRecord,
        accuracy: float | None,
        reason: str | None,
        running: int,
        clock: str,
        label: str | None = None,
    ) -> None:
        """Counts a trial told and logs its line (`label`: the trial's own phase, where the
        phase serves another's units too)."""
        if state == TrialState.FAIL:
            self.failed += 1
        else:
            self.finished += 1
        # The best is the phase's own: another phase's unit trained under other settings.
        if accuracy is not None and label in (None, self.phase):
            self.best = accuracy if self.best is None else max(self.best, accuracy)
        what = reason if accuracy is None else _measured(record, accuracy, self.costs)
        best = "" if self.best is None else f" | best {self.best:.2%}"
        self.log(
            f"[{label or self.phase}] trial {number} {state.name.lower()}: {what} | {self.finished} "
            f"finished, {running} running, {self.failed} failed | {clock}{best}"
        )


def _measured(record: TrialRecord, accuracy: float, costs: tuple[str, ...]) -> str:
    se = binomial_se(accuracy, record.val_images)
    parts = [f"acc {format_accuracy(accuracy, se)} at {human(record.macs or 0, 'MACs')}"]
    for cost in varying(costs):  # MACs are said already
        value = getattr(record, COSTS[cost].field)
        if value is not None:
            parts.append(COSTS[cost].format(value))
    return ", ".join(parts)
