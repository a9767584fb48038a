"""The spaces at the papers' sizes: bases that are the presets, families beside the variants."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from PIL import Image

from scalesearch.arch.cost import count_cost
from scalesearch.arch.presets import PRESETS
from scalesearch.search.space import load_space
from scalesearch.train.data import load_dataset
from scalesearch.train.proxy import train_resolution

VARIANTS = {-2: "cmt-ti", -1: "cmt-xs", 0: "cmt-s", 1: "cmt-b"}


@pytest.mark.parametrize(
    ("space", "preset"), [("cmt_imagenet", "cmt-s"), ("cvt_imagenet", "cvt-13")]
)
def test_the_base_is_the_preset(space, preset) -> None:
    assert load_space(space).base.spec_hash() == PRESETS[preset].spec_hash()


def _family(equal_cost: bool):
    space = load_space("cmt_imagenet")
    space = dataclasses.replace(
        space, scaling=dataclasses.replace(space.scaling, equal_cost=equal_cost)
    )
    return {phi: space.realize(phi).spec for phi in VARIANTS}


def test_plain_rounding_lands_on_the_variants_sizes() -> None:
    for phi, spec in _family(equal_cost=False).items():
        variant = PRESETS[VARIANTS[phi]]
        assert spec.resolution == variant.resolution  # 160 / 192 / 224 / 256
        ratio = count_cost(spec).macs / count_cost(variant).macs
        assert 0.8 <= ratio <= 1.2, (phi, ratio)  # measured 1.03 / 1.06 / 1.00 / 1.19


def test_equal_cost_members_stay_within_a_fifth_of_the_variants() -> None:
    family = _family(equal_cost=True)
    for phi, spec in family.items():
        ratio = count_cost(spec).macs / count_cost(PRESETS[VARIANTS[phi]]).macs
        assert 0.8 <= ratio <= 1.2, (phi, ratio)  # measured 1.02 / 1.06 / 1.00 / 1.09
    # At equal cost φ = −2 keeps depth and takes a larger input (192) than CMT-Ti's 160.
    assert [family[phi].resolution for phi in (-1, 0, 1)] == [192, 224, 256]


def test_the_proxy_trains_at_half_the_input() -> None:
    space = load_space("cmt_imagenet")
    assert train_resolution(space.base, space.proxy) == 128  # 112, rounded to CMT's 32
    cvt = load_space("cvt_imagenet")
    assert train_resolution(cvt.base, cvt.proxy) == 112


def test_an_image_folder_is_read_in_part_when_a_proxy_needs_part(tmp_path) -> None:
    rng = np.random.default_rng(0)
    for split, per_class in (("train", 12), ("val", 5)):
        for name in ("cat", "dog", "owl"):
            folder = tmp_path / split / name
            folder.mkdir(parents=True)
            for i in range(per_class):
                pixels = rng.integers(0, 255, (20, 20, 3), dtype=np.uint8)
                Image.fromarray(pixels).save(folder / f"{i}.png")
    whole = load_dataset("imagefolder", tmp_path, resolution=16)
    part = load_dataset("imagefolder", tmp_path, resolution=16, max_images=12)
    assert len(whole.train) + len(whole.val) == 36 and len(whole.test) == 15
    assert len(part.train) + len(part.val) == 12 and len(part.test) == 12  # 4 a class
    assert part.num_classes == 3 and part.train.images.shape[-1] == 16
