"""The next search trial, asked and built while the slots train.

Under rolling asks the trial after the one just handed out sees only trials that have ended
already (`lagged_sampler`), so it may be asked at once; what makes it trainable — equal-cost
rounding, its counts, a fifth of a second on a 2-core machine — then need not sit between a
tell and the next start. `Ahead` holds one such trial: asked and drawn on the driver's thread
(Optuna's sampler and every write to the study stay there), built on a worker thread (pure,
`trial_build.build_trial`), taken when a slot frees. Asking earlier changes nothing the trial
sees, so the sequence is the seed's as before.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

from optuna.trial import Trial

from scalesearch.search.run.trial_build import BuiltTrial


class Ahead:
    """At most one trial asked ahead, and its build."""

    def __init__(self) -> None:
        self._pool: ThreadPoolExecutor | None = None
        self._next: tuple[Trial, Future[BuiltTrial]] | None = None

    def pending(self) -> bool:
        return self._next is not None

    def start(self, trial: Trial, build: Callable[[], BuiltTrial]) -> None:
        """Builds `trial` beside the driver."""
        assert self._next is None, "one trial ahead at a time"
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="build-ahead")
        self._next = (trial, self._pool.submit(build))

    def take(self) -> tuple[Trial, BuiltTrial]:
        """The trial and what it trains (waits for its build; raises what the build raised)."""
        assert self._next is not None
        trial, built = self._next
        made = built.result()  # an interrupt here leaves it pending, for `drop`
        self._next = None
        return trial, made

    def drop(self) -> Trial | None:
        """The trial asked ahead, given up (the caller ends it), once its build is over."""
        if self._next is None:
            return None
        (trial, built), self._next = self._next, None
        with contextlib.suppress(Exception):
            built.result()
        return trial

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
