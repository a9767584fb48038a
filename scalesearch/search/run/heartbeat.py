"""Heartbeats: while a driver lives, its running trials are marked alive in the study.

A driver that is killed stops beating; after the storage's grace period any driver (or a
resumed one) finds its trials stale and ends them FAIL, so they are retried instead of
staying RUNNING for ever.
"""

from __future__ import annotations

import contextlib
import threading
from types import TracebackType

import optuna

from scalesearch.search.store import optuna_private, storage


class Heartbeat:
    """A background thread that beats for the trials added to it, as a context manager.

    >>> with Heartbeat(study) as beat:
    ...     beat.add(trial_id)      # beats at once, then every half interval
    ...     beat.discard(trial_id)  # once the trial is told
    """

    def __init__(self, study: optuna.Study, interval_s: float = storage.HEARTBEAT_INTERVAL_S):
        self.study = study
        self.interval_s = interval_s
        self.trials: set[int] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="heartbeat")

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join(timeout=self.interval_s)

    def add(self, trial_id: int) -> None:
        """Beats at once: a trial that never beat is never found stale if this driver dies."""
        optuna_private.record_heartbeat(self.study, trial_id)
        self.trials.add(trial_id)

    def discard(self, trial_id: int) -> None:
        self.trials.discard(trial_id)

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s / 2):
            for trial_id in list(self.trials):
                # A missed beat is retried next round.
                with contextlib.suppress(Exception):
                    optuna_private.record_heartbeat(self.study, trial_id)
