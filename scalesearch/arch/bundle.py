"""A model as a folder anyone can take home: its spec, its weights, and an ONNX graph.

    spec.json            the ArchSpec (rebuilds the module exactly)
    weights.safetensors  the state dict (safetensors: no pickle, loads anywhere)
    model.onnx           the graph for onnxruntime and friends: batch, height and width dynamic

`load(folder)` returns the module. The ONNX graph comes from torch.onnx's dynamo exporter
(torch.export, then onnxscript) at opset 18, which has the ops SDPA lowers to, with every
dimension but the channels dynamic; the TorchScript exporter (deprecated upstream, 10-40×
faster here: 0.5-2 s a model against 13-73 s, bench/onnx_exporters.py) is chosen by name or
taken as the fallback where the dynamo exporter fails. `onnx_difference` runs a graph in
onnxruntime against PyTorch.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import warnings
from pathlib import Path

import torch
from torch import nn

from scalesearch.arch.checkpoints import load_checkpoint, read_state_dict
from scalesearch.arch.model import HybridNet
from scalesearch.arch.spec import ArchSpec
from scalesearch.errors import CheckpointError

SPEC, WEIGHTS, ONNX = "spec.json", "weights.safetensors", "model.onnx"
OPSET = 18


def save_bundle(model: HybridNet, folder: str | Path) -> Path:
    """Writes spec.json and weights.safetensors of `model` into `folder`."""
    from safetensors.torch import save_file

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / SPEC).write_text(json.dumps(model.spec.to_dict(), indent=1, sort_keys=True))
    state = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    save_file(state, str(folder / WEIGHTS), metadata={"spec_hash": model.spec.spec_hash()})
    return folder


def load(folder: str | Path) -> HybridNet:
    """The module a bundle folder holds (eval mode), its weights checked key by key.

    Example:
        >>> model = scalesearch.load("cmt_compound.family-trial3")  # doctest: +SKIP
        >>> logits = model(images)  # (batch, 3, size, size) in [-1, 1]  # doctest: +SKIP
    """
    folder = Path(folder)
    if not (folder / SPEC).is_file():
        raise CheckpointError(f"{folder}: no {SPEC}; give a folder written by scalesearch export")
    spec = ArchSpec.from_json((folder / SPEC).read_text())
    model = HybridNet(spec)
    load_checkpoint(model, read_state_dict(folder / WEIGHTS), "scalesearch", str(folder / WEIGHTS))
    return model.eval()


EXPORTERS = ("dynamo", "torchscript")


def export_onnx(model: HybridNet, path: str | Path, exporter: str = "dynamo") -> Path:
    """The model's inference graph as ONNX, with dynamic batch, height and width, checked by
    `onnx.checker`.

    Raises:
        Exception: whatever the exporter raised (the caller may fall back to the other).
    """
    import onnx

    # The dynamo exporter's registry logs a warning for each torchvision op it cannot offer.
    logging.getLogger("torch.onnx._internal.exporter._registration").setLevel(logging.ERROR)
    path = Path(path)
    model = model.eval()
    size = model.spec.resolution
    example = (torch.randn(2, model.spec.in_chs, size, size),)
    with warnings.catch_warnings(), torch.no_grad(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notice
        if exporter == "dynamo":
            auto = torch.export.Dim.AUTO
            shapes = {"images": {0: auto, 2: auto, 3: auto}}
            torch.onnx.export(model, example, str(path), dynamo=True, dynamic_shapes=shapes,
                              input_names=["images"], output_names=["logits"],
                              opset_version=OPSET, external_data=False)  # fmt: skip
        else:
            axes = {"images": {0: "batch", 2: "height", 3: "width"}, "logits": {0: "batch"}}
            torch.onnx.export(model, example, str(path), dynamo=False, dynamic_axes=axes,
                              input_names=["images"], output_names=["logits"],
                              opset_version=OPSET)  # fmt: skip
    onnx.checker.check_model(str(path), full_check=True)
    return path


def onnx_difference(model: nn.Module, path: str | Path, resolution: int, batch: int = 3) -> float:
    """Largest |logit difference| between onnxruntime running `path` and PyTorch, on random
    images of side `resolution`."""
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    generator = torch.Generator().manual_seed(0)
    images = torch.randn(batch, 3, resolution, resolution, generator=generator)
    with torch.no_grad():
        expected = model.eval()(images)
    (logits,) = session.run(["logits"], {"images": images.numpy()})
    return float((torch.from_numpy(logits) - expected).abs().max())
