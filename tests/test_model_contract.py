"""What every model offers, over every preset and every shipped space's base: features
before the head, a replaceable classifier, parts built by registry (timm's contract)."""

from __future__ import annotations

import typing

import pytest
import torch

from scalesearch.arch import parts
from scalesearch.arch.model import HybridNet
from scalesearch.arch.presets import PRESETS, get_preset
from scalesearch.arch.registry import create, part_names
from scalesearch.arch.spec import BlockSpec, HeadSpec
from scalesearch.errors import SpecError
from scalesearch.search.space import list_spaces, load_space

# Each kind of part and the spec's Literal type that names its values.
KINDS = {
    "local_perception": parts.LocalPerception,
    "attention": parts.AttentionKind,
    "ffn": parts.FeedForwardKind,
    "act": parts.Activation,
    "head": parts.HeadKind,
}


@pytest.mark.parametrize("kind", KINDS)
def test_every_name_a_spec_may_hold_has_a_builder_and_no_other(kind) -> None:
    assert part_names(kind) == typing.get_args(KINDS[kind])


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_every_preset_offers_features_and_a_replaceable_classifier(name) -> None:
    spec = get_preset(name)
    with torch.device("meta"):  # the full-size presets, shapes only
        model = HybridNet(spec, init_weights=False)
        grid, cls = model.forward_features(torch.empty(2, 3, spec.resolution, spec.resolution))
        assert grid.shape[0] == 2 and grid.shape[-1] == spec.stages[-1].dim
        assert (cls is not None) == (spec.head.kind == "cls_token")
        model.reset_classifier(7)
        assert model.spec.num_classes == 7
        assert model.head(grid, cls).shape == (2, 7)


@pytest.mark.parametrize("space", list_spaces())
def test_every_space_base_is_its_head_over_its_features_and_fine_tunes(space) -> None:
    base = load_space(space).base
    size = base.total_stride * 2  # the smallest input the base takes twice over
    torch.manual_seed(0)
    model = HybridNet(base.replace(num_classes=4, resolution=max(size, 32))).eval()
    images = torch.randn(2, 3, model.spec.resolution, model.spec.resolution)
    with torch.no_grad():
        assert torch.equal(model(images), model.head(*model.forward_features(images)))
    old = {k: v.clone() for k, v in model.state_dict().items() if not k.startswith("head.")}
    model.reset_classifier(3)
    kept = {k: v for k, v in model.state_dict().items() if not k.startswith("head.")}
    assert all(torch.equal(old[k], kept[k]) for k in old)  # only the head is new
    logits = model.train()(images)
    assert logits.shape == (2, 3)
    logits.logsumexp(1).sum().backward()
    assert all(p.grad is not None for p in model.head.parameters())


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: BlockSpec(ffn="kan"), "block.ffn must be one of mlp, irffn, but got 'kan'"),
        (lambda: BlockSpec(attention="flash"), "block.attention must be one of linear, conv"),
        (lambda: HeadSpec(kind="mlp"), "head.kind must be one of cls_token, conv_pool, pool"),
        (lambda: create("ffn", "kan", None), "ffn must be one of mlp, irffn, but got 'kan'"),
    ],
)
def test_an_unknown_part_is_the_spec_s_one_line_error(make, message) -> None:
    with pytest.raises(SpecError, match=message.replace("(", r"\(")) as err:
        make()
    assert "\n" not in str(err.value)
