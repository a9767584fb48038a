"""Image folders streamed through DataLoader workers: decoded per batch, bad files skipped."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from scalesearch.train.data import load_dataset
from scalesearch.train.loop import Batching, batches, evaluate
from scalesearch.train.stream import FileSplit


def write_folder(root: Path, classes: int = 3, per_class: int = 10, corrupt: int = 1) -> Path:
    """An ImageNet-style folder of PNG and JPEG files, with `corrupt` unreadable ones."""
    rng = np.random.default_rng(0)
    for split, count in (("train", per_class), ("val", per_class // 2)):
        for c in range(classes):
            folder = root / split / f"class{c}"
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(count):
                pixels = rng.integers(0, 255, (24, 24, 3), dtype=np.uint8)
                Image.fromarray(pixels).save(folder / f"{i}.{'png' if i % 2 else 'jpg'}")
    for i in range(corrupt):
        (root / "train" / "class0" / f"broken{i}.jpg").write_bytes(b"not a jpeg at all")
    return root


def test_a_streamed_folder_lists_files_and_splits_as_the_loaded_one(tmp_path) -> None:
    write_folder(tmp_path, corrupt=0)
    streamed = load_dataset("imagefolder", tmp_path, resolution=16, stream=True)
    loaded = load_dataset("imagefolder", tmp_path, resolution=16)
    assert isinstance(streamed.train, FileSplit) and streamed.num_classes == 3
    assert streamed.train.labels.tolist() == loaded.train.labels.tolist()
    assert len(streamed.test) == len(loaded.test) == 15
    images, labels = next(batches(streamed.train, torch.arange(len(streamed.train)), 8))
    assert images.dtype == torch.uint8 and images.shape == (8, 3, 16, 16)
    first = loaded.train.images[:8]
    assert torch.equal(images, first)  # the same decode and resize as the in-memory path


def test_a_corrupt_image_is_skipped_with_a_warning_and_counted(tmp_path) -> None:
    write_folder(tmp_path, corrupt=2)
    data = load_dataset("imagefolder", tmp_path, resolution=16, stream=True, val_fraction=0.01)
    order = torch.arange(len(data.train))
    with pytest.warns(UserWarning, match="not a readable image, skipped"):
        seen = sum(len(labels) for _, labels in batches(data.train, order, 4))
    broken = [f for f in data.train.files if f.name.startswith("broken")]
    assert len(broken) == len(data.train.skipped) and seen == len(data.train) - len(broken)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 16 * 16, 3))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        accuracy, loss = evaluate(model, data.train, Batching(16, True, torch.device("cpu")))
    assert 0.0 <= accuracy <= 1.0 and np.isfinite(loss)  # over the images that decoded
