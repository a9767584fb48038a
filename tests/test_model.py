"""The generator beyond the presets: hybrids, other input sizes, counted attention."""

from __future__ import annotations

import math

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from scalesearch.arch.cost import _EXTRA_FORMULAS, count_cost
from scalesearch.arch.model import HybridNet, build_model
from scalesearch.arch.presets import CVT_BLOCK, CVT_EMBEDS, PRESETS
from scalesearch.arch.spec import ArchSpec, BlockSpec, EmbedSpec, HeadSpec, StageSpec, StemSpec

CMT_BLOCK = BlockSpec(
    local_perception="lpu",
    attention="light",
    kv_reduction=2,
    ffn="irffn",
    mlp_ratio=4.0,
    norm_eps=1e-6,
)

HYBRIDS = {
    # CvT's overlapping embeddings carrying CMT blocks, with the CMT head.
    "cvt-embed-cmt-blocks": ArchSpec(
        "h1",
        32,
        (
            StageSpec(16, 1, 1, CVT_EMBEDS[0], CMT_BLOCK),
            StageSpec(
                32,
                2,
                2,
                CVT_EMBEDS[1],
                CMT_BLOCK.__class__(**{**CMT_BLOCK.__dict__, "kv_reduction": 1}),
            ),
        ),
        HeadSpec("conv_pool", hidden_dim=64),
        num_classes=5,
    ),
    # The CMT stem and 2×2 embeddings carrying CvT blocks, with a class token from stage 1.
    "cmt-embed-cvt-blocks": ArchSpec(
        "h2",
        32,
        (
            StageSpec(16, 1, 1, EmbedSpec(2, 2, 0), CVT_BLOCK),
            StageSpec(32, 2, 2, EmbedSpec(2, 2, 0), CVT_BLOCK, drop_path_rate=0.1),
        ),
        HeadSpec("cls_token", cls_stage=0),
        StemSpec(8),
        num_classes=5,
    ),
    # One block type per stage: ViT attention + MLP, then CMT's block; pooled head.
    "mixed-per-stage": ArchSpec(
        "h3",
        32,
        (
            StageSpec(16, 1, 2, EmbedSpec(4, 4, 0), BlockSpec()),
            StageSpec(32, 1, 2, EmbedSpec(2, 2, 0), CMT_BLOCK),
        ),
        HeadSpec("pool"),
        num_classes=5,
    ),
}


@pytest.mark.parametrize("name", sorted(HYBRIDS))
def test_hybrid_trains(name: str) -> None:
    torch.manual_seed(0)
    model = HybridNet(HYBRIDS[name])
    images, labels = torch.randn(8, 3, 32, 32), torch.arange(8) % 5
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(20):
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(images), labels)
        loss.backward()
        assert all(p.grad is not None for p in model.parameters())
        optimizer.step()
        losses.append(loss.item())
    assert all(map(math.isfinite, losses))
    # Measured with the official inits: 0.13–0.23 of the first loss after 20 steps.
    assert losses[-1] < 0.4 * losses[0]


def test_class_token_carried_between_widths_is_projected() -> None:
    model = HybridNet(HYBRIDS["cmt-embed-cvt-blocks"])
    assert model.stages[0].cls_token is not None
    assert (
        model.stages[1].cls_proj.in_features == 16 and model.stages[1].cls_proj.out_features == 32
    )


@pytest.mark.parametrize("name", ["cmt-ti", "cvt-13"])
def test_same_model_at_two_input_sizes(name: str) -> None:
    torch.manual_seed(0)
    model = build_model(name, num_classes=4, resolution=64).eval()
    with torch.no_grad():
        small, large = model(torch.randn(2, 3, 64, 64)), model(torch.randn(2, 3, 128, 128))
    assert small.shape == large.shape == (2, 4)
    assert torch.isfinite(large).all()


def test_relative_position_bias_is_resampled_not_rebuilt() -> None:
    model = build_model("cmt-ti", num_classes=4, resolution=64)
    bias = model.stages[0].rel_pos
    assert bias.bias.shape == (1, 16 * 16, 2 * 2)  # 64 → stem /2 → embed /2 = 16; kv 16/8 = 2
    resampled = bias((32, 32), (4, 4))
    assert resampled.shape == (1, 32 * 32, 4 * 4)
    assert torch.equal(bias((16, 16), (2, 2)), bias.bias)


def test_macs_grow_with_input_size() -> None:
    spec = PRESETS["cmt-ti"]
    assert count_cost(spec, 320).macs > 3.5 * count_cost(spec, 160).macs


def test_cpu_attention_kernel_is_counted() -> None:
    """On real CPU tensors SDPA runs a kernel torch's counter has no formula for."""
    spec = PRESETS["cvt-13"].replace(resolution=64)
    model = HybridNet(spec).eval().requires_grad_(False)
    counter = FlopCounterMode(display=False, custom_mapping=_EXTRA_FORMULAS)
    with counter:
        model(torch.randn(1, 3, 64, 64))
    assert counter.get_total_flops() // 2 == count_cost(spec).macs
