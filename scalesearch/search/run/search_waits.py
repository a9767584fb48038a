"""Why the driver may not ask a search trial now, and how it waits until it may.

The budget (the study's, which joining drivers add to), the ask policy (a free slot, and
under rolling asks every trial the next one would see ended), and a poll that reads the
study no more often than once a `Poll` interval; while it waits, the trials of drivers that
died are ended now and then (their heartbeats went stale).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from optuna.trial import FrozenTrial, TrialState

from scalesearch.search.run.ask_policy import AskPolicy, Asks
from scalesearch.search.run.asking import Ask, Poll
from scalesearch.search.store import storage
from scalesearch.search.store.schema import Phase
from scalesearch.search.store.studies import RunStudies


@dataclass
class SearchWaits:
    """The search phase's gate for one driver."""

    run: RunStudies
    budget: int  # this driver's default budget, where the study records none
    gate: AskPolicy
    poll: Poll
    log: Callable[[str], None]

    def why_not(self, live: int) -> Ask | None:
        """`Ask.LATER` or `Ask.DONE` where no search trial may be asked now (`live`: this
        driver's running trials), else None."""
        if self.poll.too_soon():
            return Ask.LATER  # Tune asks again soon; spare the database
        done, running, _ = self.run.phase_counts(Phase.SEARCH)
        budget = self.run.search_budget(self.budget)
        if done >= budget:
            return Ask.LATER if live else Ask.DONE
        if done + running >= budget or not self.gate.may_ask(live, running, self.asks):
            self.wait()  # running trials (this driver's or another's) may end it
            return Ask.LATER
        return None

    def may_ask_ahead(self) -> bool:
        """Whether the next search trial may be asked before a slot frees: within the budget
        (this driver's live trials count as running), and every trial it would see ended."""
        done, running, _ = self.run.phase_counts(Phase.SEARCH)
        return done + running < self.run.search_budget(self.budget) and self.asks().ready

    def beyond_budget(self, number: int) -> bool:
        """Whether the search trial just asked as `number` is beyond the study's budget.
        Drivers that wait for the same trials to end (rolling asks) ask at the same moment,
        and a count and the ask after it are not one step: two may both see the last place
        free. The lower number keeps it (numbers are the study's order of asks); the other
        is not trained."""
        return self.run.search_places_before(number) >= self.run.search_budget(self.budget)

    def asks(self) -> Asks:
        """Where the search study's asks stand (an enqueued trial keeps the number it got)."""
        trials = self.trials()
        waiting = [t.number for t in trials if t.state == TrialState.WAITING]
        next_number = min(waiting, default=len(trials))
        seen = self.gate.settled_below(trials, next_number)
        ready = not any(t.state == TrialState.RUNNING for t in trials if t.number < seen)
        return Asks(next_number, ready)

    def trials(self) -> list[FrozenTrial]:
        return self.run.search.get_trials(deepcopy=False)

    def wait(self) -> None:
        """Notes that this driver waits; ends trials whose driver died now and then."""
        if self.poll.waiting():
            stale = sum(storage.fail_stale_trials(s) for s in self.run.studies())
            if stale:
                self.log(f"marked {stale} trial(s) of a stopped driver as failed")
