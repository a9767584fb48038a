"""A dataset's splits: uint8 image tensors with labels, and how they are carved.

Every source (`scalesearch.train.data`, `scalesearch.train.folders`) returns a `Dataset` of
train / validation / test `Split`s. Validation is carved from train by a seeded, stratified
split (it ranks architectures during the search); test is kept for final reports.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor


@dataclass(frozen=True)
class Split:
    images: Tensor  # uint8 (N, C, H, W)
    labels: Tensor  # int64 (N,)

    def __len__(self) -> int:
        return len(self.labels)


@dataclass(frozen=True)
class Dataset:
    name: str
    train: Split
    val: Split
    test: Split
    num_classes: int
    flip: bool  # whether horizontal flips keep the label (not for digits)

    @property
    def channels(self) -> int:
        return self.train.images.shape[1]


def stratified_split(
    labels: np.ndarray, fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Indices (kept, carved): `fraction` of each class carved out, the same for a seed.

    Every class with two or more images gives at least one, so small datasets still have a
    validation image of every class.
    """
    rng = np.random.default_rng(seed)
    kept, carved = [], []
    for label in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == label))
        n = max(1, int(round(len(idx) * fraction))) if len(idx) > 1 else 0
        carved.append(idx[:n])
        kept.append(idx[n:])
    return np.sort(np.concatenate(kept)), np.sort(np.concatenate(carved))


def _split(images: np.ndarray, labels: np.ndarray, index: np.ndarray) -> Split:
    return Split(
        torch.from_numpy(np.ascontiguousarray(images[index])),
        torch.from_numpy(labels[index].astype(np.int64)),
    )


def from_arrays(
    name: str,
    images: np.ndarray,
    labels: np.ndarray,
    test: tuple[np.ndarray, np.ndarray] | None,
    val_fraction: float,
    seed: int,
    flip: bool,
) -> Dataset:
    """Builds the three splits; without a given test set, one is carved first (20%)."""
    if test is None:
        keep, held = stratified_split(labels, 0.2, seed + 1)
        test = (images[held], labels[held])
        images, labels = images[keep], labels[keep]
    train_idx, val_idx = stratified_split(labels, val_fraction, seed)
    all_test = np.arange(len(test[1]))
    return Dataset(
        name,
        _split(images, labels, train_idx),
        _split(images, labels, val_idx),
        _split(test[0], test[1], all_test),
        num_classes=int(max(labels.max(), test[1].max())) + 1,
        flip=flip,
    )
