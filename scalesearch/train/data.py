"""Datasets for proxy and final training, as uint8 image tensors with fixed splits.

Every source returns train / validation / test splits of uint8 images (N, C, H, W) and int64
labels. Validation is carved from train by a seeded, stratified split (it ranks
architectures during the search); test is kept for final reports. Images are resized and
augmented per batch on the tensor side (`prepare_batch`), so no torchvision is needed.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from scalesearch.errors import DatasetError
from scalesearch.train.config import DATASETS
from scalesearch.train.embedded import EMBEDDED, load_embedded
from scalesearch.train.idx import FASHION_MNIST_DIR, load_idx_dir
from scalesearch.train.splits import Dataset, from_arrays


def _unpickle(path: Path) -> dict:
    if not path.is_file():
        raise DatasetError(
            f"{path}: missing; expected the CIFAR python layout "
            f"(data_batch_1..5 and test_batch, or train, test and meta for CIFAR-100)"
        )
    try:
        with path.open("rb") as f:
            return pickle.load(f, encoding="bytes")
    except Exception as err:  # noqa: BLE001 - any unreadable pickle is the same user problem
        raise DatasetError(f"{path}: not a CIFAR python pickle ({err})") from err


def _cifar_arrays(batch: dict, label_key: bytes, path: Path) -> tuple[np.ndarray, np.ndarray]:
    if b"data" not in batch or label_key not in batch:
        raise DatasetError(f"{path}: has no {b'data'!r} and {label_key!r} entries")
    data = np.asarray(batch[b"data"], dtype=np.uint8)
    return data.reshape(-1, 3, 32, 32), np.asarray(batch[label_key], dtype=np.int64)


def _cifar(
    data_dir: Path, classes: int
) -> tuple[np.ndarray, np.ndarray, tuple[np.ndarray, np.ndarray]]:
    root = _cifar_root(data_dir, classes)
    if classes == 10:
        parts = [
            _cifar_arrays(_unpickle(root / f"data_batch_{i}"), b"labels", root / f"data_batch_{i}")
            for i in range(1, 6)
        ]
        images = np.concatenate([p[0] for p in parts])
        labels = np.concatenate([p[1] for p in parts])
        test = _cifar_arrays(_unpickle(root / "test_batch"), b"labels", root / "test_batch")
    else:
        images, labels = _cifar_arrays(_unpickle(root / "train"), b"fine_labels", root / "train")
        test = _cifar_arrays(_unpickle(root / "test"), b"fine_labels", root / "test")
    return images, labels, test


def _cifar_root(data_dir: Path, classes: int) -> Path:
    """The folder itself, or the folder the official archive unpacks to inside it."""
    inner = data_dir / ("cifar-10-batches-py" if classes == 10 else "cifar-100-python")
    return inner if inner.is_dir() else data_dir


def _synthetic(
    resolution: int, classes: int = 10, per_class: int = 100, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Deterministic gratings: class c is a stripe pattern at angle π·c/classes, plus noise."""
    rng = np.random.default_rng(seed)
    ys, xs = np.mgrid[0:resolution, 0:resolution] / resolution
    images, labels = [], []
    for c in range(classes):
        angle = np.pi * c / classes
        for _ in range(per_class):
            phase = rng.uniform(0, 2 * np.pi)
            wave = np.sin(2 * np.pi * 3 * (xs * np.cos(angle) + ys * np.sin(angle)) + phase)
            noisy = 0.5 + 0.35 * wave + rng.normal(0, 0.1, wave.shape)
            images.append(np.clip(noisy * 255, 0, 255).astype(np.uint8)[None].repeat(3, 0))
            labels.append(c)
    return np.stack(images), np.asarray(labels)


def load_dataset(
    name: str,
    data_dir: str | Path | None = None,
    resolution: int = 32,
    val_fraction: float = 0.1,
    seed: int = 0,
    max_images: int | None = None,
    stream: bool = False,
) -> Dataset:
    """Loads a dataset by name with a seeded, stratified validation split.

    Args:
        name: one of DATASETS.
        data_dir: folder of cifar10/cifar100/imagefolder.
        resolution: decode size of imagefolder images and native size of synthetic ones.
        val_fraction: share of train carved out for validation, per class.
        seed: fixes every split.
        max_images: decode at most about this many training images of an image folder
            (an equal share per class, seeded), and as many of its val/ folder.
        stream: an image folder's splits as file lists (`FileSplit`), decoded per batch by
            workers (final training on folders too large for memory); other datasets load.
    """
    if name not in DATASETS:
        raise DatasetError(f"unknown dataset {name!r}; known datasets: {', '.join(DATASETS)}")
    if name in EMBEDDED:
        images, labels, test, flip = load_embedded(name)
        return from_arrays(name, images, labels, test, val_fraction, seed, flip=flip)
    if name == "synthetic":
        return from_arrays(name, *_synthetic(resolution), None, val_fraction, seed, flip=False)
    if name == "fashion-mnist" and data_dir is None:
        data_dir = _debian_fashion_mnist()
    root = _require_dir(name, data_dir)
    if name in ("fashion-mnist", "idx"):
        images, labels, test = load_idx_dir(root)
        flip = name == "fashion-mnist"  # a mirrored shoe is a shoe; a mirrored digit is not
        return from_arrays(name, images, labels, test, val_fraction, seed, flip=flip)
    if name in ("cifar10", "cifar100"):
        images, labels, test = _cifar(root, 10 if name == "cifar10" else 100)
        return from_arrays(name, images, labels, test, val_fraction, seed, flip=True)
    from scalesearch.train.folders import load_image_folder, stream_image_folder

    if stream:
        return stream_image_folder(root, resolution, val_fraction, seed)
    return load_image_folder(root, resolution, val_fraction, seed, max_images)


def _debian_fashion_mnist() -> Path:
    if not FASHION_MNIST_DIR.is_dir():
        raise DatasetError(
            f"fashion-mnist: not found at {FASHION_MNIST_DIR}; install Debian's package "
            f"(apt-get install dataset-fashion-mnist) or give the folder of its four IDX "
            f"files with --data-dir"
        )
    return FASHION_MNIST_DIR


def _require_dir(name: str, data_dir: str | Path | None) -> Path:
    if data_dir is None:
        raise DatasetError(f"dataset {name!r} is read from disk: give its folder with --data-dir")
    root = Path(data_dir)
    if not root.is_dir():
        raise DatasetError(f"{root}: no such directory (dataset {name!r})")
    return root


def prepare_batch(
    images: Tensor,
    resolution: int,
    train: bool,
    flip: bool,
    generator: torch.Generator | None = None,
) -> Tensor:
    """uint8 (B, C, h, w) → float (B, 3, R, R): scaled to [-1, 1], resized, augmented.

    Augmentation (train only): a random crop of the resized image padded by 1/8 of its side,
    and a horizontal flip where it keeps the label. Gray images are repeated to 3 channels.
    """
    x = images.float().div_(127.5).sub_(1.0)
    if x.shape[1] == 1:
        x = x.expand(-1, 3, -1, -1)
    if x.shape[-1] != resolution or x.shape[-2] != resolution:
        x = F.interpolate(
            x, size=(resolution, resolution), mode="bilinear", antialias=True, align_corners=False
        )
    if not train:
        return x.contiguous()
    pad = max(1, resolution // 8)
    padded = F.pad(x, (pad, pad, pad, pad), mode="replicate")
    offsets = torch.randint(0, 2 * pad + 1, (x.shape[0], 2), generator=generator)
    crops = [
        padded[i, :, dy : dy + resolution, dx : dx + resolution]
        for i, (dy, dx) in enumerate(offsets.tolist())
    ]
    x = torch.stack(crops)
    if flip:
        mask = torch.rand(x.shape[0], generator=generator) < 0.5
        x[mask] = x[mask].flip(-1)
    return x
