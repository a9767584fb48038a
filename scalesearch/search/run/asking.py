"""When the driver may ask the next trial, and when it should stop asking.

Two small pieces of the driver's state, each with one rule:

- `AskGate`: how search trials are asked. `rolling` (the default): trial n as soon as a slot
  frees and every trial before the last batch_size trained ones has ended; it is sampled and
  ranked at its rungs on exactly those (`lagged_sampler`), so the same seed gives the same
  sequence and no slot waits for a batch's slowest trial. `batch`: a batch at a time,
  the next only once every trial of the last is told (same sequence; slots wait). `free`:
  as soon as a slot frees, on whatever has ended (no slot waits; the sequence varies).
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
class AskGate:
    """When the next search trial may be asked (`mode`: rolling, batch or free) and which
    earlier trials rank it at its rungs."""

    batch_size: int
    mode: str
    batch_start: int  # batch: trials numbered below it rank a new one (a resumed study's too)
    asked_in_batch: int = 0

    def is_open(self, live: int, running: int, study: Callable[[], Settled]) -> bool:
        """Whether a trial may be asked now; `live`: this driver's running trials, `running`:
        the study's; `study` is read only where the mode needs it."""
        if self.mode != "batch":
            if live >= self.batch_size:
                return False
            return self.mode == "free" or study().ready
        if self.asked_in_batch < self.batch_size:
            return True
        if running:
            return False
        self.asked_in_batch = 0
        self.batch_start = study().next_number
        return True

    def asked(self) -> None:
        """A trial that trains was asked (a trial told at once fills no slot)."""
        self.asked_in_batch += 1

    def ranked_after(self, number: int, settled: Callable[[], int]) -> int:
        """Trials numbered below this rank trial `number` at its rungs: those of earlier
        batches (batch), those below `settled()` (rolling: all ended when it was asked), or
        those told before it was asked (free)."""
        if self.mode == "rolling":
            return settled()
        return number if self.mode == "free" else self.batch_start

    def restart(self) -> None:
        self.asked_in_batch = 0


@dataclass(frozen=True)
class Settled:
    """Where a study's asks stand: the number the next ask gets, and whether every trial it
    would see under rolling asks has ended."""

    next_number: int
    ready: bool


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
