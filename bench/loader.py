"""Does the streaming image-folder loader keep up with training? Images/s of each, one run.

Writes an image folder of JPEGs (photo-sized, 256², smooth random content), then measures
(1) `train.stream.file_batches` decoding and resizing them to the model's input with
`--workers` DataLoader workers, and (2) the model those batches feed, training
(forward+backward+AdamW) on one thread. Target: the loader alone delivers ≥ 3×
the images/s the model consumes.

    python bench/loader.py [--images 1500] [--workers 1] [--space cmt_compound] [--phi 0]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from scalesearch.arch.model import build_model
from scalesearch.search.space import load_space
from scalesearch.train.data import load_dataset, prepare_batch
from scalesearch.train.stream import file_batches


def write_folder(root: Path, images: int, classes: int = 10, side: int = 256) -> None:
    rng = np.random.default_rng(0)
    for i in range(images):
        folder = root / "train" / f"c{i % classes}"
        folder.mkdir(parents=True, exist_ok=True)
        low = rng.integers(0, 255, (8, 8, 3), dtype=np.uint8)  # smooth, photo-like JPEGs
        Image.fromarray(low).resize((side, side), Image.BICUBIC).save(
            folder / f"{i}.jpg", quality=90
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=1500)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--space", default="cmt_compound")
    parser.add_argument("--phi", type=float, default=0)
    args = parser.parse_args()
    spec = load_space(args.space).realize(args.phi).spec
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        write_folder(root, args.images)
        data = load_dataset("imagefolder", root, resolution=spec.resolution, stream=True)
        order = torch.arange(len(data.train))
        start = time.perf_counter()
        seen = sum(
            len(labels) for _, labels in file_batches(data.train, order, args.batch, args.workers)
        )
        loader = seen / (time.perf_counter() - start)
    torch.set_num_threads(1)
    model = build_model(spec.replace(num_classes=10)).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    images = torch.randint(
        0, 255, (args.batch, 3, spec.resolution, spec.resolution), dtype=torch.uint8
    )
    labels = torch.arange(args.batch) % 10
    steps, start = 0, time.perf_counter()
    while time.perf_counter() - start < 20 or steps < 5:
        x = prepare_batch(images, spec.resolution, True, True)
        loss = torch.nn.functional.cross_entropy(model(x), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        steps += 1
    model_rate = steps * args.batch / (time.perf_counter() - start)
    print(f"{args.space} φ {args.phi:g} at {spec.resolution}px, batch {args.batch}")
    print(
        f"loader ({args.workers} worker(s), 256² JPEG → {spec.resolution}²): {loader:8.1f} images/s"
    )
    print(f"model training (1 thread, fp32):          {model_rate:8.1f} images/s")
    print(f"loader / model: {loader / model_rate:.1f}× (target ≥ 3×)")


if __name__ == "__main__":
    main()
