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
from scalesearch.train.loop import (
    Batching,
    PlainStepper,
    batches,
    evaluate,
    param_groups,
    refresh_batchnorm,
    train_epoch,
)
from scalesearch.train.precision import Precision, resolve_precision
from scalesearch.train.proxy_data import SeedParts, proxy_splits
from scalesearch.train.splits import Dataset, Split

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
    step_seconds: float = 0.0  # in training steps: `seconds` less validation and set-up
    images_seen: int = 0  # training images stepped through, repeats included

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
    seeds: SeedParts | None = None,
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
        seeds: the seed's parts, where they differ (`SeedParts.of(config)` by default).

    A non-finite loss ends the trial with status "diverged" and the reason, not an error.
    """
    device = device or pick_device()
    seeds = seeds or SeedParts.of(config)
    spec = spec.replace(num_classes=data.num_classes)
    macs = count_cost(spec).macs if macs is None else macs
    run = _ProxyRun.start(spec, data, config, device, seeds)
    latency = None
    if latency_batch is not None:
        latency = measure_latency(run.model, spec.resolution, latency_batch, device, 0.1)
        if on_latency is not None:
            on_latency(latency)
    epochs, status, reason = run.train(on_epoch)
    return ProxyResult(
        status=status,
        reason=reason,
        train_loss_sum=run.loss_sum,
        params=count_params(run.model),
        macs=macs,
        resolution=spec.resolution,
        images_per_second=run.images / run.train_seconds if run.train_seconds else 0.0,
        seconds=run.seconds(),
        device=str(device),
        val_images=len(run.val),
        epochs=epochs,
        latency=latency,
        precision=run.precision.name,
        step_seconds=run.train_seconds,
        images_seen=run.images,
    )


@dataclass
class _ProxyRun:
    """One proxy training under way: its model, optimiser, splits and what it counted."""

    config: ProxyConfig
    device: torch.device
    model: HybridNet
    stepper: PlainStepper
    batching: Batching
    generator: torch.Generator
    train_split: Split
    val: Split
    precision: Precision
    evaluated: torch.nn.Module  # the model, or its moving average
    started: float = field(default_factory=time.perf_counter)
    loss_sum: float = 0.0
    images: int = 0
    train_seconds: float = 0.0

    @classmethod
    def start(cls, spec, data, config, device, seeds: SeedParts) -> _ProxyRun:
        torch.set_num_threads(config.threads)
        torch.manual_seed(seeds.init)
        model = HybridNet(spec).to(device)
        if seeds.order != seeds.init:  # dropout then follows the data order's seed
            torch.manual_seed(seeds.order + 1)
        cuda = device.type == "cuda"
        if cuda:
            model = model.to(memory_format=torch.channels_last)
        train, val = proxy_splits(data, config, seeds)
        steps = math.ceil(len(train) / config.batch_size)
        # Fused: one kernel per step instead of several per parameter (AdamW was 14% of a
        # CMT proxy step; fused trains cvt_compound's φ = 1 member 11% faster on one thread,
        # to the same losses).
        optimizer = torch.optim.AdamW(
            param_groups(model, config.weight_decay), lr=config.lr, fused=True
        )
        warmup = max(1, int(config.warmup_epochs * steps))
        scheduler = torch.optim.lr_scheduler.LambdaLR(
            optimizer, lambda s: warmup_cosine(s, warmup, steps * config.epochs)
        )
        averaged = _moving_average(model, config.ema_horizon, steps * config.epochs)
        stepper = PlainStepper(model, optimizer, scheduler, config.grad_clip, averaged)
        flip = data.flip
        batching = Batching(train_resolution(spec, config), flip, device, channels_last=cuda)
        generator = torch.Generator().manual_seed(seeds.order)
        precision = resolve_precision(config.precision, device)
        evaluated = model if averaged is None else averaged.module
        return cls(
            config, device, model, stepper, batching, generator, train, val, precision, evaluated
        )

    def seconds(self) -> float:
        return time.perf_counter() - self.started

    def _validation(self, epoch: int) -> Split:
        """All validation images at the last epoch; before it, the first `rung_val_images`."""
        rung = self.config.rung_val_images
        if epoch == self.config.epochs or rung is None or rung >= len(self.val):
            return self.val
        return Split(self.val.images[:rung], self.val.labels[:rung])

    def train(self, on_epoch: EpochCallback | None) -> tuple[list[EpochResult], Status, str | None]:
        config, epochs = self.config, []
        autocast = self.precision.autocast(self.device)
        for epoch in range(1, config.epochs + 1):
            self.model.train()
            order = torch.randperm(len(self.train_split), generator=self.generator)
            data = batches(self.train_split, order, config.batch_size)
            stats = train_epoch(
                self.stepper, data, self.batching, self.generator, config.label_smoothing, autocast
            )
            self.images, self.train_seconds = (
                self.images + stats.images,
                self.train_seconds + stats.seconds,
            )
            if stats.diverged:
                return (
                    epochs,
                    "diverged",
                    f"non-finite training loss at epoch {epoch}, step {len(stats.losses)}",
                )
            self.loss_sum += sum(stats.losses)
            if self.evaluated is not self.model:  # a moving average: its own statistics
                refresh_batchnorm(
                    self.evaluated, self.train_split, self.batching, autocast=autocast
                )
            accuracy, loss = evaluate(
                self.evaluated, self._validation(epoch), self.batching, config.eval_batch_size,
                autocast, tta_flip=config.tta_flip and self.batching.flip,
            )  # fmt: skip
            epochs.append(EpochResult(epoch, accuracy, loss, stats.mean_loss, self.seconds()))
            if on_epoch is not None and on_epoch(epochs[-1]) is False:
                if epoch < config.epochs:
                    return epochs, "stopped", f"stopped after epoch {epoch} by the caller"
                break
        return epochs, "completed", None


def _moving_average(model: torch.nn.Module, horizon: float, steps: int):
    """An exponential moving average of the weights over `horizon` of the run's `steps`
    (decay 1 − 1/(horizon·steps)); None for horizon 0. Its BatchNorm statistics are
    recomputed before each validation (`refresh_batchnorm`)."""
    if horizon <= 0:
        return None
    from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

    decay = 1 - 1 / max(1.0, horizon * steps)
    return AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(decay), use_buffers=True)


def train_resolution(spec: ArchSpec, config: ProxyConfig) -> int:
    """The input side a proxy trains `spec` at: its own, or `resolution_scale` of it rounded
    to a multiple the network takes (its stride and key/value reductions)."""
    if config.resolution_scale == 1.0:
        return spec.resolution
    return round_resolution(spec.resolution * config.resolution_scale, resolution_multiple(spec))
