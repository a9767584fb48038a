"""The papers' training recipes, as one table, and the rule that fits them to a run.

Facts from the official code (../shared/reference/architectures.md, "Recipes"):

- CvT (`experiments/imagenet/cvt/*.yaml`, `tools/train.py`): AdamW lr 2.5e-4 at the paper's
  total batch 2048 — the trainer passes `TRAIN.LR` to the optimizer unscaled — wd 0.05,
  300 epochs, warm-up 5 from 1e-6, cosine to 1e-5, cool-down 10; label smoothing 0.1, Mixup
  0.8 / CutMix 1.0, RandAugment m9, random erasing 0.25, no EMA, no gradient clipping.
- CMT (DeiT's script, `cmt_pytorch/train.py` and README): the command's `--lr` is per 512
  images, scaled linearly to the total batch by the script; the augmentation as CvT's; EMA
  on by default (decay 0.99996) unless the command says otherwise. Per variant:

| variant | total batch | lr (per 512) | wd | epochs | warm-up from | min lr | EMA |
|---|---|---|---|---|---|---|---|
| Ti | 8×256 | 8e-4 | 0.05 | 800 | 1e-7 | 1e-5 | none |
| XS | 8×256 | 7e-4 | 0.04 | 400 | 1e-6 | 2e-5 | 0.9998 |
| S | 8×128 | 5e-4 | 0.05 | 300 | 1e-7 | 1e-5 | 0.99996 |
| B | 8×64 | 5e-4 | 0.05 | 300 | 1e-6 | 2e-5 | 0.99996 |

Fitting a recipe to a run of T steps at total batch b (`RecipePlan`), stated once:
- learning rate: the official run's effective (lr, batch) scaled by √(b / batch) — the
  square-root rule for Adam-type optimizers (timm's `lr_base_scale` for adaptive ones);
  linear scaling from 2048 down to a laptop's 64 would divide CvT's lr by 32;
- warm-up and cool-down: the same fractions of the run as of the official schedule;
- EMA: the same horizon 1/(1 − decay) as a fraction of all steps (ImageNet-1k's 1,281,167
  training images give the official step counts), so decay = 1 − 1/(horizon · T / T_ref).

Not reproduced: DeiT's repeated augmentation (RASampler), RandAugment's magnitude noise
(mstd 0.5) and increasing severity, colour jitter (timm ignores it once RandAugment is on),
bicubic eval resize with crop 0.875 (evaluation resizes the whole image, as the proxy does).
"""

from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass

from scalesearch.errors import ConfigError

IMAGENET_TRAIN_IMAGES = 1_281_167
RECIPES = ("light", "cvt", "cmt")


@dataclass(frozen=True)
class Recipe:
    """One official training recipe (ImageNet-1k, from scratch)."""

    name: str
    lr: float  # effective peak lr of the official run, at `batch`
    batch: int  # the official run's total batch
    weight_decay: float
    epochs: int
    warmup_epochs: float
    warmup_lr: float
    min_lr: float
    cooldown_epochs: int
    ema_decay: float | None
    label_smoothing: float = 0.1
    mixup_alpha: float = 0.8
    cutmix_alpha: float = 1.0
    mix_prob: float = 1.0
    switch_prob: float = 0.5  # timm's default: CutMix instead of Mixup half the time
    randaugment: tuple[int, int] = (2, 9)  # (ops per image, magnitude of 10)
    erasing_prob: float = 0.25
    crop_scale: tuple[float, float] = (0.08, 1.0)  # RandomResizedCrop's area range
    grad_clip: float = 0.0  # 0: none, as both official codes


def _cmt(variant: str, per_512: float, batch: int, wd, epochs, warmup_lr, min_lr, ema):
    return Recipe(
        name=f"cmt ({variant})",
        lr=per_512 * batch / 512,  # DeiT's linear_scaled_lr, as the official run used it
        batch=batch,
        weight_decay=wd,
        epochs=epochs,
        warmup_epochs=20,
        warmup_lr=warmup_lr,
        min_lr=min_lr,
        cooldown_epochs=10,
        ema_decay=ema,
    )


CVT = Recipe(
    name="cvt",
    lr=2.5e-4,
    batch=2048,
    weight_decay=0.05,
    epochs=300,
    warmup_epochs=5,
    warmup_lr=1e-6,
    min_lr=1e-5,
    cooldown_epochs=10,
    ema_decay=None,
)
CMT = {
    "cmt-ti": _cmt("CMT-Ti", 8e-4, 2048, 0.05, 800, 1e-7, 1e-5, None),
    "cmt-xs": _cmt("CMT-XS", 7e-4, 2048, 0.04, 400, 1e-6, 2e-5, 0.9998),
    "cmt-s": _cmt("CMT-S", 5e-4, 1024, 0.05, 300, 1e-7, 1e-5, 0.99996),
    "cmt-b": _cmt("CMT-B", 5e-4, 512, 0.05, 300, 1e-6, 2e-5, 0.99996),
}


def recipe_for(name: str, model_name: str) -> Recipe | None:
    """The recipe called `name` for a model: None for "light" (the proxy's augmentation and
    the DeepSpeed config's optimizer); "cmt" takes the row of the CMT variant the model is
    (by its name), CMT-S's otherwise — the paper's main model, and DeiT's defaults."""
    if name not in RECIPES:
        raise ConfigError(f"recipe must be one of {', '.join(RECIPES)}, but got {name!r}")
    if name == "light":
        return None
    if name == "cvt":
        return CVT
    named = (r for key, r in CMT.items() if re.match(rf"{re.escape(key)}(?![a-z0-9])", model_name))
    return next(named, CMT["cmt-s"])


@dataclass(frozen=True)
class RecipePlan:
    """A recipe fitted to one run: every number the optimizer, schedule and EMA use."""

    recipe: Recipe
    lr: float
    warmup_lr: float
    min_lr: float
    warmup_steps: int
    cosine_steps: int  # warm-up included; constant min_lr after (the cool-down)
    total_steps: int
    ema_decay: float | None

    def lr_at(self, step: int) -> float:
        """timm's cosine schedule in steps: linear warm-up, cosine to min_lr, cool-down."""
        if step < self.warmup_steps:
            return self.warmup_lr + (self.lr - self.warmup_lr) * step / self.warmup_steps
        span = max(self.cosine_steps - self.warmup_steps, 1)
        t = min((step - self.warmup_steps) / span, 1.0)
        return self.min_lr + 0.5 * (self.lr - self.min_lr) * (1 + math.cos(math.pi * t))

    def describe(self) -> str:
        ema = "none" if self.ema_decay is None else f"{self.ema_decay:.5f}"
        return (
            f"recipe {self.recipe.name}: lr {self.lr:.3g} (√-scaled from {self.recipe.lr:.3g} "
            f"at batch {self.recipe.batch}), wd {self.recipe.weight_decay}, warm-up "
            f"{self.warmup_steps} of {self.total_steps} steps, EMA {ema}, Mixup/CutMix, "
            f"RandAugment, erasing {self.recipe.erasing_prob}"
        )


def plan(recipe: Recipe, total_batch: int, total_steps: int) -> RecipePlan:
    """Fits `recipe` to a run of `total_steps` steps of `total_batch` images (module doc)."""
    scale = math.sqrt(total_batch / recipe.batch)
    length = recipe.epochs + recipe.cooldown_epochs
    warmup = round(total_steps * recipe.warmup_epochs / length)
    cosine = round(total_steps * recipe.epochs / length)
    ema = None
    if recipe.ema_decay is not None:
        official_steps = length * IMAGENET_TRAIN_IMAGES / recipe.batch
        horizon = total_steps / official_steps / (1.0 - recipe.ema_decay)  # in this run's steps
        ema = max(0.0, 1.0 - 1.0 / horizon) if horizon > 1 else 0.0
    return RecipePlan(
        recipe=recipe,
        lr=recipe.lr * scale,
        warmup_lr=recipe.warmup_lr * scale,
        min_lr=recipe.min_lr * scale,
        warmup_steps=max(warmup, 1),
        cosine_steps=max(cosine, 2),
        total_steps=total_steps,
        ema_decay=ema,
    )


def as_record(value: RecipePlan | None) -> str:
    """The recipe as the final-runs table records it."""
    if value is None:
        return "light"
    fields = dataclasses.asdict(value)
    fields.pop("recipe")
    return f"{value.recipe.name} " + " ".join(f"{k}={v:.4g}" for k, v in fields.items() if v)
