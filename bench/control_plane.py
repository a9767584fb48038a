"""The control plane as a study grows: what the driver and the commands spend on the study
itself, with no training in the way.

A run's search study is filled with N finished trials (N = 100, 1,000, 5,000) whose records
are realistic: each is one of 40 architectures realised by the driver's own code
(`build_trial`: spec, MACs, runtime counts, constraints) with its own keys, objective values
and measurements, added through Optuna (`Study.add_trials`). Its family (three φ, two seeds)
sits in the family study. Then, on SQLite and on the local PostgreSQL, it times:

- ask + tell: a real `SearchDriver` asks the next trial (TPE under rolling asks), writes its
  record, and is told its outcome, trial after trial; the realisation of the spec (equal-
  cost rounding, parameter and runtime counts: the same at any study size, ≈ 0.4 s on 2
  cores) is timed apart and subtracted: it is the search-overhead bench's business; the
  sampler's part (Optuna's TPE, which reads every trial at every ask) is shown apart;
- `frontier`, `report` (with the dashboard's notes; run twice: the second finds every note
  written) and `export --trial` (TorchScript exporter: the model's part is the same at any
  size), each through the CLI's `main`;
- the same commands on a fresh run of the same size beside 19 other runs in the storage.

Targets (issue 34): ask + tell ≤ 50 ms a trial at 5,000 trials; `frontier` ≤ 5 s and
`report` ≤ 30 s at 5,000; a command on one study costs the same whatever else the storage
holds.

    python bench/control_plane.py [--sizes 100 1000 5000] [--storages sqlite postgresql]
        [--asks 10] [--others 19] [--other-size 1000]
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import os
import random
import statistics
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import optuna

from scalesearch.cli.main import main as cli
from scalesearch.search.config import config_from_flags
from scalesearch.search.run import trial_build
from scalesearch.search.run.driver import SearchDriver
from scalesearch.search.run.heartbeat import Heartbeat
from scalesearch.search.run.lagged_sampler import LaggedSampler
from scalesearch.search.run.lifecycle import open_study
from scalesearch.search.run.outcome import ProxyOutcome
from scalesearch.search.run.trainable import TrialConfig
from scalesearch.search.run.trial_build import build_trial, draw
from scalesearch.search.space import SearchSpace, load_space
from scalesearch.search.store import storage as st
from scalesearch.search.store.schema import Phase, TrialRecord, finished_trial
from scalesearch.search.store.studies import RunStudies

ARCHITECTURES = 40  # realised once each; the N trials are copies with their own keys


@dataclasses.dataclass(frozen=True)
class Realised:
    params: dict
    distributions: dict
    record: TrialRecord
    constraints: dict[str, float]


def realise(space: SearchSpace, count: int, phase: Phase, phi: float | None = None) -> list:
    """`count` architectures as the driver realises them (its own `build_trial`)."""
    sampler = optuna.samplers.RandomSampler(seed=len(space.name) + count)
    scratch = optuna.create_study(sampler=sampler)
    made = []
    while len(made) < count:
        trial = scratch.ask()
        if phi is not None:
            TrialRecord(phi=phi).write(trial)
        drawn = draw(trial, space, phase)
        built = build_trial(space, drawn, space.proxy, None, 0, "bench", "bench:1")
        scratch.tell(trial, 0.0)
        if built.prune_reason is None:
            made.append(
                Realised(trial.params, trial.distributions, built.record, built.constraints)
            )
    return made


def finished(real: Realised, rng: random.Random, costs: tuple[str, ...], seed: int = 0):
    """A finished trial of `real`'s architecture with the measurements a training records:
    a search trial is an architecture of its own (its own keys), a family member one seed of
    its φ's."""
    accuracy = min(0.95, max(0.5, rng.gauss(0.78, 0.03)))
    own = uuid.uuid4().hex
    record = dataclasses.replace(
        real.record,
        seed=seed,
        train_key=own,
        arch_key=real.record.arch_key if real.record.phase == Phase.FAMILY else own,
        seconds=rng.uniform(20, 40),
        node_id="node-a",
        val_accuracies=[accuracy - 0.05, accuracy],
        val_images=2400,
        train_loss_sum=rng.uniform(200, 300),
        images_per_second=rng.uniform(80, 120),
        train_seconds=rng.uniform(15, 30),
        latency_ms=rng.uniform(8, 30),
        latency_batch_ms=rng.uniform(40, 90),
        latency_batch=8,
        latency_device="cpu",
        took_slot=True,
    )
    values = [accuracy, *(float(getattr(record, c) or 0) for c in costs)]
    return finished_trial(record, real.params, real.distributions, values, real.constraints)


def fill_run(url: str, name: str, space: SearchSpace, size: int, pool: dict) -> RunStudies:
    """A run named `name` with `size` finished search trials and a family of 3 φ × 2 seeds."""
    config = config_from_flags(
        space, Path(tempfile.mkdtemp()), storage=url, study_name=name, trials=size + 1000
    )
    run = open_study(config, "bench:1")
    rng = random.Random(size)
    costs = space.search.costs
    search = pool["search"]
    trials = [finished(search[i % len(search)], rng, costs) for i in range(size)]
    for start in range(0, size, 500):
        run.search.add_trials(trials[start : start + 500])
    family = run.study_for(Phase.FAMILY, create=True)
    members = [finished(real, rng, ("macs",), seed) for real in pool["family"] for seed in (0, 1)]
    family.add_trials(members)
    return run


def ask_and_tell(url: str, name: str, space: SearchSpace, asks: int) -> tuple[float, float]:
    """Median ms a trial of the driver's ask + record + tell, realisation excluded, and of
    it the sampler's (Optuna's TPE reads every trial of the study at every ask)."""
    config = config_from_flags(
        space, Path(tempfile.mkdtemp()), storage=url, study_name=name, trials=None, resume=False
    )
    config = dataclasses.replace(config, trials=100_000)
    run = open_study(config, "bench:2")
    realising: list[float] = []
    sampling: list[float] = []
    realisation = {
        (trial_build, "count_runtime"): trial_build.count_runtime,
        (trial_build, "meta_model"): trial_build.meta_model,
        (trial_build, "count_params"): trial_build.count_params,
        (SearchSpace, "realize_strategy"): SearchSpace.realize_strategy,
    }
    sampler = {
        (LaggedSampler, m): getattr(LaggedSampler, m)
        for m in ("infer_relative_search_space", "sample_relative", "sample_independent")
    }

    def timing(real, into: list[float]):
        def timed_call(*args, **kwargs):
            start = time.perf_counter()
            try:
                return real(*args, **kwargs)
            finally:
                into.append(time.perf_counter() - start)

        return timed_call

    patched = {**realisation, **sampler}
    for key, real in patched.items():
        setattr(*key, timing(real, realising if key in realisation else sampling))
    spent, sampled = [], []
    try:
        with Heartbeat(run.search) as beat:
            driver = SearchDriver(config, run, beat, 10, "bench:2", log=lambda line: None)
            for i in range(asks):
                realising.clear()
                sampling.clear()
                start = time.perf_counter()
                config_or_told = driver.suggest(f"t{i}", run.search.ask)
                if isinstance(config_or_told, TrialConfig):
                    outcome = ProxyOutcome(
                        status="completed",
                        val_accuracies=[0.7, 0.75],
                        val_accuracy=0.75,
                        val_images=2400,
                        node_id="node-a",
                    )
                    driver.on_result(f"t{i}", outcome.to_report())
                driver.poll.freed()
                spent.append(time.perf_counter() - start - sum(realising))
                sampled.append(sum(sampling))
    finally:
        for (owner, attr), real in patched.items():
            setattr(owner, attr, real)
    return 1000 * statistics.median(spent), 1000 * statistics.median(sampled)


def timed(argv: list[str]) -> float:
    start = time.perf_counter()
    with open(os.devnull, "w") as sink, contextlib.redirect_stdout(sink):
        code = cli(argv)
    if code not in (0, None):
        raise SystemExit(f"{' '.join(argv)} exited {code}")
    return time.perf_counter() - start


def commands(url: str, name: str, folder: Path) -> dict[str, float]:
    where = ["--storage", url, "--study", name]
    return {
        "frontier": timed(["frontier", *where]),
        "report": timed(["report", *where, "-o", str(folder / "r.html")]),
        "report again": timed(["report", *where, "-o", str(folder / "r.html")]),
        "export": timed(
            ["export", *where, "--trial", "7", "--exporter", "torchscript", "-o", str(folder)]
        ),
    }


@contextlib.contextmanager
def database(kind: str, folder: Path) -> Iterator[str]:
    if kind == "sqlite":
        made = folder / f"db{uuid.uuid4().hex[:6]}"
        made.mkdir()
        yield st.default_storage(made)
        return
    import psycopg

    admin = psycopg.connect("host=127.0.0.1 port=5432 dbname=test user=postgres", autocommit=True)
    name = f"scalesearch_bench_{uuid.uuid4().hex[:8]}"
    admin.execute(f"CREATE DATABASE {name}")
    try:
        yield f"postgresql://postgres@127.0.0.1:5432/{name}"
    finally:
        admin.execute(f"DROP DATABASE {name} WITH (FORCE)")
        admin.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 1000, 5000])
    parser.add_argument("--storages", nargs="+", default=["sqlite", "postgresql"])
    parser.add_argument("--asks", type=int, default=10)
    parser.add_argument("--others", type=int, default=19)
    parser.add_argument("--other-size", type=int, default=1000)
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    space = load_space("cmt_compound")
    space = dataclasses.replace(space, base=space.base.replace(num_classes=10))
    pool = {
        "search": realise(space, ARCHITECTURES, Phase.SEARCH),
        "family": [realise(space, 1, Phase.FAMILY, phi)[0] for phi in (0.0, 1.0, 2.0)],
    }
    columns = ["ask+tell ms", "sampler ms", "frontier s", "report s", "report again s", "export s"]
    print(f"{'storage':<11}{'trials':>7}{'beside':>8}" + "".join(f"{c:>16}" for c in columns))
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for kind in args.storages:
            for size in args.sizes:
                with database(kind, folder) as url:
                    started = time.perf_counter()
                    fill_run(url, "run", space, size, pool)
                    filled = time.perf_counter() - started
                    row = commands(url, "run", folder)
                    ask = ask_and_tell(url, "run", space, args.asks)
                    _print(kind, size, 0, ask, row, filled)
                    if size == max(args.sizes) and args.others:
                        # A fresh run of the same size beside the others: the first run's
                        # study now holds the asks just timed.
                        for k in range(args.others):
                            fill_run(url, f"other{k}", space, args.other_size, pool)
                        fill_run(url, "beside", space, size, pool)
                        row = commands(url, "beside", folder)
                        ask = ask_and_tell(url, "beside", space, args.asks)
                        _print(kind, size, args.others, ask, row, None)


def _print(kind: str, size: int, others: int, ask: tuple, row: dict, filled: float | None):
    cells = [f"{ask[0]:16.1f}", f"{ask[1]:16.1f}"] + [f"{row[k]:16.2f}" for k in row]
    tail = "" if filled is None else f"   (filled in {filled:.0f} s)"
    print(f"{kind:<11}{size:>7}{others:>8}" + "".join(cells) + tail, flush=True)


if __name__ == "__main__":
    main()
