"""The datasets shipped inside the package: what they hold, and that the tool remakes them."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from scalesearch.errors import DatasetError
from scalesearch.train.data import load_dataset
from scalesearch.train.embedded import EMBEDDED, read_arrays, write_arrays
from tests.test_idx import write_idx_dir

TOOL = Path(__file__).resolve().parents[1] / "tools" / "make_embedded_data.py"
# What tools/make_embedded_data.py printed when it made the shipped files.
DIGESTS = {
    "fashion-mnist-12k": "2f3674766fdfe02d8b6d9981740df2f93417a2a729300dcde2464e1a8dac8ccf",
    "mnist": "82ff6fc15703d4a56a49c3b93248441e4076fafb0d8d16cde4cfd03285bf6be5",
    "digits": "6ead8e3b63556296c0e8680a6cc63ad85f2998436070e7993592299d00fefe93",
}


def _tool():
    spec = importlib.util.spec_from_file_location("make_embedded_data", TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("name", sorted(EMBEDDED))
def test_each_shipped_file_holds_what_the_tool_made(name) -> None:
    entry = EMBEDDED[name]
    assert _tool().digest(read_arrays(entry.path)) == DIGESTS[name]
    assert (entry.path.parent / entry.notice).is_file()  # its licence travels with it


def test_the_default_dataset_is_a_stratified_fashion_mnist_subset_with_its_own_test() -> None:
    ds = load_dataset("fashion-mnist-12k")
    assert (len(ds.train), len(ds.val), len(ds.test)) == (9000, 1000, 2000)
    assert ds.flip and ds.num_classes == 10 and ds.train.images.shape[1:] == (1, 28, 28)
    for split, per_class in ((ds.val, 100), (ds.test, 200)):
        assert np.bincount(split.labels.numpy(), minlength=10).tolist() == [per_class] * 10


def test_mnist_keeps_its_5000_images_and_carved_test() -> None:
    ds = load_dataset("mnist")
    assert (len(ds.train), len(ds.val), len(ds.test)) == (3600, 400, 1000)
    assert not ds.flip


def test_digits_keep_their_1797_images_and_load_without_scikit_learn() -> None:
    ds = load_dataset("digits")
    assert (len(ds.train), len(ds.val), len(ds.test)) == (1295, 143, 359) and not ds.flip
    labels = np.concatenate([s.labels.numpy() for s in (ds.train, ds.val, ds.test)])
    # scikit-learn's class counts, and its pixels 0..16 stretched to 0..255
    assert np.bincount(labels).tolist() == [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]
    assert ds.train.images.shape[1:] == (1, 8, 8) and int(ds.train.images.max()) == 255
    # Every run's driver and every `train` loads its dataset: scikit-learn cost each 1.6 s.
    loaded = subprocess.run(
        [sys.executable, "-c", "import sys; from scalesearch.train.data import load_dataset; "
         "load_dataset('digits'); print('sklearn' in sys.modules)"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert loaded.stdout.strip() == "False"


def test_the_tool_makes_a_stratified_subset_from_idx_files(tmp_path, monkeypatch) -> None:
    tool = _tool()
    monkeypatch.setattr(tool, "PER_CLASS", {"train": 5, "test": 2})
    idx = write_idx_dir(tmp_path / "idx", n_train=200, n_test=60)
    tool.main(["fashion", "--idx-dir", str(idx), "--out", str(tmp_path / "out")])
    made = read_arrays(tmp_path / "out" / EMBEDDED["fashion-mnist-12k"].file)
    assert made["train_images"].shape == (50, 1, 12, 12) and made["test_images"].shape[0] == 20
    assert np.bincount(made["train_labels"]).tolist() == [5] * 10
    # Drawn with a fixed seed: made again, the same bytes.
    tool.main(["fashion", "--idx-dir", str(idx), "--out", str(tmp_path / "again")])
    again = read_arrays(tmp_path / "again" / EMBEDDED["fashion-mnist-12k"].file)
    assert tool.digest(again) == tool.digest(made)


def test_a_damaged_file_says_to_reinstall(tmp_path) -> None:
    path = tmp_path / "x.npz.xz"
    write_arrays(path, {"train_images": np.zeros((2, 1, 4, 4), np.uint8)})
    path.write_bytes(path.read_bytes()[:50])
    with pytest.raises(DatasetError, match="reinstall scalesearch"):
        read_arrays(path)
