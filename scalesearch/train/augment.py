"""The papers' training augmentation on batched tensors (DeiT's, which CvT and CMT use).

Per batch: RandomResizedCrop (area 8–100%, bicubic) to the model's input, horizontal flip
where the dataset allows it, RandAugment (2 ops, magnitude 9 of timm's 10), scaling to
[-1, 1], random erasing in timm's "pixel" mode, then Mixup or CutMix with label-smoothed
soft targets (timm's `Mixup`, batch mode). Crop, flip and RandAugment are kornia's; erasing
and the mix are written here because kornia's fill a constant and mix per sample, not as
timm does.

Seeded: `__call__(images, labels, seed)` draws everything from `seed` alone (kornia samples
from the global generator, so it runs inside a forked one), so the same batch and seed give
the same result on every rank and every run.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from scalesearch.train.recipes import Recipe

KORNIA_MAGNITUDES = 30  # kornia's RandAugment magnitude scale; timm's is 10


class RecipeAugment:
    """Training batches for a recipe: (uint8 images, labels) → (inputs, soft targets)."""

    def __init__(self, recipe: Recipe, resolution: int, num_classes: int, flip: bool) -> None:
        import kornia.augmentation as K
        from kornia.augmentation.auto import RandAugment

        self.recipe, self.num_classes = recipe, num_classes
        ops, magnitude = recipe.randaugment
        layers = [
            K.RandomResizedCrop((resolution, resolution), scale=recipe.crop_scale, resample="bicubic")
        ]  # fmt: skip
        if flip:
            layers.append(K.RandomHorizontalFlip())
        layers.append(RandAugment(n=ops, m=round(magnitude * KORNIA_MAGNITUDES / 10)))
        self.geometry_and_colour = torch.nn.Sequential(*layers)

    def __call__(self, images: Tensor, labels: Tensor, seed: int) -> tuple[Tensor, Tensor]:
        generator = torch.Generator().manual_seed(seed)
        x = images.float().div_(255.0)
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        devices = [x.device.index or 0] if x.device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(seed)
            x = self.geometry_and_colour(x).clamp_(0.0, 1.0)
        x = x.mul_(2.0).sub_(1.0)
        x = random_erasing(x, self.recipe.erasing_prob, generator)
        return mix(x, labels, self.num_classes, self.recipe, generator)


def smoothed_one_hot(labels: Tensor, num_classes: int, smoothing: float) -> Tensor:
    off = smoothing / num_classes
    targets = torch.full((len(labels), num_classes), off, device=labels.device)
    return targets.scatter_(1, labels[:, None], 1.0 - smoothing + off)


def mix(
    x: Tensor, labels: Tensor, num_classes: int, recipe: Recipe, generator: torch.Generator
) -> tuple[Tensor, Tensor]:
    """timm's batch-mode Mixup/CutMix: one λ per batch, mixed with the batch reversed; CutMix
    pastes a box of area 1 − λ and λ is corrected to the box's clipped area. Targets are
    the label-smoothed one-hots mixed by the same λ (they sum to 1)."""
    targets = smoothed_one_hot(labels, num_classes, recipe.label_smoothing)
    if torch.rand((), generator=generator).item() >= recipe.mix_prob:
        return x, targets
    cutmix = torch.rand((), generator=generator).item() < recipe.switch_prob
    alpha = recipe.cutmix_alpha if cutmix else recipe.mixup_alpha
    lam = _beta(alpha, generator)
    flipped = x.flip(0)
    if cutmix:
        (y0, y1, x0, x1), lam = _box(x.shape[-2], x.shape[-1], lam, generator)
        x = x.clone()
        x[:, :, y0:y1, x0:x1] = flipped[:, :, y0:y1, x0:x1]
    else:
        x = x * lam + flipped * (1.0 - lam)
    return x, targets * lam + targets.flip(0) * (1.0 - lam)


def _beta(alpha: float, generator: torch.Generator) -> float:
    """A Beta(α, α) draw from two seeded Gamma(α) draws: X / (X + Y)."""
    g = torch._standard_gamma(torch.full((2,), alpha, dtype=torch.float64), generator=generator)
    return float(g[0] / g.sum())


def _box(h: int, w: int, lam: float, generator: torch.Generator):
    """A CutMix box of area (1 − λ)·h·w centred uniformly, clipped to the image; the λ that
    the clipped box really leaves."""
    ratio = math.sqrt(1.0 - lam)
    cut_h, cut_w = int(h * ratio), int(w * ratio)
    cy = int(torch.randint(0, h, (), generator=generator))
    cx = int(torch.randint(0, w, (), generator=generator))
    y0, y1 = max(cy - cut_h // 2, 0), min(cy + cut_h // 2, h)
    x0, x1 = max(cx - cut_w // 2, 0), min(cx + cut_w // 2, w)
    return (y0, y1, x0, x1), 1.0 - (y1 - y0) * (x1 - x0) / (h * w)


def random_erasing(x: Tensor, prob: float, generator: torch.Generator) -> Tensor:
    """timm's RandomErasing, "pixel" mode, one box per image with probability `prob`: area
    2–33% of the image, aspect ratio log-uniform in [0.3, 3.3], filled with N(0, 1) noise
    per pixel and channel (up to 10 tries for a box that fits, as timm)."""
    if prob <= 0:
        return x
    n, c, h, w = x.shape
    chosen = torch.rand(n, generator=generator) < prob
    x = x.clone()
    for i in torch.nonzero(chosen).flatten().tolist():
        for _ in range(10):
            area = h * w * float(torch.empty(()).uniform_(0.02, 1 / 3, generator=generator))
            log_ratio = torch.empty(()).uniform_(
                math.log(0.3), math.log(1 / 0.3), generator=generator
            )
            aspect = math.exp(float(log_ratio))
            eh, ew = int(round(math.sqrt(area * aspect))), int(round(math.sqrt(area / aspect)))
            if eh < h and ew < w:
                top = int(torch.randint(0, h - eh + 1, (), generator=generator))
                left = int(torch.randint(0, w - ew + 1, (), generator=generator))
                noise = torch.randn(c, eh, ew, generator=generator).to(x.device, x.dtype)
                x[i, :, top : top + eh, left : left + ew] = noise
                break
    return x
