"""Image folders too large for memory, streamed: decoded per batch by DataLoader workers.

Final training on an ImageNet-size folder cannot hold it as one uint8 tensor (1.28 M images at
224² are 190 GB), so `stream_image_folder` lists the files and `file_batches` decodes each
batch in worker processes, resized to the model's input; augmentation then runs on the
batch as for in-memory data. The proxy keeps its in-memory path (it reads a sliver).

A file that does not decode is skipped with a warning naming it, and counted
(`FileSplit.skipped`); it never ends a training.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from scalesearch.errors import DatasetError

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg"}


@dataclass
class FileSplit:
    """Image files and their labels, decoded at `resolution` when batched."""

    files: list[Path]
    labels: Tensor  # int64 (N,)
    resolution: int
    skipped: list[str] = field(default_factory=list)  # files that did not decode

    def __len__(self) -> int:
        return len(self.files)


def list_class_folder(root: Path) -> tuple[list[Path], np.ndarray, list[str]]:
    """root/<class>/<image> files in a stable order, their labels, and the class names."""
    classes = sorted(p.name for p in root.iterdir() if p.is_dir())
    if not classes:
        raise DatasetError(f"{root}: no class folders; expected {root}/<class>/<image>.png|jpg")
    files, labels = [], []
    for label, name in enumerate(classes):
        found = sorted(p for p in (root / name).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not found:
            raise DatasetError(f"{root / name}: empty class folder; put PNG or JPEG images in it")
        files += found
        labels += [label] * len(found)
    return files, np.asarray(labels, dtype=np.int64), classes


class _Decoded(torch.utils.data.Dataset):
    """One file → (uint8 (3, R, R) tensor, label), or (None, label) when it does not decode."""

    def __init__(self, split: FileSplit) -> None:
        self.files, self.labels, self.resolution = split.files, split.labels, split.resolution

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index: int):
        from PIL import Image

        try:
            with Image.open(self.files[index]) as image:
                rgb = image.convert("RGB").resize((self.resolution,) * 2, Image.BILINEAR)
        except (OSError, ValueError, SyntaxError):  # PIL's ways of saying "not an image"
            return None, int(self.labels[index]), str(self.files[index])
        pixels = torch.from_numpy(np.asarray(rgb).copy()).permute(2, 0, 1)
        return pixels, int(self.labels[index]), None


def _collate(items):
    kept = [(x, y) for x, y, bad in items if bad is None]
    bad = [b for _, _, b in items if b is not None]
    if not kept:
        return None, None, bad
    return torch.stack([x for x, _ in kept]), torch.tensor([y for _, y in kept]), bad


def file_batches(
    split: FileSplit, order: Tensor, batch_size: int, workers: int = 2
) -> Iterator[tuple[Tensor, Tensor]]:
    """(uint8 images, labels) of `split` in `order`, `batch_size` at a time, decoded by
    `workers` processes ahead of the training (a batch may be short where files failed)."""
    chunks = [order[i : i + batch_size].tolist() for i in range(0, len(order), batch_size)]
    loader = torch.utils.data.DataLoader(
        _Decoded(split),
        batch_sampler=chunks,
        num_workers=workers,
        collate_fn=_collate,
        persistent_workers=False,
        prefetch_factor=4 if workers else None,
    )
    for images, labels, bad in loader:
        for path in bad:
            split.skipped.append(path)
            warnings.warn(f"{path}: not a readable image, skipped", stacklevel=2)
        if images is not None:
            yield images, labels
