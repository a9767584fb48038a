"""Image folders (ImageNet's layout): root/train/<class>/ and root/val/<class>/ (val is the
test split), or root/<class>/ alone (then a test split is carved). Decoded into memory for
the proxy (only the share it needs), or listed for streaming (`scalesearch.train.stream`) in
final training.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from scalesearch.errors import DatasetError
from scalesearch.train.splits import Dataset, from_arrays, stratified_split
from scalesearch.train.stream import FileSplit, list_class_folder


def decode_folder(
    root: Path, resolution: int, max_images: int | None = None, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Decodes root/<class>/* at `resolution`; with `max_images`, a seeded share of every
    class (an equal number each) so that a proxy never decodes a whole ImageNet."""
    from PIL import Image

    files, labels, classes = list_class_folder(root)
    if max_images is not None:
        per_class = -(-max_images // len(classes))
        rng = np.random.default_rng(seed)
        keep = []
        for label in range(len(classes)):
            mine = np.flatnonzero(labels == label)
            keep += sorted(rng.choice(mine, min(per_class, len(mine)), replace=False).tolist())
        files, labels = [files[i] for i in keep], labels[keep]
    images = []
    for file in files:
        try:
            with Image.open(file) as image:
                image = image.convert("RGB").resize((resolution, resolution), Image.BILINEAR)
        except OSError as err:  # PIL's "cannot identify image file", truncated files
            raise DatasetError(
                f"{file}: not a readable image ({err}); remove or replace it"
            ) from None
        images.append(np.asarray(image).transpose(2, 0, 1))
    return np.stack(images), labels, classes


def load_image_folder(
    root: Path, resolution: int, val_fraction: float, seed: int, max_images: int | None
) -> Dataset:
    """ImageNet-style: root/train/<class>/ and root/val/<class>/ (val is the test split),
    or root/<class>/ alone (a test split is carved)."""
    if (root / "train").is_dir():
        images, labels, classes = decode_folder(root / "train", resolution, max_images, seed)
        test = None
        if (root / "val").is_dir():
            found = decode_folder(root / "val", resolution, max_images, seed)
            test_images, test_labels, test_classes = found
            if test_classes != classes:
                raise DatasetError(f"{root / 'val'}: class folders differ from {root / 'train'}")
            test = (test_images, test_labels)
        return from_arrays("imagefolder", images, labels, test, val_fraction, seed, flip=True)
    images, labels, _ = decode_folder(root, resolution, max_images, seed)
    return from_arrays("imagefolder", images, labels, None, val_fraction, seed, flip=True)


def stream_image_folder(root: Path, resolution: int, val_fraction: float, seed: int) -> Dataset:
    """The image folder's splits as file lists, split as `_load_image_folder` splits them."""
    top = root / "train" if (root / "train").is_dir() else root
    files, labels, classes = list_class_folder(top)
    if (root / "train").is_dir() and (root / "val").is_dir():
        test_files, test_labels, test_classes = list_class_folder(root / "val")
        if test_classes != classes:
            raise DatasetError(f"{root / 'val'}: class folders differ from {root / 'train'}")
    else:
        keep, held = stratified_split(labels, 0.2, seed + 1)
        test_files, test_labels = [files[i] for i in held], labels[held]
        files, labels = [files[i] for i in keep], labels[keep]
    train_idx, val_idx = stratified_split(labels, val_fraction, seed)

    def part(paths, values, index) -> FileSplit:
        picked = [paths[i] for i in index]
        return FileSplit(picked, torch.from_numpy(values[index].astype(np.int64)), resolution)

    return Dataset(
        "imagefolder",
        part(files, labels, train_idx),
        part(files, labels, val_idx),
        part(test_files, test_labels, np.arange(len(test_files))),
        num_classes=len(classes),
        flip=True,
    )
