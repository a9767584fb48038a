"""Proxy training: a few cheap epochs that rank architectures (`train_proxy`).

Knows nothing of Ray or Optuna: the search reports and early-stops through `on_epoch`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import torch

from scalesearch.arch.cost import count_cost, count_params
from scalesearch.arch.latency import Latency, measure_latency
from scalesearch.arch.model import HybridNet
from scalesearch.arch.scaling import resolution_multiple, round_resolution
from scalesearch.arch.spec import ArchSpec
from scalesearch.stats import binomial_se
from scalesearch.train.config import ProxyConfig
from scalesearch.train.data import Dataset, Split
from scalesearch.train.loop import (
    Batching,
    PlainStepper,
    batches,
    evaluate,
    param_groups,
    train_epoch,
)
from scalesearch.train.precision import resolve_precision

Status = Literal["completed", "stopped", "diverged"]


@dataclass(frozen=True)
class EpochResult:
    epoch: int  # 1-based
    val_accuracy: float
    val_loss: float
    train_loss: float  # mean over the epoch's steps
    seconds: float  # since training started


@dataclass(frozen=True)
class ProxyResult:
    """What a proxy trial measured; the per-epoch lists are read off `epochs`."""

    status: Status
    reason: str | None
    train_loss_sum: float  # sum of every step's training loss: a strong ranking signal
    params: int
    macs: int
    resolution: int
    images_per_second: float  # training images per second (evaluation excluded)
    seconds: float
    device: str
    val_images: int = 0  # images each validation accuracy is measured on
    epochs: list[EpochResult] = field(default_factory=list)
    latency: Latency | None = None  # inference latency, measured before training
    precision: str = "fp32"  # what it trained in ("auto" resolved)

    @property
    def val_accuracy_se(self) -> float:
        """Binomial standard error of `val_accuracy`."""
        return binomial_se(self.val_accuracy, self.val_images)

    @property
    def val_accuracies(self) -> list[float]:
        return [e.val_accuracy for e in self.epochs]

    @property
    def val_accuracy(self) -> float:
        """The last completed epoch's validation accuracy (0 if none completed)."""
        return self.epochs[-1].val_accuracy if self.epochs else 0.0

    @property
    def val_losses(self) -> list[float]:
        return [e.val_loss for e in self.epochs]

    @property
    def train_losses(self) -> list[float]:
        return [e.train_loss for e in self.epochs]

    def to_dict(self) -> dict:
        data = {k: v for k, v in self.__dict__.items() if k not in ("epochs", "latency")}
        data.update(
            latency=None if self.latency is None else self.latency.to_dict(),
            val_accuracy=self.val_accuracy,
            val_accuracy_se=self.val_accuracy_se,
            val_accuracies=self.val_accuracies,
            val_losses=self.val_losses,
            train_losses=self.train_losses,
            epochs=[e.__dict__ for e in self.epochs],
        )
        return data


EpochCallback = Callable[[EpochResult], bool | None]


def pick_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def proxy_splits(data: Dataset, config: ProxyConfig) -> tuple[Split, Split]:
    """(train, validation) of a proxy trial, seeded.

    Training: the share of the training split given by `subset` and `max_train_images`.
    Validation: the dataset's validation split, or with `val_images` that many images drawn
    from it and from the training images the proxy does not train on, so that a proxy on
    1,200 images is ranked on thousands (its binomial standard error shrinks as 1/√n), or
    on all of them where fewer are left.
    """
    n = len(data.train)
    keep = max(1, int(round(n * config.subset)))
    if config.max_train_images is not None:
        keep = min(keep, config.max_train_images)
    order = torch.randperm(n, generator=torch.Generator().manual_seed(config.seed + 7))
    train = _take(data.train, order[:keep].sort().values) if keep < n else data.train
    if config.val_images is None:
        return train, data.val
    unused = _take(data.train, order[keep:].sort().values)
    pool = Split(
        torch.cat([data.val.images, unused.images]), torch.cat([data.val.labels, unused.labels])
    )
    # A dataset smaller than the space was sized for (e.g. --dataset digits) validates on all
    # it has; the result records how many, and its standard error follows.
    pick = torch.randperm(len(pool), generator=torch.Generator().manual_seed(config.seed + 11))
    return train, _take(pool, pick[: config.val_images].sort().values)


def _take(split: Split, index: torch.Tensor) -> Split:
    return Split(split.images[index], split.labels[index])


def warmup_cosine(step: int, warmup: int, total: int) -> float:
    """LR multiplier: linear warm-up to 1 over `warmup` steps, then cosine to 0 at `total`."""
    if step < warmup:
        return (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))


def train_proxy(
    spec: ArchSpec,
    data: Dataset,
    config: ProxyConfig = ProxyConfig(),
    on_epoch: EpochCallback | None = None,
    device: torch.device | None = None,
    macs: int | None = None,
    latency_batch: int | None = None,
    on_latency: Callable[[Latency], None] | None = None,
) -> ProxyResult:
    """Trains `spec` (its class count set to the data's) and validates after every epoch.

    Args:
        spec: the architecture; trained at its own resolution.
        data: the dataset (validation ranks; test is never touched here).
        config: the schedule.
        on_epoch: called after each epoch; returning False stops the trial ("stopped").
        device: defaults to CUDA when present (then channels-last).
        macs: the spec's MACs when the caller counted them already (the search driver
            does; counting takes about half a second).
        latency_batch: measure inference latency at batch 1 and this batch before training
            (on the trial's device and threads; about half a second), and pass it to
            `on_latency` before the first epoch.

    A non-finite loss ends the trial with status "diverged" and the reason, not an error.
    """
    device = device or pick_device()
    torch.set_num_threads(config.threads)
    torch.manual_seed(config.seed)
    spec = spec.replace(num_classes=data.num_classes)
    macs = count_cost(spec).macs if macs is None else macs
    model = HybridNet(spec).to(device)
    cuda = device.type == "cuda"
    if cuda:
        model = model.to(memory_format=torch.channels_last)
    latency = None
    if latency_batch is not None:
        latency = measure_latency(model, spec.resolution, latency_batch, device, 0.1)
        if on_latency is not None:
            on_latency(latency)
    precision = resolve_precision(config.precision, device)
    train, val = proxy_splits(data, config)
    steps_per_epoch = math.ceil(len(train) / config.batch_size)
    optimizer = torch.optim.AdamW(param_groups(model, config.weight_decay), lr=config.lr)
    warmup = max(1, int(config.warmup_epochs * steps_per_epoch))
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: warmup_cosine(s, warmup, steps_per_epoch * config.epochs)
    )
    stepper = PlainStepper(model, optimizer, scheduler, config.grad_clip)
    batching = Batching(train_resolution(spec, config), data.flip, device, channels_last=cuda)
    generator = torch.Generator().manual_seed(config.seed)

    start = time.perf_counter()
    epochs: list[EpochResult] = []
    status: Status = "completed"
    reason = None
    loss_sum, images, train_seconds = 0.0, 0, 0.0
    for epoch in range(1, config.epochs + 1):
        model.train()
        order = torch.randperm(len(train), generator=generator)
        stats = train_epoch(
            stepper,
            batches(train, order, config.batch_size),
            batching,
            generator,
            config.label_smoothing,
            precision.autocast(device),
        )
        images, train_seconds = images + stats.images, train_seconds + stats.seconds
        if stats.diverged:
            status = "diverged"
            reason = f"non-finite training loss at epoch {epoch}, step {len(stats.losses)}"
            break
        loss_sum += sum(stats.losses)
        val_accuracy, val_loss = evaluate(
            model, val, batching, config.eval_batch_size, precision.autocast(device)
        )
        epochs.append(
            EpochResult(epoch, val_accuracy, val_loss, stats.mean_loss, time.perf_counter() - start)
        )
        if on_epoch is not None and on_epoch(epochs[-1]) is False:
            if epoch < config.epochs:
                status, reason = "stopped", f"stopped after epoch {epoch} by the caller"
            break
    return ProxyResult(
        status=status,
        reason=reason,
        train_loss_sum=loss_sum,
        params=count_params(model),
        macs=macs,
        resolution=spec.resolution,
        images_per_second=images / train_seconds if train_seconds else 0.0,
        seconds=time.perf_counter() - start,
        device=str(device),
        val_images=len(val),
        epochs=epochs,
        latency=latency,
        precision=precision.name,
    )


def train_resolution(spec: ArchSpec, config: ProxyConfig) -> int:
    """The input side a proxy trains `spec` at: its own, or `resolution_scale` of it rounded
    to a multiple the network takes (its stride and key/value reductions)."""
    if config.resolution_scale == 1.0:
        return spec.resolution
    return round_resolution(spec.resolution * config.resolution_scale, resolution_multiple(spec))
