"""The IDX reader on files the tests write in the real format, and Debian's Fashion-MNIST."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import pytest

from scalesearch.cli.main import main
from scalesearch.errors import DatasetError
from scalesearch.train import data as data_module
from scalesearch.train.data import load_dataset
from scalesearch.train.idx import FASHION_MNIST_DIR, read_idx


def write_idx(path: Path, array: np.ndarray, compress: bool = False) -> Path:
    """An IDX file: 0x0000, type 0x08 (ubyte), ndim, big-endian uint32 dims, the values."""
    raw = struct.pack(">BBBB", 0, 0, 0x08, array.ndim)
    raw += b"".join(struct.pack(">I", n) for n in array.shape) + array.astype(np.uint8).tobytes()
    if compress:
        path = path.with_name(path.name + ".gz")
        raw = gzip.compress(raw)
    path.write_bytes(raw)
    return path


def write_idx_dir(root: Path, n_train: int = 120, n_test: int = 40, compress: bool = False):
    rng = np.random.default_rng(0)
    root.mkdir(parents=True, exist_ok=True)
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        labels = np.arange(n) % 10
        images = (rng.random((n, 12, 12)) * 60).astype(np.uint8) + (labels[:, None, None] * 19)
        write_idx(root / f"{prefix}-images-idx3-ubyte", images, compress)
        write_idx(root / f"{prefix}-labels-idx1-ubyte", labels, compress)
    return root


@pytest.mark.parametrize("compress", [False, True])
def test_reads_raw_and_gzipped_idx(tmp_path, compress) -> None:
    array = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    path = write_idx(tmp_path / "x-idx3-ubyte", array, compress)
    assert np.array_equal(read_idx(path), array)


def test_an_idx_directory_is_a_dataset(tmp_path) -> None:
    root = write_idx_dir(tmp_path / "kmnist", compress=True)
    data = load_dataset("idx", root, seed=0)
    assert data.num_classes == 10 and data.train.images.shape[1:] == (1, 12, 12)
    assert len(data.train) + len(data.val) == 120 and len(data.test) == 40
    assert not data.flip  # a generic IDX set may hold digits


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda raw: b"\x08\x03" + raw[2:], "not an IDX file (magic number 0803"),
        (lambda raw: raw[:-7], "truncated or padded"),
        (lambda raw: raw[:6], "truncated inside its header"),
        (lambda raw: b"", "magic number missing"),
    ],
)
def test_a_damaged_file_is_a_one_line_error(tmp_path, damage, message, capsys) -> None:
    root = write_idx_dir(tmp_path / "set")
    path = root / "train-images-idx3-ubyte"
    path.write_bytes(damage(path.read_bytes()))
    with pytest.raises(DatasetError, match=message.replace("(", r"\(")):
        load_dataset("idx", root)
    args = ["proxy", "cmt_compound", "--phi", "-2", "--dataset", "idx", "--data-dir", str(root)]
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and err.count("\n") == 0 and str(path) in err


def test_a_missing_file_names_the_expected_name(tmp_path) -> None:
    root = write_idx_dir(tmp_path / "set")
    (root / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(DatasetError, match="no test labels file .*t10k-labels-idx1"):
        load_dataset("idx", root)


def test_fashion_mnist_without_the_package_names_apt_and_data_dir(monkeypatch, tmp_path) -> None:
    monkeypatch.setattr(data_module, "FASHION_MNIST_DIR", tmp_path / "absent")
    with pytest.raises(DatasetError, match=r"apt-get install dataset-fashion-mnist.*--data-dir"):
        load_dataset("fashion-mnist")


@pytest.mark.skipif(
    not FASHION_MNIST_DIR.is_dir(),
    reason="Debian's dataset-fashion-mnist is not installed (.ci/run installs it)",
)
def test_debian_fashion_mnist_loads_in_full() -> None:
    data = load_dataset("fashion-mnist", seed=0)
    assert len(data.train) + len(data.val) == 60_000 and len(data.test) == 10_000
    assert data.num_classes == 10 and data.flip
    assert data.train.images.shape[1:] == (1, 28, 28)
    assert np.bincount(data.test.labels.numpy()).tolist() == [1000] * 10
