"""Images/s of DeepSpeed training against a plain torch loop: same model, data and batch.

Target: the engine costs no speed (≥ 0.95× the plain loop). One process; on a
GPU the config's bf16 is used by both sides.

    python bench/final_training.py [--phi 0] [--batch 64] [--steps 40] [--threads 2]
"""

from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F

from scalesearch.arch.model import HybridNet
from scalesearch.search.space import load_space
from scalesearch.train.data import load_dataset, prepare_batch
from scalesearch.train.deepspeed_trainer import init_distributed
from scalesearch.train.ds_config import fill_auto, load_deepspeed_config


def _batches(data, resolution: int, batch: int, steps: int, device):
    generator = torch.Generator().manual_seed(0)
    out = []
    for _ in range(steps):
        index = torch.randint(len(data.train), (batch,), generator=generator)
        x = prepare_batch(data.train.images[index], resolution, True, data.flip, generator)
        out.append((x.to(device), data.train.labels[index].to(device)))
    return out


def plain(spec, batches, bf16: bool) -> float:
    model = HybridNet(spec).to(batches[0][0].device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=0.05)
    start = None
    for i, (x, y) in enumerate(batches):
        if i == 3:
            start = time.perf_counter()  # after warm-up steps
        with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=bf16):
            loss = F.cross_entropy(model(x), y, label_smoothing=0.1)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
    return (len(batches) - 3) * len(batches[0][1]) / (time.perf_counter() - start)


def engine(spec, batches, config: dict) -> float:
    import deepspeed

    model = HybridNet(spec)
    ds, _, _, _ = deepspeed.initialize(
        model=model, model_parameters=model.parameters(), config=fill_auto(config, len(batches), 1)
    )
    dtype = next(ds.module.parameters()).dtype
    start = None
    for i, (x, y) in enumerate(batches):
        if i == 3:
            start = time.perf_counter()
        loss = F.cross_entropy(
            ds(x.to(ds.device, dtype)).float(), y.to(ds.device), label_smoothing=0.1
        )
        ds.backward(loss)
        ds.step()
    return (len(batches) - 3) * len(batches[0][1]) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--phi", type=float, default=0.0)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    init_distributed()
    cuda = torch.cuda.is_available()
    device = torch.device("cuda" if cuda else "cpu")
    config = load_deepspeed_config(None)
    config["train_micro_batch_size_per_gpu"] = args.batch
    if cuda:
        config["bf16"] = {"enabled": True}
    spec = load_space("cmt_compound").member(args.phi)
    data = load_dataset("mnist", resolution=spec.resolution)
    spec = spec.replace(num_classes=data.num_classes)
    batches = _batches(data, spec.resolution, args.batch, args.steps, device)
    rows = []
    for _ in range(args.repeats):  # interleaved, so drift hits both alike
        rows.append((plain(spec, batches, cuda), engine(spec, batches, config)))
    best_plain, best_engine = max(r[0] for r in rows), max(r[1] for r in rows)
    print(
        f"{spec.name} at {spec.resolution}px, batch {args.batch}, {device}, "
        f"{args.threads} threads, best of {args.repeats}"
    )
    print(f"plain torch loop   {best_plain:8.1f} img/s")
    print(
        f"DeepSpeed engine   {best_engine:8.1f} img/s  ({best_engine / best_plain:.3f}×, target ≥ 0.95)"
    )


if __name__ == "__main__":
    main()
