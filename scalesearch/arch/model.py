"""Builds an `nn.Module` from an `ArchSpec`: the one generator of the CvT–CMT family."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import Tensor, nn

from scalesearch.arch.blocks import Block, ConvEmbedding, ConvStem, RelativePositionBias, to_nchw
from scalesearch.arch.checkpoints import (
    detect_layout,
    load_checkpoint,
    read_state_dict,
    spec_for_checkpoint,
)
from scalesearch.arch.init import initialize
from scalesearch.arch.presets import get_preset
from scalesearch.arch.registry import create
from scalesearch.arch.spec import ArchSpec, StageGeometry, StageSpec


class Stage(nn.Module):
    """Token embedding, an optional class token or carried-in class token, then blocks."""

    def __init__(
        self,
        in_chs: int,
        spec: StageSpec,
        geometry: StageGeometry,
        drop_path: tuple[float, ...],
        cls_mode: str,
        cls_in_chs: int,
    ) -> None:
        """`cls_mode` is "none", "join" (the class token starts here) or "carry" (it arrives)."""
        super().__init__()
        embed, block = spec.embed, spec.block
        self.embed = ConvEmbedding(in_chs, spec.dim, embed.kernel_size, embed.stride, embed.padding)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, spec.dim)) if cls_mode == "join" else None
        # A class token carried in from a narrower stage is projected to this width (as PiT).
        carry = cls_mode == "carry" and cls_in_chs != spec.dim
        self.cls_proj = nn.Linear(cls_in_chs, spec.dim) if carry else None
        self.rel_pos = None
        if block.attention == "light":
            self.rel_pos = RelativePositionBias(
                spec.num_heads,
                (geometry.height, geometry.width),
                (geometry.kv_height, geometry.kv_width),
            )
        self.blocks = nn.ModuleList(
            Block(
                spec.dim,
                create("attention", block.attention, spec),
                create("ffn", block.ffn, spec),
                create("local_perception", block.local_perception, spec),
                norm_eps=block.norm_eps,
                drop_path=rate,
            )
            for rate in drop_path
        )

    def forward(self, x: Tensor, cls: Tensor | None) -> tuple[Tensor, Tensor | None]:
        """(B, C_in, H, W) and a class token → (B, H', W', C) grid and class token."""
        x = self.embed(x)
        if self.cls_token is not None:
            cls = self.cls_token.expand(x.shape[0], -1, -1)
        elif self.cls_proj is not None:
            cls = self.cls_proj(cls)
        bias = None
        if self.rel_pos is not None:
            grid = (x.shape[1], x.shape[2])
            # Keys come from a kernel-k, stride-k conv: the floor rule gives their grid.
            k = self.blocks[0].attn.kv_conv
            kv_grid = grid if k is None else tuple(s // k.conv.stride[0] for s in grid)
            bias = self.rel_pos(grid, kv_grid)
        for block in self.blocks:
            x, cls = block(x, cls, bias)
        return x, cls


class HybridNet(nn.Module):
    """[stem] → stages → head. Takes (B, in_chs, H, W) images, returns (B, classes) logits.

    As timm's models: `forward_features` gives the last stage's tokens (and class token)
    before the head, `reset_classifier` replaces the head for another class count.
    """

    def __init__(self, spec: ArchSpec, init_weights: bool = True) -> None:
        """`init_weights=False` leaves PyTorch's default init (a count on `meta` needs no
        weights, and the official init is a quarter of a count's time)."""
        super().__init__()
        self.spec = spec
        self.stem = ConvStem(spec.in_chs, spec.stem.out_chs) if spec.stem is not None else None
        in_chs = spec.stem.out_chs if spec.stem is not None else spec.in_chs
        geometry = spec.geometry(spec.resolution)
        stages = []
        for i, (stage, grid, rates) in enumerate(
            zip(spec.stages, geometry, spec.drop_path_rates())
        ):
            stages.append(Stage(in_chs, stage, grid, rates, _cls_mode(i, spec.cls_stage), in_chs))
            in_chs = stage.dim
        self.stages = nn.ModuleList(stages)
        self.head = create("head", spec.head.kind, spec)
        if init_weights:
            initialize(self, spec.init)

    def forward_features(self, images: Tensor) -> tuple[Tensor, Tensor | None]:
        """(B, in_chs, H, W) images → the last stage's (B, H', W', C) grid and its class
        token (None without one)."""
        if self.stem is not None:
            # The stem's convs and BatchNorms are fastest in channels-last, as the rest is.
            x = self.stem(images.contiguous(memory_format=torch.channels_last))
        else:
            x = images
        cls = None
        for i, stage in enumerate(self.stages):
            x, cls = stage(x if i == 0 else to_nchw(x), cls)
        return x, cls

    def forward(self, images: Tensor) -> Tensor:
        return self.head(*self.forward_features(images))

    def reset_classifier(self, num_classes: int) -> None:
        """A fresh head for `num_classes` classes (fine-tuning), initialised as the spec's
        rule initialises heads; the spec follows."""
        self.spec = self.spec.replace(num_classes=num_classes)
        self.head = create("head", self.spec.head.kind, self.spec)
        initialize(self.head, self.spec.init)

    def no_weight_decay(self) -> set[str]:
        """Parameters an optimizer should not decay: class tokens and relative position
        biases (timm's convention; biases and norms are found by their one dimension)."""
        names = set()
        for prefix, module in self.named_modules():
            if isinstance(module, RelativePositionBias):
                names.add(f"{prefix}.bias")
            elif isinstance(module, Stage) and module.cls_token is not None:
                names.add(f"{prefix}.cls_token")
        return names


def _cls_mode(index: int, cls_stage: int) -> str:
    if cls_stage < 0 or index < cls_stage:
        return "none"
    return "join" if index == cls_stage else "carry"


def build_model(
    name_or_spec: str | ArchSpec,
    num_classes: int | None = None,
    resolution: int | None = None,
    weights: str | Path | None = None,
) -> HybridNet:
    """Builds a network from a preset name or a spec, optionally with published weights.

    Args:
        name_or_spec: a preset name (see `scalesearch.arch.presets.list_presets`) or an ArchSpec.
        num_classes: overrides the spec's number of classes (default with `weights`: the
            checkpoint's).
        resolution: overrides the input size the network is built for (a checkpoint's
            relative position biases are resampled to it).
        weights: a checkpoint in our layout, the official CMT or CvT one, or Hugging Face's
            CvT (`scalesearch.arch.checkpoints`); a HF CvT is built with HF's GELU.

    Raises:
        CheckpointError: the weights do not fit the model (keys named).

    Example:
        >>> model = build_model("cmt-ti", num_classes=10, resolution=64)
        >>> model(torch.randn(2, 3, 64, 64)).shape
        torch.Size([2, 10])
    """
    spec = spec_with_overrides(name_or_spec, num_classes, resolution)
    if weights is None:
        return HybridNet(spec)
    state = read_state_dict(weights)
    layout = detect_layout(state, str(weights))
    if num_classes is None:
        spec = spec_for_checkpoint(spec, state, layout)
    else:
        spec = spec_for_checkpoint(spec, state, layout).replace(num_classes=num_classes)
    model = HybridNet(spec)
    load_checkpoint(model, state, layout, str(weights))
    return model


def spec_with_overrides(
    name_or_spec: str | ArchSpec,
    num_classes: int | None = None,
    resolution: int | None = None,
) -> ArchSpec:
    """The spec for a preset name or spec, with optional class-count and resolution overrides."""
    spec = get_preset(name_or_spec) if isinstance(name_or_spec, str) else name_or_spec
    changes = {}
    if num_classes is not None:
        changes["num_classes"] = num_classes
    if resolution is not None:
        changes["resolution"] = resolution
    return spec.replace(**changes) if changes else spec
