"""Does training like the papers matter? A CMT-like member on Fashion-MNIST, two ways.

Conditions (each trained by `train_final`, the DeepSpeed path `scalesearch train` uses, one
process per run, two at a time, one thread each):
- "0.1": scalesearch 0.1's initialisation (init v0) and the light recipe (crop and flip,
  AdamW 2e-3, warm-up + cosine, label smoothing 0.1);
- "papers": the official CMT initialisation and `--recipe cmt` (RandAugment, Mixup/CutMix,
  random erasing, soft targets, timm's schedule, EMA);
- with --factorial also the two mixed conditions, to tell the init's share from the recipe's.

Each condition trains with every seed; the table gives test accuracy (10,000 images) per seed,
mean ± sd, and each condition's paired difference from "0.1" with its 95% interval, called
"within the seed noise" when the interval holds zero. Runs are cached in
bench/results/recipe_effect.json, so an interrupted bench resumes.

    python bench/recipe_effect.py [--epochs 10] [--images 20000] [--seeds 0 1] [--phi 0]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from scalesearch.stats import binomial_se, mean_sd, paired_interval

CACHE = Path(__file__).resolve().parent / "results" / "recipe_effect.json"
CONDITIONS = {"0.1": ("v0", "light"), "papers": ("cmt", "cmt")}
MIXED = {"official init, light": ("cmt", "light"), "0.1 init, cmt recipe": ("v0", "cmt")}


def _run(job: dict) -> dict:
    import tempfile

    import torch

    from scalesearch.search.space import load_space
    from scalesearch.train.data import load_dataset
    from scalesearch.train.deepspeed_trainer import init_distributed, train_final
    from scalesearch.train.ds_config import load_deepspeed_config
    from scalesearch.train.splits import Split

    torch.set_num_threads(1)
    init_distributed()
    spec = load_space("cmt_compound").member(job["phi"]).replace(init=job["init"])
    data = load_dataset("fashion-mnist", resolution=spec.resolution, seed=0)
    keep = torch.randperm(len(data.train), generator=torch.Generator().manual_seed(0))
    keep = keep[: job["images"]]
    data = dataclasses.replace(data, train=Split(data.train.images[keep], data.train.labels[keep]))
    config = load_deepspeed_config(None)
    config["train_micro_batch_size_per_gpu"] = job["batch"]
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as folder:
        result = train_final(
            spec, data, config, job["epochs"], Path(folder), seed=job["seed"], recipe=job["recipe"]
        )
    return {
        **job,
        "test_accuracy": result.test_accuracy,
        "test_images": len(data.test),
        "train_losses": result.train_losses,
        "recorded_recipe": result.recipe,
        "seconds": time.perf_counter() - start,
    }


JOB_FIELDS = ("init", "recipe", "seed", "epochs", "images", "batch", "phi")


def _key(job: dict) -> str:
    return json.dumps({k: job[k] for k in JOB_FIELDS}, sort_keys=True)


def report(rows: list[dict], conditions: dict) -> None:
    by = {name: {r["seed"]: r for r in rows if r["condition"] == name} for name in conditions}
    seeds = sorted(set.intersection(*(set(v) for v in by.values())))
    if not seeds:
        print("no condition has finished a seed yet")
        return
    reference = [by["0.1"][s]["test_accuracy"] for s in seeds]
    n = by["0.1"][seeds[0]]["test_images"]
    print(f"\ntest accuracy on {n:,} images (binomial se ≈ {100 * binomial_se(0.85, n):.2f} pts)")
    print(f"{'condition':24} {'per seed':24} {'mean ± sd':16} {'Δ vs 0.1 (pts, 95%)':22} s/run")
    for name in conditions:
        accs = [by[name][s]["test_accuracy"] for s in seeds]
        mean, sd = mean_sd(accs)
        per_seed = " ".join(f"{a:.2%}" for a in accs)
        delta, half = paired_interval([a - b for a, b in zip(accs, reference)])
        if name == "0.1":
            verdict = ""
        elif half != half:  # one seed: no interval
            verdict = f"{100 * delta:+.2f} (1 seed)"
        else:
            inside = abs(delta) <= half
            verdict = f"{100 * delta:+.2f} ± {100 * half:.2f}" + (" noise" if inside else " beyond")
        seconds = sum(by[name][s]["seconds"] for s in seeds) / len(seeds)
        print(
            f"{name:24} {per_seed:24} {100 * mean:.2f} ± {100 * sd:.2f}   {verdict:22} {seconds:.0f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--images", type=int, default=20000)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--phi", type=float, default=0)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--factorial", action="store_true", help="also the two mixed conditions")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    conditions = {**CONDITIONS, **(MIXED if args.factorial else {})}
    jobs = [
        dict(
            condition=name,
            init=init,
            recipe=recipe,
            seed=seed,
            epochs=args.epochs,
            images=args.images,
            batch=args.batch,
            phi=args.phi,
        )  # fmt: skip
        for seed in args.seeds
        for name, (init, recipe) in conditions.items()
    ]
    cache = json.loads(CACHE.read_text()) if CACHE.is_file() else {}
    todo = [j for j in jobs if _key(j) not in cache]
    print(f"{len(jobs)} runs, {len(todo)} to train ({args.epochs} epochs × {args.images:,} images)")
    with ProcessPoolExecutor(args.workers) as pool:
        for done in pool.map(_run, todo):
            cache[_key(done)] = done
            CACHE.parent.mkdir(exist_ok=True)
            CACHE.write_text(json.dumps(cache, indent=1))
            print(f"  {done['condition']} seed {done['seed']}: {done['test_accuracy']:.2%} "
                  f"in {done['seconds']:.0f} s", flush=True)  # fmt: skip
    report([{**cache[_key(j)], "condition": j["condition"]} for j in jobs if _key(j) in cache],
           conditions)  # fmt: skip


if __name__ == "__main__":
    main()
