"""Seconds per trial spent outside training: Ray scheduling, Optuna ask/tell, storage writes.

Runs a real search (local Ray, SQLite study) of short proxy trials and splits each slot's
time into training (measured inside the trial) and everything else:

- in-trial overhead: a trial's wall time on the driver (ask → tell) minus its training time
  (actor hand-off, result reporting, data look-up, model build);
- idle: slot time no trial held (the driver asking, telling, writing, Tune's loop);
- Ray start-up, once per run, is reported apart.

Target (issue 6): overhead ≤ 5% of trial time.

    python bench/search_overhead.py [--trials 16] [--images 512] [--epochs 2]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from scalesearch.search import storage as st
from scalesearch.search.lifecycle import config_from_flags
from scalesearch.search.space import load_space, spaces_dir
from scalesearch.search.tune import run_search


def _space(folder: Path, trials: int, images: int, epochs: int) -> Path:
    text = (spaces_dir() / "cmt_compound.yaml").read_text()
    start, end = text.index("proxy:\n"), text.index("search:\n")
    proxy = (
        f"proxy:\n  dataset: digits\n  epochs: {epochs}\n  batch_size: 32\n"
        f"  max_train_images: {images}\n"
    )
    text = text[:start] + proxy + text[end:]
    text = text.replace("name: cmt_compound", "name: overhead").replace(
        "trials: 16", f"trials: {trials}"
    )
    path = folder / "overhead.yaml"
    path.write_text(text)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=16)
    parser.add_argument("--images", type=int, default=512)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--slots", type=int, default=2, help="trials at once (CPUs)")
    args = parser.parse_args()

    import ray

    started = time.monotonic()
    ray.init(
        address="local",
        num_cpus=args.slots,
        include_dashboard=False,
        log_to_driver=False,
        logging_level="ERROR",
        # As `scalesearch run` starts its Ray (search.tune._start_ray).
        runtime_env={"worker_process_setup_hook": "scalesearch.search.trainable.warm_up"},
    )
    ray_start = time.monotonic() - started
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        space = load_space(_space(folder, args.trials, args.images, args.epochs))
        storage = st.default_storage(folder)
        config = config_from_flags(
            space,
            folder,
            storage=storage,
            study_name="overhead",
            trials=args.trials,
            family=False,
            max_concurrent=args.slots,
            replicates=1,  # one phase: the search itself
        )
        began = time.monotonic()
        run_search(config, log=lambda line: None)
        wall = time.monotonic() - began
        trials = [
            t
            for t in st.load_study(storage, "overhead").trials
            if "train_seconds" in t.user_attrs or "wall_seconds" in t.user_attrs
        ]
    ray.shutdown()

    trained = [t for t in trials if "train_seconds" in t.user_attrs]
    spans = [t.user_attrs["wall_seconds"] for t in trials]
    train = [t.user_attrs["train_seconds"] for t in trained]
    in_trial = [t.user_attrs["wall_seconds"] - t.user_attrs["train_seconds"] for t in trained]
    idle = (wall * args.slots - sum(spans)) / len(trials)
    per_trial = sum(spans) / len(trials)
    overhead = statistics.mean(in_trial) + idle
    print(
        f"{len(trials)} trials ({len(trained)} trained to the end), {args.slots} slots, "
        f"{wall:.1f} s wall; Ray start-up {ray_start:.1f} s (once)"
    )
    print(f"training per trained trial     {statistics.mean(train):7.3f} s")
    print(f"trial wall (ask → tell)        {per_trial:7.3f} s")
    print(
        f"in-trial overhead              {statistics.mean(in_trial):7.3f} s "
        f"(median {statistics.median(in_trial):.3f})"
    )
    print(f"idle slot time per trial       {idle:7.3f} s")
    print(
        f"overhead per trial             {overhead:7.3f} s = "
        f"{overhead / (per_trial + idle):.1%} of slot time per trial (target ≤ 5%)"
    )


if __name__ == "__main__":
    main()
