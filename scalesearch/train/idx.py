"""The IDX format of the MNIST family (MNIST, Fashion-MNIST, KMNIST, EMNIST), gzipped or not.

An IDX file is a 4-byte magic number — two zero bytes, a type code, the number of
dimensions — then each dimension as a big-endian uint32, then the values in C order. A
directory holds four of them: training and test images (3 dimensions) and labels (1).
Debian's `dataset-fashion-mnist` installs Fashion-MNIST's under FASHION_MNIST_DIR.
"""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path

import numpy as np

from scalesearch.errors import DatasetError

FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")
# Type codes of the IDX format, and the numpy dtype each stores (big-endian).
_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
# The four files, by the patterns their names follow in every MNIST-family release.
_PARTS = {
    "train images": ("*train-images*idx3*",),
    "train labels": ("*train-labels*idx1*",),
    "test images": ("*t10k-images*idx3*", "*test-images*idx3*"),
    "test labels": ("*t10k-labels*idx1*", "*test-labels*idx1*"),
}


def read_idx(path: Path) -> np.ndarray:
    """The array in one IDX file (`.gz` is decompressed).

    Raises:
        DatasetError: not IDX (the magic number is wrong), truncated, or unreadable.
    """
    try:
        raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    except (OSError, EOFError, zlib.error) as err:
        raise DatasetError(f"{path}: cannot be read ({err})") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _TYPES:
        raise DatasetError(
            f"{path}: not an IDX file (magic number {raw[:4].hex() or 'missing'}; IDX starts "
            f"with 0000, a type code and the number of dimensions)"
        )
    dtype, ndim = np.dtype(_TYPES[raw[2]]), raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DatasetError(f"{path}: truncated inside its header ({len(raw)} bytes)")
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    expected = int(np.prod(shape)) * dtype.itemsize
    if len(raw) - header != expected:
        raise DatasetError(
            f"{path}: truncated or padded: shape {shape} needs {expected:,} bytes of values, "
            f"the file has {len(raw) - header:,}"
        )
    return np.frombuffer(raw, dtype, offset=header).reshape(shape).astype(dtype.newbyteorder("="))


def load_idx_dir(root: Path) -> tuple[np.ndarray, np.ndarray, tuple[np.ndarray, np.ndarray]]:
    """(train images (N, 1, H, W) uint8, train labels, (test images, test labels)) of `root`.

    Raises:
        DatasetError: a file is missing, malformed, or images and labels disagree.
    """
    arrays = {part: read_idx(_find(root, part)) for part in _PARTS}
    split = {}
    for name in ("train", "test"):
        images, labels = arrays[f"{name} images"], arrays[f"{name} labels"]
        if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
            raise DatasetError(
                f"{root}: {name} images {images.shape} and labels {labels.shape} do not pair "
                f"(expected (N, H, W) and (N,))"
            )
        split[name] = (images.astype(np.uint8)[:, None], labels.astype(np.int64))
    return split["train"][0], split["train"][1], split["test"]


def _find(root: Path, part: str) -> Path:
    for pattern in _PARTS[part]:
        found = sorted(root.glob(pattern))
        if found:
            return found[0]
    raise DatasetError(
        f"{root}: no {part} file (expected a name like "
        f"{_PARTS[part][0].strip('*').replace('*', '-')}-ubyte, optionally .gz, as in the "
        f"MNIST-family releases)"
    )
