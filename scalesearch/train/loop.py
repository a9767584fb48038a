"""The one training loop, shared by the proxy and the final (DeepSpeed) trainer.

What differs between them hides behind `Stepper`: a plain module with its optimizer, or a
DeepSpeed engine. Batches, the loss, the stop at a non-finite loss, evaluation and the
weight-decay parameter groups are written once, here.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Protocol

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from scalesearch.train.data import prepare_batch
from scalesearch.train.splits import Split
from scalesearch.train.stream import FileSplit, file_batches


class Stepper(Protocol):
    """A trainable model: call it on a batch, then `step` on the loss."""

    def __call__(self, x: Tensor) -> Tensor: ...

    def step(self, loss: Tensor) -> None: ...


class PlainStepper:
    """A module with its optimizer and per-step scheduler: backward, clip, step (and update a
    moving average of the weights, where one is kept)."""

    def __init__(
        self,
        model: nn.Module,
        optimizer: torch.optim.Optimizer,
        scheduler: torch.optim.lr_scheduler.LRScheduler,
        grad_clip: float,
        averaged: torch.optim.swa_utils.AveragedModel | None = None,
    ) -> None:
        self.model, self.optimizer, self.scheduler = model, optimizer, scheduler
        self.grad_clip, self.averaged = grad_clip, averaged

    def __call__(self, x: Tensor) -> Tensor:
        return self.model(x)

    def step(self, loss: Tensor) -> None:
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.grad_clip)
        self.optimizer.step()
        self.scheduler.step()
        if self.averaged is not None:
            self.averaged.update_parameters(self.model)


class Augment(Protocol):
    """A recipe's training augmentation: uint8 batch and labels → inputs and soft targets,
    drawn from `seed` alone (`scalesearch.train.augment.RecipeAugment`)."""

    def __call__(self, images: Tensor, labels: Tensor, seed: int) -> tuple[Tensor, Tensor]: ...


@dataclass(frozen=True)
class Batching:
    """How images become model inputs: size, augmentation, device and dtype.

    Training batches get the light augmentation (crop, flip: `prepare_batch`) unless an
    `augment` is given, which then makes the inputs and soft targets.
    """

    resolution: int
    flip: bool
    device: torch.device
    dtype: torch.dtype = torch.float32
    channels_last: bool = False
    augment: Augment | None = None

    def inputs(self, images: Tensor, train: bool, generator: torch.Generator | None) -> Tensor:
        x = prepare_batch(images, self.resolution, train, self.flip, generator)
        return self._placed(x)

    def training_batch(
        self, images: Tensor, labels: Tensor, generator: torch.Generator | None, seed: int
    ) -> tuple[Tensor, Tensor]:
        """(inputs, targets): class indices, or soft targets where a recipe mixes them."""
        if self.augment is None:
            return self.inputs(images, True, generator), labels.to(self.device)
        x, targets = self.augment(images, labels, seed)
        return self._placed(x), targets.to(self.device)

    def _placed(self, x: Tensor) -> Tensor:
        x = x.to(self.device, self.dtype, non_blocking=True)
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last else x


@dataclass(frozen=True)
class EpochStats:
    losses: list[float]  # per step; a non-finite loss, if any, is the last (and not stepped)
    images: int  # images trained on
    seconds: float

    @property
    def diverged(self) -> bool:
        return bool(self.losses) and not math.isfinite(self.losses[-1])

    @property
    def mean_loss(self) -> float:
        return sum(self.losses) / len(self.losses) if self.losses else float("nan")


def batches(
    split: Split | FileSplit, order: Tensor, batch_size: int
) -> Iterator[tuple[Tensor, Tensor]]:
    """(images, labels) of `split` in `order`, `batch_size` at a time (the last may be short);
    a streamed split's files are decoded by worker processes as they are needed."""
    if isinstance(split, FileSplit):
        yield from file_batches(split, order, batch_size)
        return
    for begin in range(0, len(order), batch_size):
        index = order[begin : begin + batch_size]
        yield split.images[index], split.labels[index]


def train_epoch(
    model: Stepper,
    data: Iterable[tuple[Tensor, Tensor]],
    batching: Batching,
    generator: torch.Generator | None,
    label_smoothing: float = 0.0,
    autocast: contextlib.AbstractContextManager | None = None,
    augment_seed: int = 0,
) -> EpochStats:
    """One pass over `data`; stops at the first non-finite loss (returned last, not stepped).

    Step i of the epoch augments with seed `augment_seed + i` where a recipe augments.
    Soft targets carry their own smoothing; `label_smoothing` applies to class indices.
    """
    start = time.perf_counter()
    losses: list[float] = []
    images = 0
    for step, (raw, labels) in enumerate(data):
        x, y = batching.training_batch(raw, labels, generator, augment_seed + step)
        with autocast or contextlib.nullcontext():
            logits = model(x)
        smoothing = 0.0 if y.is_floating_point() else label_smoothing
        loss = F.cross_entropy(logits.float(), y, label_smoothing=smoothing)
        value = loss.item()
        losses.append(value)
        if not math.isfinite(value):
            break
        model.step(loss)
        images += len(y)
    return EpochStats(losses, images, time.perf_counter() - start)


@torch.no_grad()
def evaluate(
    model: nn.Module,
    split: Split,
    batching: Batching,
    batch_size: int = 256,
    autocast: contextlib.AbstractContextManager | None = None,
    tta_flip: bool = False,
) -> tuple[float, float]:
    """Top-1 accuracy and mean cross-entropy of `model` on `split` (eval mode, no
    augmentation; with `tta_flip`, the mean of the log-probabilities of each image and its
    mirror)."""
    model.eval()
    correct, loss_sum, seen = 0, 0.0, 0
    for raw, labels in batches(split, torch.arange(len(split)), batch_size):
        x = batching.inputs(raw, train=False, generator=None)
        y = labels.to(batching.device)
        with autocast or contextlib.nullcontext():
            logits = model(x).float()
            if tta_flip:
                mirrored = model(x.flip(-1)).float()
                logits = (logits.log_softmax(1) + mirrored.log_softmax(1)) / 2
        loss_sum += F.cross_entropy(logits, y, reduction="sum").item()
        correct += (logits.argmax(1) == y).sum().item()
        seen += len(labels)
    # Over the images evaluated: a streamed split skips files that do not decode.
    return correct / max(seen, 1), loss_sum / max(seen, 1)


@torch.no_grad()
def refresh_batchnorm(
    model: nn.Module,
    split: Split,
    batching: Batching,
    images: int = 256,
    batch_size: int = 64,
    autocast: contextlib.AbstractContextManager | None = None,
) -> None:
    """Recomputes the BatchNorm statistics of `model` on its first `images` training images.

    An average of weights is not trained with the average of their statistics: in a short
    run the weights still move, and the averaged BatchNorm buffers describe none of them
    (a 150-step proxy validated its EMA at 19-46% against 61-70% for its last weights).
    SWA's cure (`torch.optim.swa_utils.update_bn`), on a few batches: a cumulative average
    of the batch statistics (momentum None), without augmentation, the rest of the model in
    eval mode as validation runs it (no dropout: the training's random stream is untouched).
    """
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not norms:
        return
    momenta = [m.momentum for m in norms]
    model.eval()
    for norm in norms:
        norm.reset_running_stats()
        norm.momentum = None
        norm.train()
    for raw, _ in batches(split, torch.arange(min(images, len(split))), batch_size):
        with autocast or contextlib.nullcontext():
            model(batching.inputs(raw, train=False, generator=None))
    for norm, momentum in zip(norms, momenta, strict=True):
        norm.momentum = momentum


def param_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    """AdamW groups as the official CvT and CMT recipes: no decay on biases, norms (every
    tensor of one dimension), nor on the parameters the model lists in `no_weight_decay()`
    (class tokens, relative position biases). Decaying those pulls them toward zero for no
    regularising gain."""
    skip = model.no_weight_decay() if hasattr(model, "no_weight_decay") else set()
    decay, no_decay = [], []
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        (no_decay if param.ndim <= 1 or name in skip else decay).append(param)
    return [
        {"params": decay, "weight_decay": weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]
