"""Latency timed where it means something: when the run's trainings have ended.

Timed inside a trial's slot, latency was noise: the other slot trained on the same cores (a
default run read 8.0–31.7 ms over 11 architectures, two with the same 119 sequential layers
10.0 and 31.7 ms; τ against layers 0.39, where a quiet timing gives 0.91). So a trial times
nothing unless latency is one of its search objectives (a tell needs the value then), and
once a command's trainings have ended and Ray is shut down (a run's phases, an ablation, a
retrain) the driver times every architecture of the run not timed yet: the networks
interleaved over `latency_passes` passes, each the median over its passes
(`arch.latency.time_interleaved`), one row each in the run's latency table. Timed at the end
of each phase instead, beside Ray's exiting workers, a default run's 11 networks spread 40%
from pass to pass (τ against layers 0.61).

A node that other work keeps busy cannot time quietly: when more than `latency_quiet_cpu` of
its CPUs stay in use while the driver waits (up to 20 s: the phase's workers take a few
seconds to exit), its architectures are recorded unmeasured, with the reason, instead of
timed into noise.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from optuna.trial import TrialState

from scalesearch.arch.equal_cost import count_runtime
from scalesearch.arch.latency import Timed, device_name, time_interleaved
from scalesearch.arch.model import HybridNet
from scalesearch.arch.spec import ArchSpec
from scalesearch.search.results.latencies import run_latencies
from scalesearch.search.settings import SearchSettings
from scalesearch.search.store import sql_tables
from scalesearch.search.store.schema import TrialRecord
from scalesearch.search.store.studies import RunStudies

CHUNK = 16  # networks held at once; a chunk's are interleaved
QUIET_PATIENCE_S = 20.0
PROC_STAT = Path("/proc/stat")


def time_quietly(
    run: RunStudies, settings: SearchSettings, log: Callable[[str], None] = print
) -> int:
    """Times the run's architectures not timed yet (see the module docstring); returns how
    many rows it wrote."""
    if settings.latency_passes == 0:
        return 0
    known = run_latencies(run.url, run.name)
    known = set(known.timed) | set(known.unmeasured)
    specs = {k: s for k, s in _run_specs(run).items() if k not in known}
    if not specs:
        return 0
    session, device = uuid.uuid4().hex[:12], device_name_here()
    busy = wait_for_quiet(settings.latency_quiet_cpu)
    if busy is not None and busy > settings.latency_quiet_cpu:
        why = f"the node was busy: {busy:.0%} of its CPUs in use by other work"
        rows = [_row(run.name, k, session, device, None, None, why) for k in specs]
        sql_tables.save_latencies(run.url, rows)
        log(f"[latency] {len(specs)} architectures left unmeasured: {why}")
        return len(rows)
    started, rows = time.monotonic(), []
    keys = list(specs)
    for start in range(0, len(keys), CHUNK):
        chunk = {k: (HybridNet(specs[k]), specs[k].resolution) for k in keys[start : start + CHUNK]}
        timed = time_interleaved(chunk, settings.latency_batch, settings.latency_passes)
        rows += [
            _row(run.name, k, session, device, t, count_runtime(specs[k]).layers)
            for k, t in timed.items()
        ]
    sql_tables.save_latencies(run.url, rows)
    log(
        f"[latency] {len(rows)} new architectures timed in {time.monotonic() - started:.0f} s; "
        + run_latencies(run.url, run.name).words()
    )
    return len(rows)


def device_name_here() -> str:
    import torch

    return device_name(torch.device("cpu"))


def wait_for_quiet(most: float) -> float | None:
    """The node's busy share once it is at most `most`, or the least seen in
    QUIET_PATIENCE_S (a phase's workers take a few seconds to exit once its last trial
    ended)."""
    least, waited = None, 0.0
    while waited < QUIET_PATIENCE_S:
        busy = node_busy_share()
        if busy is None or busy <= most:
            return busy
        least = busy if least is None else min(least, busy)
        waited += 0.5
    return least


def node_busy_share(seconds: float = 0.5) -> float | None:
    """The share of this node's CPU time spent outside idle over `seconds` (None where the
    kernel does not say: not Linux). The driver itself waits meanwhile."""
    if not PROC_STAT.is_file():
        return None
    before = _cpu_times()
    time.sleep(seconds)
    after = _cpu_times()
    total = sum(after) - sum(before)
    idle = (after[3] + after[4]) - (before[3] + before[4])  # idle and iowait
    return 0.0 if total <= 0 else 1.0 - idle / total


def _cpu_times() -> list[int]:
    first = PROC_STAT.read_text().splitlines()[0].split()
    return [int(v) for v in first[1:9]]


def _run_specs(run: RunStudies) -> dict[str, ArchSpec]:
    """Every architecture the run trained (finished trials, all phases), by spec hash."""
    specs: dict[str, ArchSpec] = {}
    for study in run.studies():
        for trial in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
            record = TrialRecord.from_trial(trial)
            if record.spec_hash and record.spec and record.spec_hash not in specs:
                specs[record.spec_hash] = record.arch()
    return specs


def _row(
    run: str,
    spec_hash: str,
    session: str,
    device: str,
    timed: Timed | None,
    layers: int | None,
    unmeasured: str | None = None,
) -> dict:
    return dict(
        study=run,
        spec_hash=spec_hash,
        session=session,
        device=device,
        ms_batch1=None if timed is None else timed.ms_batch1,
        ms_batch=None if timed is None else timed.ms_batch,
        batch=None if timed is None else timed.batch,
        passes_ms=None if timed is None else json.dumps([round(p, 4) for p in timed.passes_ms]),
        layers=layers,
        unmeasured=unmeasured,
    )
