"""A run's phases in order, without Ray: search, race, family; and the ablation.

`run_search` checks every input before a study is touched (`lifecycle.check_run`), opens the
run's studies, then runs each phase as a source of trials that an executor trains: Ray Tune
by default (`scalesearch.search.run.tune.TuneExecutor`, imported only when a run starts). Each
phase writes to its own study (`scalesearch.search.store.studies`), and the run ends with its two
frontiers and the scaling verdict.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Protocol

from scalesearch.errors import SearchFailed, Unwritable, write_fault
from scalesearch.search.config import RunConfig
from scalesearch.search.phases.ablation import AblationMembers
from scalesearch.search.phases.family import early_check_units, family_phase
from scalesearch.search.phases.race import RaceRounds, race_result, race_words
from scalesearch.search.phases.units import PlannedUnits, UnitSource
from scalesearch.search.results.ablation_table import AblationCell, ablation_table
from scalesearch.search.results.frontier import (
    FrontierPoint,
    family_frontier,
    frontier_hypervolume,
    search_frontier,
)
from scalesearch.search.run import lifecycle
from scalesearch.search.run.driver import SearchDriver, Step
from scalesearch.search.run.heartbeat import Heartbeat
from scalesearch.search.run.lifecycle import Preflight
from scalesearch.search.run.quiet_latency import time_quietly
from scalesearch.search.store import run_attributes, storage
from scalesearch.search.store.schema import Phase
from scalesearch.search.store.studies import RunStudies


class Executor(Protocol):
    """Trains a run's phases, one after another: asks the driver for each phase's trials,
    reports their epochs and outcomes, and takes the next phase's step once the driver says
    a phase is done (the steps are made as they are taken: a phase is planned on what the
    phases before it found)."""

    def session(self, config: RunConfig) -> contextlib.AbstractContextManager: ...

    def run_phases(self, driver: SearchDriver, steps: Iterator[Step], data) -> None: ...


@dataclass
class SearchResult:
    study_name: str
    storage: str
    search_frontier: list[FrontierPoint]
    search_hypervolume: float
    family_frontier: list[FrontierPoint]
    family_hypervolume: float
    counts: dict[str, int]
    seconds: float


def run_search(
    config: RunConfig, log: Callable[[str], None] = print, executor: Executor | None = None
) -> SearchResult:
    """Runs (or resumes, or joins) the coefficient search, then its replicates and the
    family. The run's studies are the source of truth: finished trials count toward the
    budget and are never repeated; trials of a driver that died end FAIL (heartbeat).

    Example:
        >>> space = load_space("cmt_compound")
        >>> config = config_from_flags(space, Path("runs/x"), storage=default_storage(
        ...     Path("runs/x")), study_name="x", trials=4)
        >>> result = run_search(config)  # doctest: +SKIP
        >>> [(p.phi, p.accuracy) for p in result.family_frontier]  # doctest: +SKIP
    """
    preflight = lifecycle.check_run(config)
    executor = executor or _tune_executor()
    with _writes_refused(config):
        with executor.session(config):
            run, driver_name = _open(config, preflight, log)
            config = lifecycle.with_study_objectives(config, run.search)
            with _driver(config, run, preflight, driver_name, log) as driver:
                _search_phases(driver, run, executor, preflight, log)
        time_quietly(run, config.space.search, log)  # the trainings and Ray have ended
    front, family = search_frontier(run), family_frontier(run)
    return SearchResult(
        config.study_name,
        config.storage,
        front,
        frontier_hypervolume(run, front),
        family,
        frontier_hypervolume(run, family),
        run.counts(),
        time.monotonic() - driver.health.started,
    )


def run_ablation(
    config: RunConfig,
    phis: tuple[float, ...],
    seeds: int,
    log: Callable[[str], None] = print,
    executor: Executor | None = None,
) -> list[AblationCell]:
    """Trains the ablation of an existing run (`config.resume`): every strategy × φ × seed
    not yet trained, under the family's settings, in the run's ablation study."""
    plans: list[AblationMembers] = []

    def plan(run: RunStudies, driver: str) -> AblationMembers:
        plans.append(AblationMembers(run, config, driver, phis, seeds, log))
        return plans[0]

    run = run_units(config, Phase.ABLATION, plan, log, executor)
    return ablation_table(run, plans[0].source.number)


def run_units(
    config: RunConfig,
    phase: Phase,
    plan: Callable[[RunStudies, str], UnitSource],
    log: Callable[[str], None] = print,
    executor: Executor | None = None,
) -> RunStudies:
    """Trains the units `plan` makes (from the run's studies and this driver's name) in an
    existing run (`config.resume`): the ablation's, more seeds of chosen trials. Returns the
    run's studies."""
    preflight = lifecycle.check_run(config)
    executor = executor or _tune_executor()
    with _writes_refused(config):
        with executor.session(config):
            run, driver_name = _open(config, preflight, log)
            units = plan(run, driver_name)
            with _driver(config, run, preflight, driver_name, log) as driver:
                driver.start_phase(phase)
                if units.remaining():
                    executor.run_phases(driver, iter([Step(units)]), _shared(config, preflight))
                else:
                    log(f"[{phase.value}] every training asked for is done already")
        time_quietly(run, config.space.search, log)  # the trainings and Ray have ended
    return run


def _search_phases(
    driver: SearchDriver,
    run: RunStudies,
    executor: Executor,
    preflight: Preflight,
    log: Callable[[str], None],
) -> None:
    """The search, the race and the family, in one executor run: on Ray, one Tune run whose
    workers the phases share (a Tune run a phase started every worker again, ≈ 4.5 s a slot
    on a 2-core machine, at every phase)."""
    steps = _SearchSteps(driver, run, log)
    executor.run_phases(driver, iter(steps), _shared(driver.config, preflight))
    steps.record_noise()  # a race the run's time ended: where it ended


class _SearchSteps:
    """The run's phases as steps, each planned when the one before it is done."""

    def __init__(self, driver: SearchDriver, run: RunStudies, log: Callable[[str], None]):
        self.driver, self.run, self.log = driver, run, log
        self.race_unrecorded = False

    def __iter__(self) -> Iterator[Step]:
        driver, config = self.driver, self.driver.config
        yield Step(self.run.search.ask, early_stopping=True)
        if config.space.search.race.trainings > 0 and driver.health.healthy():
            driver.start_phase(Phase.REPLICATE)
            self.race_unrecorded = True
            # A slot the race's rounds leave idle trains the family's check of the defaults.
            checks = early_check_units(config)
            fill = PlannedUnits(self.run, config.storage, driver.ledger.driver, checks)
            rounds = RaceRounds(self.run, config, driver.ledger.driver, self.log)
            yield Step(rounds, fill=fill if checks else None)
            self.record_noise()
        if config.family and driver.health.healthy():
            driver.start_phase(Phase.FAMILY)
            yield Step(family_phase(self.run, config, driver.ledger.driver, self.log))

    def record_noise(self) -> None:
        """Stores the race's measured noise and says where it ended, once the race is over."""
        if self.race_unrecorded:
            self.race_unrecorded = False
            _record_noise(self.run, self.driver.config, self.log)


@contextlib.contextmanager
def _driver(
    config: RunConfig,
    run: RunStudies,
    preflight: Preflight,
    name: str,
    log: Callable[[str], None],
) -> Iterator[SearchDriver]:
    """The driver with its heartbeat; raises SearchFailed when its trials kept failing."""
    with Heartbeat(run.search) as heartbeat:
        driver = SearchDriver(config, run, heartbeat, preflight.num_classes, name, log)
        yield driver
    if driver.health.failing():
        raise SearchFailed(
            f"stopped after {driver.health.failures_in_a_row} trials failed in a row; the "
            f"last: {driver.health.last_error}"
        )


@contextlib.contextmanager
def _writes_refused(config: RunConfig) -> Iterator[None]:
    """A write the disk refuses (full, read-only, not ours), wherever in the run it happens
    (the study's SQLite file, the run folder, inside Ray Tune), becomes one line naming the
    place and the cause: finished trials are kept, and a resume goes on once there is room."""
    try:
        yield
    except Exception as err:
        cause = write_fault(err)
        if cause is None:
            raise
        where = getattr(err, "filename", None) or storage.sqlite_path(config.storage)
        raise Unwritable(
            f"{where or config.run_dir}: {cause}; finished trials are kept: make room (or "
            f"make it writable), then run the same command with --resume"
        ) from None


def _open(
    config: RunConfig, preflight: Preflight, log: Callable[[str], None]
) -> tuple[RunStudies, str]:
    """The run's studies, opened, with the trials of dead drivers ended; this driver's name."""
    driver_name = lifecycle.driver_id()
    run = lifecycle.open_study(config, driver_name, preflight.warm)
    stale = sum(storage.fail_stale_trials(s) for s in run.studies())
    if stale:
        log(f"marked {stale} trial(s) of a stopped driver as failed")
    return run, driver_name


def _shared(config: RunConfig, preflight: Preflight):
    """The dataset every trial of this run reads, where it does not depend on the member's
    input size (image folders and synthetic data are decoded at it, so each worker loads
    them itself)."""
    from scalesearch.search.run.trainable import SHAREABLE

    return preflight.data if config.proxy.dataset in SHAREABLE else None


def _record_noise(run: RunStudies, config: RunConfig, log: Callable[[str], None]) -> None:
    """Stores the measured seed noise in the study and says where the race ended."""
    result = race_result(run, config.space)
    if result is None:
        return
    if result.state.noise.measured:
        run_attributes.store_seed_noise(run.search, result.state.noise.sd)
    log(f"[race] done: {race_words(result)}")


def _tune_executor() -> Executor:
    from scalesearch.search.run.tune import TuneExecutor

    return TuneExecutor()
