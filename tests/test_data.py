"""Datasets: the shipped ones, and on-disk formats from fixture files in the real layout."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from scalesearch.train.data import DatasetError, load_dataset, prepare_batch


def _check(ds, classes: int, channels: int, size: int) -> None:
    assert ds.num_classes == classes
    for split in (ds.train, ds.val, ds.test):
        assert split.images.dtype == torch.uint8 and split.labels.dtype == torch.int64
        assert split.images.shape[1:] == (channels, size, size)
        assert len(split.images) == len(split.labels) > 0
    assert set(ds.val.labels.tolist()) == set(range(classes))  # stratified: every class


@pytest.mark.parametrize(
    ("name", "size"), [("fashion-mnist-12k", 28), ("mnist", 28), ("digits", 8)]
)
def test_shipped_datasets(name, size) -> None:
    _check(load_dataset(name), 10, 1, size)


def test_synthetic_at_any_resolution() -> None:
    ds = load_dataset("synthetic", resolution=24)
    _check(ds, 10, 3, 24)


def test_splits_are_deterministic_and_disjoint() -> None:
    a, b = load_dataset("digits", seed=3), load_dataset("digits", seed=3)
    assert torch.equal(a.val.images, b.val.images) and torch.equal(a.train.labels, b.train.labels)
    c = load_dataset("digits", seed=4)
    assert not torch.equal(a.val.images, c.val.images)
    train_rows = {bytes(x.numpy()) for x in a.train.images}
    assert not any(bytes(x.numpy()) in train_rows for x in a.val.images[:50])


def _write_cifar(root: Path, classes: int, per_batch: int) -> None:
    rng = np.random.default_rng(0)

    def batch(n: int, key: bytes) -> dict:
        return {
            b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
            key: [i % classes for i in range(n)],
        }

    if classes == 10:
        for i in range(1, 6):
            (root / f"data_batch_{i}").write_bytes(pickle.dumps(batch(per_batch, b"labels")))
        (root / "test_batch").write_bytes(pickle.dumps(batch(per_batch, b"labels")))
    else:
        (root / "train").write_bytes(pickle.dumps(batch(per_batch, b"fine_labels")))
        (root / "test").write_bytes(pickle.dumps(batch(per_batch, b"fine_labels")))
        (root / "meta").write_bytes(pickle.dumps({b"fine_label_names": [b"x"] * 100}))


def test_cifar10_python_layout(tmp_path: Path) -> None:
    inner = tmp_path / "cifar-10-batches-py"
    inner.mkdir()
    _write_cifar(inner, 10, 40)
    ds = load_dataset("cifar10", tmp_path)
    _check(ds, 10, 3, 32)
    assert len(ds.train) + len(ds.val) == 200 and len(ds.test) == 40


def test_cifar100_python_layout(tmp_path: Path) -> None:
    _write_cifar(tmp_path, 100, 300)
    ds = load_dataset("cifar100", tmp_path)
    _check(ds, 100, 3, 32)


def test_image_folder_train_val(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    for split, count in (("train", 6), ("val", 2)):
        for name in ("cat", "dog", "eel"):
            folder = tmp_path / split / name
            folder.mkdir(parents=True)
            for i in range(count):
                pixels = rng.integers(0, 256, (20 + i, 30, 3), dtype=np.uint8)
                suffix = ".png" if i % 2 else ".jpg"
                Image.fromarray(pixels).save(folder / f"{i}{suffix}")
    ds = load_dataset("imagefolder", tmp_path, resolution=16)
    _check(ds, 3, 3, 16)
    assert len(ds.test) == 6


@pytest.mark.parametrize(
    ("name", "make", "message"),
    [
        ("cifar10", lambda p: None, r"data_batch_1: missing; expected the CIFAR python layout"),
        (
            "cifar10",
            lambda p: (p / "data_batch_1").write_text("not a pickle"),
            r"data_batch_1: not a CIFAR python pickle",
        ),
        ("imagefolder", lambda p: None, r"no class folders; expected .*/<class>/<image>"),
        ("imagefolder", lambda p: (p / "cat").mkdir(), r"cat: empty class folder"),
    ],
)
def test_bad_directories_say_what_is_expected(tmp_path: Path, name, make, message) -> None:
    make(tmp_path)
    with pytest.raises(DatasetError, match=message):
        load_dataset(name, tmp_path)


def test_missing_directory_and_unknown_name(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match=r"nowhere: no such directory"):
        load_dataset("cifar10", tmp_path / "nowhere")
    with pytest.raises(DatasetError, match=r"give its folder with --data-dir"):
        load_dataset("cifar100")
    with pytest.raises(
        DatasetError, match=r"unknown dataset 'imagenet'; known datasets: fashion-mnist-12k, mnist"
    ):
        load_dataset("imagenet")


def test_prepare_batch_resizes_and_augments() -> None:
    images = torch.randint(0, 256, (4, 1, 28, 28), dtype=torch.uint8)
    evaluated = prepare_batch(images, 48, train=False, flip=False)
    assert evaluated.shape == (4, 3, 48, 48)
    assert evaluated.min() >= -1.0 and evaluated.max() <= 1.0
    g1, g2 = torch.Generator().manual_seed(0), torch.Generator().manual_seed(0)
    a = prepare_batch(images, 48, train=True, flip=True, generator=g1)
    b = prepare_batch(images, 48, train=True, flip=True, generator=g2)
    assert a.shape == (4, 3, 48, 48) and torch.equal(a, b)
    assert not torch.equal(a, evaluated)
