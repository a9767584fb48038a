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
import torch.nn.functional as F

from scalesearch.train.config import ProxyConfig
from scalesearch.arch.cost import count_cost, count_params
from scalesearch.train.data import Dataset, Split, prepare_batch
from scalesearch.arch.model import HybridNet
from scalesearch.arch.spec import ArchSpec

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
    epochs: list[EpochResult] = field(default_factory=list)

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
        data = {k: v for k, v in self.__dict__.items() if k != "epochs"}
        data.update(val_accuracy=self.val_accuracy, val_accuracies=self.val_accuracies,
                    val_losses=self.val_losses, train_losses=self.train_losses,
                    epochs=[e.__dict__ for e in self.epochs])
        return data


EpochCallback = Callable[[EpochResult], bool | None]


def pick_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def train_subset(split: Split, config: ProxyConfig) -> Split:
    """The seeded share of the training split a proxy uses (`subset`, `max_train_images`)."""
    n = len(split)
    keep = max(1, int(round(n * config.subset)))
    if config.max_train_images is not None:
        keep = min(keep, config.max_train_images)
    if keep == n:
        return split
    g = torch.Generator().manual_seed(config.seed + 7)
    index = torch.randperm(n, generator=g)[:keep].sort().values
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
) -> ProxyResult:
    """Trains `spec` (its class count set to the data's) and validates after every epoch.

    Args:
        spec: the architecture; trained at its own resolution.
        data: the dataset (validation ranks; test is never touched here).
        config: the schedule.
        on_epoch: called after each epoch; returning False stops the trial ("stopped").
        device: defaults to CUDA when present (then bf16 autocast and channels-last).
        macs: the spec's MACs when the caller counted them already (the search driver
            does; counting takes about half a second).

    A non-finite loss ends the trial with status "diverged" and the reason, not an error.
    """
    device = device or pick_device()
    torch.set_num_threads(config.threads)
    torch.manual_seed(config.seed)
    spec = spec.replace(num_classes=data.num_classes)
    macs = count_cost(spec).macs if macs is None else macs
    model = HybridNet(spec).to(device)
    params = count_params(model)
    if device.type == "cuda":
        model = model.to(memory_format=torch.channels_last)
    train = train_subset(data.train, config)
    steps_per_epoch = math.ceil(len(train) / config.batch_size)
    total_steps = steps_per_epoch * config.epochs
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    warmup = max(1, int(config.warmup_epochs * steps_per_epoch))
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: warmup_cosine(s, warmup, total_steps)
    )
    generator = torch.Generator().manual_seed(config.seed)
    run = _Run(model, optimizer, scheduler, config, data, device, generator)

    start = time.perf_counter()
    epochs: list[EpochResult] = []
    status: Status = "completed"
    reason = None
    for epoch in range(1, config.epochs + 1):
        losses = run.train_epoch(train, spec.resolution)
        if not math.isfinite(losses[-1]):
            status, reason = "diverged", f"non-finite training loss at epoch {epoch}, step {len(losses)}"
            break
        val_accuracy, val_loss = run.evaluate(data.val, spec.resolution)
        epochs.append(EpochResult(epoch, val_accuracy, val_loss, sum(losses) / len(losses),
                                  time.perf_counter() - start))
        if on_epoch is not None and on_epoch(epochs[-1]) is False:
            if epoch < config.epochs:
                status, reason = "stopped", f"stopped after epoch {epoch} by the caller"
            break
    seconds = time.perf_counter() - start
    return ProxyResult(
        status=status,
        reason=reason,
        train_loss_sum=run.loss_sum,
        params=params,
        macs=macs,
        resolution=spec.resolution,
        images_per_second=run.images / run.train_seconds if run.train_seconds else 0.0,
        seconds=seconds,
        device=str(device),
        epochs=epochs,
    )


class _Run:
    """The mutable state of one proxy training (kept out of train_proxy's signature)."""

    def __init__(self, model, optimizer, scheduler, config, data, device, generator) -> None:
        self.model, self.optimizer, self.scheduler = model, optimizer, scheduler
        self.config, self.data, self.device, self.generator = config, data, device, generator
        self.loss_sum = 0.0
        self.images = 0
        self.train_seconds = 0.0

    def _autocast(self):
        return torch.autocast("cuda", dtype=torch.bfloat16, enabled=self.device.type == "cuda")

    def _inputs(self, images: torch.Tensor, resolution: int, train: bool) -> torch.Tensor:
        x = prepare_batch(images, resolution, train, self.data.flip, self.generator)
        x = x.to(self.device, non_blocking=True)
        if self.device.type == "cuda":
            x = x.contiguous(memory_format=torch.channels_last)
        return x

    def train_epoch(self, split: Split, resolution: int) -> list[float]:
        """One pass in a seeded order; stops at the first non-finite loss (returned last)."""
        self.model.train()
        start = time.perf_counter()
        order = torch.randperm(len(split), generator=self.generator)
        losses: list[float] = []
        for begin in range(0, len(split), self.config.batch_size):
            index = order[begin:begin + self.config.batch_size]
            x = self._inputs(split.images[index], resolution, train=True)
            y = split.labels[index].to(self.device)
            with self._autocast():
                loss = F.cross_entropy(self.model(x), y, label_smoothing=self.config.label_smoothing)
            value = loss.item()
            losses.append(value)
            if not math.isfinite(value):
                break
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.config.grad_clip)
            self.optimizer.step()
            self.scheduler.step()
            self.loss_sum += value
            self.images += len(index)
        self.train_seconds += time.perf_counter() - start
        return losses

    @torch.no_grad()
    def evaluate(self, split: Split, resolution: int) -> tuple[float, float]:
        """Top-1 accuracy and mean cross-entropy on a split."""
        self.model.eval()
        correct, loss_sum = 0, 0.0
        for begin in range(0, len(split), self.config.eval_batch_size):
            x = self._inputs(split.images[begin:begin + self.config.eval_batch_size], resolution, False)
            y = split.labels[begin:begin + self.config.eval_batch_size].to(self.device)
            with self._autocast():
                logits = self.model(x).float()
            loss_sum += F.cross_entropy(logits, y, reduction="sum").item()
            correct += (logits.argmax(1) == y).sum().item()
        return correct / len(split), loss_sum / len(split)
