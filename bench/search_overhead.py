"""Slot time spent outside training: Ray and Tune scheduling, Optuna ask/tell, storage.

Runs a real search (local Ray, SQLite study) of short proxy trials and splits the slots'
time (wall × slots) into:

- training: epochs and validation, measured inside each trial (a trial stopped early
  counts the epochs it ran);
- in trial, outside training: a trial's wall time on the driver (ask → tell) minus its
  training (hand-off to the worker, model build, latency measurement, reporting; the first
  batch's trials also wait for their workers to start);
- between trials: slot time no trial held (a batch waits for its slowest trial before the
  next is asked, the driver asks and tells, Tune's loop);
- the run's start and end (Tuner set-up before the first ask, shut-down after the last
  tell), reported apart, as is Ray's start-up.

Target (issue 34): outside training ≤ 8% of slot time in the default mode (`asks: rolling`).
`--race N --family` adds the race (N trainings) and the family (three φ and the defaults'
check, at the proxy's training): the phases' hand-overs then count between trials. The
quiet latency timing after the trainings is off: this bench is about the trainings' slots.

    python bench/search_overhead.py [--trials 16] [--images 1024] [--epochs 2]
        [--asks rolling|batch|free] [--race 0] [--family]
"""

from __future__ import annotations

import argparse
import re
import statistics
import tempfile
import time
from pathlib import Path

from scalesearch.search.config import config_from_flags
from scalesearch.search.run.pipeline import run_search
from scalesearch.search.space import load_space, spaces_dir
from scalesearch.search.store import storage as st
from scalesearch.search.store.schema import TrialRecord
from scalesearch.search.store.studies import open_run


def _space(folder: Path, trials: int, images: int, epochs: int, asks: str, race: int = 0) -> Path:
    text = (spaces_dir() / "cmt_compound.yaml").read_text()
    start, end = text.index("proxy:\n"), text.index("search:\n")
    proxy = (
        f"proxy:\n  dataset: digits\n  epochs: {epochs}\n  batch_size: 32\n"
        f"  max_train_images: {images}\n"
    )
    family = "family: {phi: [-1, 0, 1]}\n"  # trained as the proxy is: the hand-overs alone
    text = text[:start] + proxy + family + text[end:]
    text = text.replace("name: cmt_compound", "name: overhead")
    text = re.sub(r"(?m)^  trials: \d+$", f"  trials: {trials}", text)
    text = re.sub(r"(?m)^  race: \{.*\}$", f"  race: {{trainings: {race}}}", text)
    text = text.replace("\nsearch:\n", "\nsearch:\n  latency_passes: 0\n", 1)  # trainings only
    text = text.replace("  batch_size: 2 ", f"  asks: {asks}\n  batch_size: 2 ")
    path = folder / "overhead.yaml"
    path.write_text(text)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=16)
    parser.add_argument("--images", type=int, default=1024)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--slots", type=int, default=2, help="trials at once (CPUs)")
    parser.add_argument("--asks", choices=("rolling", "batch", "free"), default="rolling")
    parser.add_argument("--race", type=int, default=0, help="race trainings (0: none)")
    parser.add_argument("--family", action="store_true", help="train the family too")
    parser.add_argument("--timeline", action="store_true", help="print each trial's span")
    args = parser.parse_args()

    import ray

    started = time.monotonic()
    ray.init(
        address="local",
        num_cpus=args.slots,
        include_dashboard=False,
        log_to_driver=False,
        logging_level="ERROR",
        # As `scalesearch run` starts its Ray (search.tune._start_ray): no runtime_env.
    )
    ray_start = time.monotonic() - started
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        space = load_space(
            _space(folder, args.trials, args.images, args.epochs, args.asks, args.race)
        )
        storage = st.default_storage(folder)
        config = config_from_flags(
            space,
            folder,
            storage=storage,
            study_name="overhead",
            trials=args.trials,
            family=args.family,
            max_concurrent=args.slots,
        )
        began = time.time()
        run_search(config, log=lambda line: None)
        ended = time.time()
        trials = [
            t
            for study in open_run(storage, "overhead").studies()
            for t in study.trials
            if _held_a_slot(TrialRecord.from_trial(t))
        ]
    ray.shutdown()
    _report(trials, began, ended, args.slots, ray_start)
    if args.timeline:
        _timeline(trials, began)


def _held_a_slot(record: TrialRecord) -> bool:
    """It trained in a slot: a copy (the family's member that is its search trial) or a
    duplicate carries its source's measurements, not a slot's."""
    copy = record.copied_from is not None or record.duplicate_of is not None
    return record.seconds is not None and not copy


def _report(trials, began: float, ended: float, slots: int, ray_start: float) -> None:
    wall = ended - began
    slot_time = wall * slots
    records = [TrialRecord.from_trial(t) for t in trials]
    training = sum(r.train_seconds or 0.0 for r in records)
    held = sum(r.seconds or 0.0 for r in records)
    first_ask = min(t.datetime_start.timestamp() for t in trials)
    last_tell = max(t.datetime_complete.timestamp() for t in trials)
    ends = (first_ask - began + ended - last_tell) * slots
    rows = [
        ("training (epochs + validation)", training),
        ("in trial, outside training", held - training),
        ("between trials", slot_time - held - ends),
        ("run start and end", ends),
    ]
    stopped = sum(t.state.name == "PRUNED" for t in trials)
    print(
        f"{len(trials)} trials trained ({stopped} stopped early), {slots} slots, "
        f"{wall:.1f} s wall; Ray start-up {ray_start:.1f} s (once, not counted)"
    )
    print(f"{'slot time':34s} {slot_time:8.1f} s  100.0%")
    for name, seconds in rows:
        print(f"{name:34s} {seconds:8.1f} s  {seconds / slot_time:6.1%}")
    steady = slot_time - ends
    print(
        f"outside training: {1 - training / slot_time:.1%} of slot time; "
        f"{1 - training / steady:.1%} without the run's start and end (target ≤ 8%)"
    )
    per_trial = [(r.seconds or 0.0) - (r.train_seconds or 0.0) for r in records]
    print(
        f"per trial: {training / len(trials):.2f} s training, in trial outside training "
        f"median {statistics.median(per_trial):.2f} s"
    )


def _timeline(trials, began: float) -> None:
    """Each trial's ask and tell (seconds since the search began) and its training."""
    for t in sorted(trials, key=lambda t: t.datetime_start):
        start = t.datetime_start.timestamp() - began
        end = t.datetime_complete.timestamp() - began
        train = TrialRecord.from_trial(t).train_seconds or 0.0
        print(f"trial {t.number:3d} {t.state.name:9s} {start:7.1f} -> {end:7.1f} s, "
              f"training {train:5.1f} s")  # fmt: skip


if __name__ == "__main__":
    main()
