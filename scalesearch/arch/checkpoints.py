"""Weights in and out: the published checkpoints mapped onto the block family, key by key.

Four layouts are known, each an explicit rename of scalesearch's own state-dict keys:

- "scalesearch": ours (a safetensors file of `model.state_dict()`).
- "cmt-official": huawei-noah's CMT (`stem_conv1`, `patch_embed_a`, `blocks_a.0.attn.sr.0`,
  `relative_pos_a`, `_fc`, `head`; IRFFN 1×1s are convs of shape (out, in, 1, 1)).
- "cvt-official": microsoft/CvT (`stage0.patch_embed`, `attn.conv_proj_q.bn`, `norm`, `head`).
- "cvt-hf": Hugging Face transformers' `CvtForImageClassification` (`cvt.encoder.stages.0.
  layers.0.attention.attention.projection_query`, `layernorm`, `classifier`). HF's CvT uses
  GELU where the official code uses QuickGELU, so a model loaded from it is built with GELU.

A relative position bias saved at another input size is resampled to the model's, as the
model resamples it at run time. Anything that does not fit is one `CheckpointError` line
naming the keys.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import pickle
import re
import warnings
from pathlib import Path

import torch
from torch import Tensor, nn

from scalesearch.arch.blocks import resample_position_bias
from scalesearch.arch.spec import ArchSpec
from scalesearch.errors import CheckpointError

LAYOUTS = ("scalesearch", "cmt-official", "cvt-official", "cvt-hf")
CLASSIFIER = "head.fc"  # our classifier's module name


def _sub(rules: list[tuple[str, str]], key: str) -> str:
    for pattern, replacement in rules:
        key = re.sub(pattern, replacement, key)
    return key


_LETTER = {str(i): c for i, c in enumerate("abcdefgh")}
_CMT_BLOCK = [
    (r"\.lpu\.conv\.", ".proj."),
    (r"\.attn\.kv_conv\.conv\.", ".attn.sr.0."),
    (r"\.attn\.kv_conv\.norm\.", ".attn.sr.1."),
    (r"\.ffn\.expand\.", ".mlp.conv1.0."),
    (r"\.ffn\.expand_norm\.", ".mlp.conv1.2."),
    (r"\.ffn\.dwconv\.", ".mlp.proj."),
    (r"\.ffn\.dw_norm\.", ".mlp.proj_bn."),
    (r"\.ffn\.project\.", ".mlp.conv2.0."),
    (r"\.ffn\.project_norm\.", ".mlp.conv2.1."),
]
_STEM = {"0": "conv1", "2": "norm1", "3": "conv2", "5": "norm2", "6": "conv3", "8": "norm3"}


def _cmt_name(key: str) -> str:
    key = re.sub(r"^stem\.layers\.(\d)\.", lambda m: f"stem_{_STEM[m[1]]}.", key)
    key = re.sub(r"^stages\.(\d)\.embed\.", lambda m: f"patch_embed_{_LETTER[m[1]]}.", key)
    key = re.sub(r"^stages\.(\d)\.rel_pos\.bias$", lambda m: f"relative_pos_{_LETTER[m[1]]}", key)
    key = re.sub(r"^stages\.(\d)\.blocks\.", lambda m: f"blocks_{_LETTER[m[1]]}.", key)
    return _sub([*_CMT_BLOCK, (r"^head\.conv\.", "_fc."), (r"^head\.norm\.", "_bn."),
                 (r"^head\.fc\.", "head.")], key)  # fmt: skip


_CVT = [
    (r"^stages\.(\d)\.embed\.", r"stage\1.patch_embed."),
    (r"^stages\.(\d)\.", r"stage\1."),
    (r"\.attn\.([qkv])_conv\.conv\.", r".attn.conv_proj_\1.conv."),
    (r"\.attn\.([qkv])_conv\.norm\.", r".attn.conv_proj_\1.bn."),
    (r"\.attn\.([qkv])\.", r".attn.proj_\1."),
    (r"\.ffn\.", ".mlp."),
    (r"^head\.norm\.", "norm."),
    (r"^head\.fc\.", "head."),
]
_QKV = {"q": "query", "k": "key", "v": "value"}
_HF = [
    (r"^stages\.(\d)\.embed\.proj\.", r"cvt.encoder.stages.\1.embedding.convolution_embeddings.projection."),
    (r"^stages\.(\d)\.embed\.norm\.", r"cvt.encoder.stages.\1.embedding.convolution_embeddings.normalization."),
    (r"^stages\.(\d)\.cls_token$", r"cvt.encoder.stages.\1.cls_token"),
    (r"^stages\.(\d)\.blocks\.", r"cvt.encoder.stages.\1.layers."),
    (r"\.norm1\.", ".layernorm_before."),
    (r"\.norm2\.", ".layernorm_after."),
    (r"\.attn\.proj\.", ".attention.output.dense."),
    (r"\.ffn\.fc1\.", ".intermediate.dense."),
    (r"\.ffn\.fc2\.", ".output.dense."),
    (r"^head\.norm\.", "layernorm."),
    (r"^head\.fc\.", "classifier."),
]  # fmt: skip


def _hf_name(key: str) -> str:
    conv = r"\.attn\.([qkv])_conv\.(conv|norm)\."
    key = re.sub(
        conv,
        lambda m: (
            f".attention.attention.convolution_projection_{_QKV[m[1]]}."
            f"convolution_projection.{'convolution' if m[2] == 'conv' else 'normalization'}."
        ),
        key,
    )
    key = re.sub(
        r"\.attn\.([qkv])\.", lambda m: f".attention.attention.projection_{_QKV[m[1]]}.", key
    )
    return _sub(_HF, key)


RENAME = {
    "scalesearch": lambda key: key,
    "cmt-official": _cmt_name,
    "cvt-official": lambda key: _sub(_CVT, key),
    "cvt-hf": _hf_name,
}
# A key only that layout has, to tell the layouts apart.
_MARKERS = {
    "cmt-official": "relative_pos_a",
    "cvt-official": "stage0.patch_embed.proj.weight",
    "cvt-hf": "cvt.encoder.stages.0.embedding.convolution_embeddings.projection.weight",
    "scalesearch": "stages.0.embed.proj.weight",
}


def read_state_dict(path: str | Path) -> dict[str, Tensor]:
    """The tensors of a weights file: safetensors, a torch pickle (a bare state dict, or one
    under "model" / "state_dict" as training scripts save them), or a Hugging Face folder."""
    path = Path(path)
    if path.is_dir():
        found = [
            path / n for n in ("model.safetensors", "pytorch_model.bin") if (path / n).is_file()
        ]
        if not found:
            raise CheckpointError(f"{path}: no model.safetensors or pytorch_model.bin in it")
        path = found[0]
    if not path.is_file():
        raise CheckpointError(f"{path}: no such weights file")
    from safetensors import SafetensorError

    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(path))
        else:
            # DeiT-style training scripts pickle their argparse Namespace beside the weights.
            with torch.serialization.safe_globals([argparse.Namespace]), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        with path.open("rb") as head:
            is_pickle = head.read(1) == b"\x80"  # a pickle of protocol 2 and later opens so
        if not is_pickle:
            raise CheckpointError(f"{path}: not a readable weights file (not a pickle)") from None
        raise CheckpointError(
            f"{path}: not a weights file: a pickle holding more than tensors, which torch "
            f"refuses to load as weights"
        ) from None
    except (OSError, RuntimeError, ValueError, SafetensorError, EOFError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise CheckpointError(f"{path}: not a readable weights file ({first[:160]})") from None
    for wrapper in ("model", "state_dict", "module"):
        if isinstance(state, dict) and isinstance(state.get(wrapper), dict):
            state = state[wrapper]
            break
    if not isinstance(state, dict):
        raise CheckpointError(f"{path}: holds a {type(state).__name__}, not a state dict")
    return {k.removeprefix("module."): v for k, v in state.items() if isinstance(v, Tensor)}


def detect_layout(state: dict[str, Tensor], source: str = "checkpoint") -> str:
    for layout, marker in _MARKERS.items():
        if marker in state:
            return layout
    first = ", ".join(repr(k) for k in list(state)[:3])
    raise CheckpointError(
        f"{source}: not a layout scalesearch knows (official CMT, official CvT, Hugging Face "
        f"CvT or scalesearch's own); its first keys are {first}"
    )


def spec_for_checkpoint(spec: ArchSpec, state: dict[str, Tensor], layout: str) -> ArchSpec:
    """`spec` as the checkpoint's model was built: its class count, and GELU for HF's CvT."""
    classifier = state.get(RENAME[layout](f"{CLASSIFIER}.weight"))
    if classifier is not None and classifier.ndim == 2:
        spec = spec.replace(num_classes=int(classifier.shape[0]))
    if layout == "cvt-hf":
        stages = tuple(
            dataclasses.replace(s, block=dataclasses.replace(s.block, act="gelu"))
            if s.block.ffn == "mlp"
            else s
            for s in spec.stages
        )
        spec = spec.replace(stages=stages)
    return spec


def to_layout(state: dict[str, Tensor], layout: str) -> dict[str, Tensor]:
    """Our state dict under another layout's names and shapes (IRFFN 1×1s as convs in CMT's)."""
    rename = RENAME[layout]
    out = {}
    for key, value in state.items():
        if layout == "cmt-official" and re.search(r"\.ffn\.(expand|project)\.weight$", key):
            value = value[:, :, None, None]
        out[rename(key)] = value
    return out


def load_checkpoint(
    model: nn.Module, state: dict[str, Tensor], layout: str, source: str, keep_classifier=True
) -> list[str]:
    """Copies a checkpoint in `layout` into `model`; returns notes on what was adapted.

    With `keep_classifier=False` a classifier of another class count is left as initialised
    (fine-tuning on a new dataset), and said so in the notes.

    Raises:
        CheckpointError: missing, unexpected or misshaped keys, named.
    """
    ours = model.state_dict()
    names = {RENAME[layout](k): k for k in ours}
    missing = [theirs for theirs in names if theirs not in state]
    unexpected = [k for k in state if k not in names]
    where = f"{source} ({layout} layout)"
    _refuse(missing, f"{where}: missing", "the checkpoint is of another architecture?")
    _refuse(unexpected, f"{where}: unexpected", "the checkpoint is of another architecture?")
    notes, loaded = [], {}
    for theirs, key in names.items():
        value, target = state[theirs], ours[key]
        if value.shape != target.shape:
            value = _adapt(key, theirs, value, target, where, keep_classifier, notes)
            if value is None:
                continue
        loaded[key] = value.to(target.dtype)
    model.load_state_dict({**ours, **loaded})
    return notes


def _adapt(key, theirs, value, target, where, keep_classifier, notes) -> Tensor | None:
    if value.numel() == target.numel() and value.squeeze().shape == target.squeeze().shape:
        return value.reshape(target.shape)  # a 1×1 conv stored for our Linear
    if key.endswith("rel_pos.bias") and value.shape[0] == target.shape[0]:
        old = (math.isqrt(value.shape[1]),) * 2, (math.isqrt(value.shape[2]),) * 2
        new = (math.isqrt(target.shape[1]),) * 2, (math.isqrt(target.shape[2]),) * 2
        notes.append(f"{key}: resampled from a {old[0][0]}² grid to {new[0][0]}²")
        return resample_position_bias(value.float(), *old, *new)
    if key.startswith(CLASSIFIER) and not keep_classifier:
        notes.append(f"{key}: {tuple(value.shape)} in the checkpoint, newly initialised as "
                     f"{tuple(target.shape)} for this dataset's classes")  # fmt: skip
        return None
    raise CheckpointError(
        f"{where}: {theirs!r} has shape {tuple(value.shape)} but the model's {key!r} has "
        f"{tuple(target.shape)}; build the model the checkpoint was saved from"
    )


def _refuse(keys: list[str], what: str, hint: str) -> None:
    if keys:
        shown = ", ".join(repr(k) for k in keys[:3])
        more = f" and {len(keys) - 3} more" if len(keys) > 3 else ""
        raise CheckpointError(f"{what} key{'s' if len(keys) > 1 else ''} {shown}{more}; {hint}")
