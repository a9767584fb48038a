"""How search trials are asked, one class per `search.asks` mode, built once from the
settings: when a trial may be asked, which earlier trials rank it at its rungs, what its
sampler sees, and which earlier trials it counts as still training.

- `rolling` (the default): trial n as soon as a slot frees and every trial before the last
  `batch_size` trained ones has ended; it is sampled and ranked on exactly those
  (`lagged_sampler`), so the same seed gives the same sequence and no slot waits for a
  batch's slowest trial.
- `batch`: a batch at a time, the next only once every trial of the last is told (the same
  sequence; slots wait).
- `free`: as soon as a slot frees, on whatever has ended (no slot waits; the sequence
  varies with the load).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from optuna.samplers import BaseSampler
from optuna.trial import FrozenTrial

from scalesearch.search.run.lagged_sampler import LaggedSampler, Settled


@dataclass(frozen=True)
class Asks:
    """Where a study's asks stand: the number the next ask gets, and whether every trial it
    would see under rolling asks has ended."""

    next_number: int
    ready: bool


class AskPolicy:
    """The `free` mode, and what the others share: a slot per trial, ranked against what was
    told before it was asked, sampled on the study as it is."""

    mode = "free"
    asks_ahead = False  # the next trial may be asked before a slot frees (`prefetch`)

    def __init__(self, batch_size: int, batch_start: int = 0) -> None:
        self.batch_size = batch_size
        self.batch_start = batch_start  # batch: trials numbered below it rank a new one

    def may_ask(self, live: int, running: int, asks: Callable[[], Asks]) -> bool:
        """Whether a trial may be asked now; `live`: this driver's running trials, `running`:
        the study's; `asks` is read only where the mode needs it."""
        return live < self.batch_size

    def asked(self) -> None:
        """A trial that trains was asked (a trial told at once fills no slot)."""

    def restart(self) -> None:
        """A new phase begins."""

    def ranked_after(self, number: int, study: Callable[[], list[FrozenTrial]]) -> int:
        """Trials numbered below this rank trial `number` at its rungs."""
        return number

    def sampler(self, base: BaseSampler) -> BaseSampler:
        """What samples the search's trials."""
        return base

    def in_flight(self, trials: list[FrozenTrial], number: int, twin: int) -> bool:
        """Whether trial `number` must count an earlier twin as still training, whatever its
        state (it is among the trials `number` may not see yet)."""
        return False

    def settled_below(self, trials: list[FrozenTrial], number: int) -> int:
        """The trials below this number had ended when trial `number` was asked."""
        return number


class RollingAsks(AskPolicy):
    mode = "rolling"
    asks_ahead = True  # once the trial before it was asked, what it sees is fixed

    def __init__(self, batch_size: int, batch_start: int = 0) -> None:
        super().__init__(batch_size, batch_start)
        self.settled = Settled(batch_size)

    def may_ask(self, live: int, running: int, asks: Callable[[], Asks]) -> bool:
        return live < self.batch_size and asks().ready

    def ranked_after(self, number: int, study: Callable[[], list[FrozenTrial]]) -> int:
        return self.settled(study, number)

    def sampler(self, base: BaseSampler) -> BaseSampler:
        return LaggedSampler(base, self.settled)

    def in_flight(self, trials: list[FrozenTrial], number: int, twin: int) -> bool:
        return twin >= self.settled(lambda: trials, number)

    def settled_below(self, trials: list[FrozenTrial], number: int) -> int:
        return self.settled(lambda: trials, number)


class BatchAsks(AskPolicy):
    mode = "batch"

    def __init__(self, batch_size: int, batch_start: int = 0) -> None:
        super().__init__(batch_size, batch_start)
        self.asked_in_batch = 0

    def may_ask(self, live: int, running: int, asks: Callable[[], Asks]) -> bool:
        if self.asked_in_batch < self.batch_size:
            return True
        if running:
            return False
        self.asked_in_batch = 0
        self.batch_start = asks().next_number
        return True

    def asked(self) -> None:
        self.asked_in_batch += 1

    def restart(self) -> None:
        self.asked_in_batch = 0

    def ranked_after(self, number: int, study: Callable[[], list[FrozenTrial]]) -> int:
        return self.batch_start


POLICIES: dict[str, type[AskPolicy]] = {p.mode: p for p in (RollingAsks, BatchAsks, AskPolicy)}


def ask_policy(mode: str, batch_size: int, batch_start: int = 0) -> AskPolicy:
    """The policy of an ask mode ("rolling", "batch" or "free")."""
    return POLICIES[mode](batch_size, batch_start)


def search_sampler(mode: str, batch_size: int, base: BaseSampler) -> BaseSampler:
    """The sampler of a search whose trials are asked in `mode`."""
    return ask_policy(mode, batch_size).sampler(base)
