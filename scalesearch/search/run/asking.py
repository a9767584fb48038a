"""When the driver may ask the next trial, and when it should stop asking.

Small pieces of the driver's state, each with one rule (how trials are asked is the ask
policy's, `ask_policy`):

- `Poll`: how often a waiting driver reads the study, and looks for dead drivers' trials.
- `Health`: the phase ends when the time budget is spent, when trials keep failing (the
  space or the data is broken), or when asks keep finding architectures already trained.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum

MAX_FAILURES_IN_A_ROW = 3
MAX_DUPLICATES_IN_A_ROW = 25  # asks that only find trained architectures: the space is spent


class Ask(Enum):
    """What `SearchDriver.suggest` answers when it has no trial to give."""

    LATER = "later"  # nothing now: Tune asks again soon
    DONE = "done"  # this phase has nothing more to run


@dataclass
class Poll:
    """When a waiting driver reads the study again (not more than once a `interval_s`), and
    when it ends the trials of drivers that died (once a heartbeat interval)."""

    interval_s: float
    stale_every_s: float
    waiting_since: float = -1.0
    stale_checked: float = field(default_factory=time.monotonic)

    def too_soon(self) -> bool:
        return time.monotonic() - self.waiting_since < self.interval_s

    def freed(self) -> None:
        """A slot freed: the next ask reads the study at once."""
        self.waiting_since = -1.0

    def waiting(self) -> bool:
        """Notes that the driver waits; True when it is time to look for stale trials."""
        now = self.waiting_since = time.monotonic()
        if now - self.stale_checked <= self.stale_every_s:
            return False
        self.stale_checked = now
        return True


@dataclass
class Health:
    """The phase's clock and its two reasons to stop early (failures, spent space)."""

    time_budget_s: float | None
    log: Callable[[str], None]
    started: float = field(default_factory=time.monotonic)
    failures_in_a_row: int = 0
    duplicates_in_a_row: int = 0
    last_error: str = ""

    def out_of_time(self) -> bool:
        budget = self.time_budget_s
        return budget is not None and self.elapsed() > budget

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def seconds_left(self) -> float | None:
        if self.time_budget_s is None:
            return None
        return max(0.0, self.time_budget_s - self.elapsed())

    def failing(self) -> bool:
        return self.failures_in_a_row >= MAX_FAILURES_IN_A_ROW

    def healthy(self) -> bool:
        """Time left and trials not failing: the next phase may start."""
        return not self.out_of_time() and not self.failing()

    def failed(self, error: str) -> None:
        self.failures_in_a_row += 1
        self.last_error = error

    def succeeded(self) -> None:
        self.failures_in_a_row = 0

    def duplicate(self) -> None:
        self.duplicates_in_a_row += 1

    def trained(self) -> None:
        self.duplicates_in_a_row = 0

    def spent(self, phase: str) -> bool:
        """The last asks all found trained architectures: the space has no more at this φ."""
        if self.duplicates_in_a_row < MAX_DUPLICATES_IN_A_ROW:
            return False
        if self.duplicates_in_a_row == MAX_DUPLICATES_IN_A_ROW:
            self.duplicates_in_a_row += 1  # say it once
            self.log(
                f"[{phase}] the last {MAX_DUPLICATES_IN_A_ROW} asks all found architectures "
                f"already trained: this space has few distinct members at this φ, so the "
                f"phase ends here"
            )
        return True
