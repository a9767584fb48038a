"""The two ONNX exporters on the shipped spaces' φ = 1 members and two presets.

For each model: seconds to export with dynamic batch, height and width, and the largest
|logit difference| between onnxruntime and PyTorch at the build size and at a second size
(or the exporter's error), for torch.onnx's TorchScript exporter (what `scalesearch export`
uses) and its dynamo exporter (torch.export + onnxscript). Needs `pip install onnxscript`.

    python bench/onnx_exporters.py [--models cmt_compound cvt-13 ...]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import tempfile
import time
import warnings
from pathlib import Path

import torch

from scalesearch.arch.bundle import OPSET, export_onnx, onnx_difference
from scalesearch.arch.model import HybridNet
from scalesearch.arch.presets import PRESETS
from scalesearch.arch.scaling import resolution_multiple
from scalesearch.search.space import load_space

MODELS = ("cmt_compound", "cvt_compound", "hybrid_compound", "cmt-ti", "cvt-13")


def build(name: str) -> HybridNet:
    torch.manual_seed(0)
    spec = PRESETS[name] if name in PRESETS else load_space(name).member(1.0)
    return HybridNet(spec).eval()


def export_dynamo(model: HybridNet, path: Path) -> None:
    size = model.spec.resolution
    auto = torch.export.Dim.AUTO
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model,
            (torch.randn(2, model.spec.in_chs, size, size),),
            str(path),
            dynamo=True,
            input_names=["images"],
            output_names=["logits"],
            dynamic_shapes={"images": {0: auto, 2: auto, 3: auto}},
            opset_version=OPSET,
        )


def measure(model: HybridNet, exporter, folder: Path) -> str:
    sizes = (model.spec.resolution, model.spec.resolution + 2 * resolution_multiple(model.spec))
    path = folder / f"{exporter.__name__}.onnx"
    started = time.perf_counter()
    try:
        exporter(model, path)
    except Exception as err:  # noqa: BLE001 - the table reports it
        return f"export failed after {time.perf_counter() - started:.1f} s: {type(err).__name__}"
    seconds = time.perf_counter() - started
    cells = []
    for size in sizes:
        try:
            cells.append(f"{onnx_difference(model, path, size):.1e} at {size} px")
        except Exception as err:  # noqa: BLE001
            cells.append(f"fails at {size} px ({type(err).__name__})")
    return f"{seconds:.1f} s; " + ", ".join(cells)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=list(MODELS))
    args = parser.parse_args()
    print("| model | TorchScript exporter | dynamo exporter |\n|---|---|---|")
    for name in args.models:
        model = build(name)
        with tempfile.TemporaryDirectory() as tmp:
            old = measure(model, export_onnx, Path(tmp))
            new = measure(model, export_dynamo, Path(tmp))
        print(f"| {name} ({model.spec.resolution} px) | {old} | {new} |", flush=True)


if __name__ == "__main__":
    main()
