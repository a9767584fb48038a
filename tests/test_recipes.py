"""The papers' recipes: the table against the official facts, the fitting rule, and each
augmentation on, seeded and the same in every process."""

from __future__ import annotations

import math
import multiprocessing
from pathlib import Path

import pytest
import torch

from scalesearch.errors import ConfigError
from scalesearch.train.augment import RecipeAugment, mix, random_erasing
from scalesearch.train.recipes import CMT, CVT, plan, recipe_for

ROOT = Path(__file__).resolve().parents[1]


def test_the_table_holds_the_official_numbers() -> None:
    assert (CVT.lr, CVT.batch, CVT.weight_decay, CVT.epochs, CVT.warmup_epochs) == (
        2.5e-4, 2048, 0.05, 300, 5,
    )  # fmt: skip
    assert (CVT.warmup_lr, CVT.min_lr, CVT.cooldown_epochs, CVT.ema_decay) == (1e-6, 1e-5, 10, None)
    # DeiT's script scales the command's lr by total batch / 512.
    ti, xs, s, b = (CMT[k] for k in ("cmt-ti", "cmt-xs", "cmt-s", "cmt-b"))
    assert ti.lr == pytest.approx(8e-4 * 4) and ti.ema_decay is None and ti.epochs == 800
    assert xs.lr == pytest.approx(7e-4 * 4) and xs.ema_decay == 0.9998 and xs.weight_decay == 0.04
    assert s.lr == pytest.approx(5e-4 * 2) and s.ema_decay == 0.99996 and s.warmup_lr == 1e-7
    assert b.lr == pytest.approx(5e-4) and b.min_lr == 2e-5 and b.batch == 512
    for recipe in (CVT, ti, xs, s, b):
        assert (recipe.mixup_alpha, recipe.cutmix_alpha, recipe.label_smoothing) == (0.8, 1.0, 0.1)
        assert (recipe.randaugment, recipe.erasing_prob, recipe.grad_clip) == ((2, 9), 0.25, 0.0)


def test_a_model_gets_its_variant_row() -> None:
    assert recipe_for("cmt", "cmt-xs") is CMT["cmt-xs"]
    assert recipe_for("cmt", "cmt-b-phi1") is CMT["cmt-b"]
    assert recipe_for("cmt", "cmt-base") is CMT["cmt-s"]  # a space's base is not CMT-B
    assert recipe_for("cvt", "anything") is CVT and recipe_for("light", "cmt-ti") is None
    with pytest.raises(ConfigError, match="recipe must be one of light, cvt, cmt"):
        recipe_for("deit", "cmt-ti")


def test_the_fitting_rule() -> None:
    fitted = plan(CMT["cmt-xs"], total_batch=512, total_steps=820)
    assert fitted.lr == pytest.approx(CMT["cmt-xs"].lr * math.sqrt(512 / 2048))
    assert fitted.warmup_steps == round(820 * 20 / 410)  # 20 of 400 + 10 cool-down epochs
    assert fitted.cosine_steps == round(820 * 400 / 410)
    # EMA horizon: 5,000 of the official 410 × 1,281,167 / 2048 steps, the same share here.
    share = 5000 / (410 * 1_281_167 / 2048)
    assert 1 / (1 - fitted.ema_decay) == pytest.approx(share * 820)
    lrs = [fitted.lr_at(step) for step in range(820)]
    assert lrs[0] == fitted.warmup_lr and max(lrs) == pytest.approx(fitted.lr, rel=1e-3)
    assert lrs[fitted.warmup_steps] == pytest.approx(fitted.lr)
    assert lrs[fitted.cosine_steps] == pytest.approx(fitted.min_lr)
    assert lrs[-1] == pytest.approx(fitted.min_lr)  # the cool-down holds min_lr
    assert all(a >= b for a, b in zip(lrs[fitted.warmup_steps :], lrs[fitted.warmup_steps + 1 :]))


def _batch(n: int = 16, channels: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(7)
    images = torch.randint(0, 256, (n, channels, 28, 28), dtype=torch.uint8, generator=g)
    return images, torch.arange(n) % 10


def _augmented(seed: int, global_seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    torch.manual_seed(global_seed)  # the process's own generator must not matter
    augment = RecipeAugment(CMT["cmt-s"], 32, 10, flip=True)
    return augment(*_batch(), seed=seed)


def test_the_same_seed_gives_the_same_batch_in_every_process() -> None:
    x, y = _augmented(11)
    again = _augmented(11, global_seed=12345)
    assert torch.equal(x, again[0]) and torch.equal(y, again[1])
    with multiprocessing.get_context("spawn").Pool(1) as pool:  # another rank, fresh process
        other = pool.apply(_augmented, (11, 99))
    assert torch.equal(x, other[0]) and torch.equal(y, other[1])
    different = _augmented(12)
    assert not torch.equal(x, different[0])
    assert x.shape == (16, 3, 32, 32) and y.shape == (16, 10)


def test_mixed_targets_sum_to_one_and_follow_the_pixels() -> None:
    x = torch.stack([torch.full((3, 20, 20), float(i)) for i in range(6)])
    labels = torch.arange(6)
    cutmix_only = CVT.__class__(**{**CVT.__dict__, "switch_prob": 1.0, "label_smoothing": 0.0})
    mixed, targets = mix(x, labels, 6, cutmix_only, torch.Generator().manual_seed(3))
    assert torch.allclose(targets.sum(1), torch.ones(6))
    for i in range(6):  # the share of pasted pixels is the share of the partner's label
        pasted = (mixed[i] == 5 - i).float().mean().item()
        assert targets[i, 5 - i].item() == pytest.approx(pasted, abs=1e-6)
    mixup_only = CVT.__class__(**{**CVT.__dict__, "switch_prob": 0.0})
    blended, soft = mix(x, labels, 6, mixup_only, torch.Generator().manual_seed(3))
    # Smoothing 0.1: each one-hot is 0.1/6 off, 0.9 + 0.1/6 on; mixed by λ and 1 − λ.
    lam = (soft[0, 0].item() - 0.1 / 6) / 0.9
    assert torch.allclose(soft.sum(1), torch.ones(6))
    assert 0 < lam < 1 and blended[0, 0, 0, 0].item() == pytest.approx(5 * (1 - lam), rel=1e-4)


def test_random_erasing_fills_a_box_with_noise() -> None:
    x = torch.zeros(8, 3, 24, 24)
    erased = random_erasing(x, 1.0, torch.Generator().manual_seed(0))
    for image in erased:
        share = (image[0] != 0).float().mean().item()
        assert 0.015 <= share <= 0.34  # 2–33% of the image, rounded to whole pixels
    assert torch.equal(random_erasing(x, 0.0, torch.Generator()), x)


def test_each_part_of_the_augmentation_is_on() -> None:
    images, labels = _batch(channels=3)
    plain = CMT["cmt-s"].__class__(
        **{**CMT["cmt-s"].__dict__, "mix_prob": 0.0, "erasing_prob": 0.0, "crop_scale": (1.0, 1.0)}
    )
    base = RecipeAugment(plain, 28, 10, flip=False)
    x, y = base(images, labels, seed=1)
    assert torch.equal(y.argmax(1), labels)  # no mix: the smoothed one-hot of each label
    assert y.max().item() == pytest.approx(0.91)
    resized = images.float() / 127.5 - 1
    assert not torch.allclose(x, resized, atol=1e-3)  # RandAugment changed the images
    crop = RecipeAugment(
        CMT["cmt-s"].__class__(**{**plain.__dict__, "crop_scale": (0.08, 0.1)}), 28, 10, False
    )
    cropped, _ = crop(images, labels, seed=1)
    assert not torch.allclose(cropped, x, atol=1e-3)


def test_an_unknown_recipe_is_one_line(tmp_path, capsys) -> None:
    from scalesearch.cli.main import main

    code = main(["train", "--run-dir", str(tmp_path), "--trial", "0", "--recipe", "deit"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "recipe must be one of light, cvt, cmt" in err and "\n" not in err
