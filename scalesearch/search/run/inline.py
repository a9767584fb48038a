"""An executor without Ray: a phase's trials trained one after another in this process.

For a handful of trainings (`scalesearch retrain`), where starting Ray costs more than its
second slot gives back, and wherever one process is all there is. It drives the same
`SearchDriver` as Tune does (suggest, each epoch's result, the outcome), so a trial is
recorded, stopped early and ended exactly as on Ray.
"""

from __future__ import annotations

import contextlib
import itertools
import time
from collections.abc import Iterator

from scalesearch.search.config import RunConfig
from scalesearch.search.run.asking import Ask
from scalesearch.search.run.driver import SearchDriver, Step
from scalesearch.search.run.trainable import TrialConfig, run_trial

NODE = "inline"


class InlineExecutor:
    """Trains each trial the driver serves in this process, in turn."""

    @contextlib.contextmanager
    def session(self, config: RunConfig) -> Iterator[None]:
        yield

    def run_phases(self, driver: SearchDriver, steps: Iterator[Step], data) -> None:
        """Each step's phase in turn (`pipeline.Executor`)."""
        for step in steps:
            self._run_phase(driver, step, data)

    def _run_phase(self, driver: SearchDriver, step: Step, data) -> None:
        """Trains what the step serves until the driver says the phase is done (one at a
        time: no slot is left idle for a filler); trials left running by an interrupt end
        FAIL (a resume trains them again)."""
        try:
            for n in itertools.count():
                trial_id = f"{driver.phase.value}-{n}"
                config = driver.suggest(trial_id, step.source)
                if config is Ask.DONE:
                    return
                if config is Ask.LATER:  # another driver's trials train: wait for them
                    time.sleep(0.5)
                    continue
                _train(driver, trial_id, config, data)
        finally:
            driver.fail_live("the run was interrupted")


def _train(driver: SearchDriver, trial_id: str, config: TrialConfig, data) -> None:
    stopped = False

    def report(result: dict) -> None:
        nonlocal stopped
        stopped = driver.on_result(trial_id, result) or stopped

    run_trial(config, report, NODE, data, lambda: stopped)
