"""A DeepSpeed engine's run, epoch by epoch: its batch arithmetic, its resumption from the
latest checkpoint, and its epochs (data order fixed by seed and epoch, sharded by rank,
checkpointed). Drives the engine `scalesearch.train.deepspeed_trainer` builds, without
importing DeepSpeed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from scalesearch.errors import TrainConfigError, TrainingDiverged
from scalesearch.train.loop import Batching, batches, train_epoch


@dataclass(frozen=True)
class Steps:
    """The batch arithmetic of a run: micro batch per rank, accumulation, whole optimizer
    steps per epoch and the micro steps they take."""

    micro: int
    accumulation: int
    world: int
    per_epoch: int

    @property
    def total_batch(self) -> int:
        return self.micro * self.world * self.accumulation

    @property
    def micro_steps(self) -> int:
        return self.per_epoch * self.accumulation  # whole optimizer steps only

    @classmethod
    def of(cls, ds_config: dict, world: int, images: int) -> Steps:
        micro = int(ds_config.get("train_micro_batch_size_per_gpu", 0)) or _micro_from_total(
            ds_config, world
        )
        accumulation = int(ds_config.get("gradient_accumulation_steps", 1))
        micro_steps = images // (world * micro)
        if micro_steps < accumulation:
            raise TrainConfigError(
                f"{images} training images are too few for {world} rank(s) × micro batch "
                f"{micro} × {accumulation} accumulation steps"
            )
        return cls(micro, accumulation, world, micro_steps // accumulation)


def _micro_from_total(config: dict, world: int) -> int:
    total = int(config.get("train_batch_size", 0))
    accumulation = int(config.get("gradient_accumulation_steps", 1))
    if not total:
        raise TrainConfigError(
            "the DeepSpeed config needs train_micro_batch_size_per_gpu or train_batch_size"
        )
    return max(1, total // (world * accumulation))


def resumed_epoch(engine, ema, checkpoint_dir: Path) -> int:
    """The epoch a resumed run starts at: the latest checkpoint's (0 without one)."""
    if not (checkpoint_dir / "latest").is_file():
        return 0
    _, client = engine.load_checkpoint(str(checkpoint_dir))
    if ema is not None:
        ema.load_state_dict(client["ema"])
    if "rng" in client:  # dropout and stochastic depth go on from where they stopped
        torch.set_rng_state(client["rng"])
    return int(client["epoch"])


class EngineStepper:
    """A DeepSpeed engine behind the training loop's `Stepper`: it owns backward, gradient
    clipping, the optimizer and the scheduler (all from the DeepSpeed config)."""

    def __init__(self, engine, ema=None) -> None:
        self.engine, self.ema = engine, ema

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return self.engine(x)

    def step(self, loss: torch.Tensor) -> None:
        self.engine.backward(loss)
        self.engine.step()
        if self.ema is not None:
            self.ema.update_parameters(self.engine.module)


@dataclass
class Epochs:
    """The epochs of a run on its engine: data order fixed by (seed, epoch), sharded by
    rank, a checkpoint every `checkpoint_every` epochs and at the last."""

    engine: object
    ema: object
    stepper: EngineStepper
    batching: Batching
    precision: object
    steps: Steps
    rank: int
    world: int

    def train(
        self, data, epochs, seed, label_smoothing, checkpoint_dir, checkpoint_every, on_epoch
    ):
        losses: list[float] = []
        images = 0
        last = epochs[-1] + 1 if len(epochs) else 0
        for epoch in epochs:
            self.engine.train()
            epoch_seed = seed * 100_003 + epoch
            order = torch.randperm(
                len(data.train), generator=torch.Generator().manual_seed(epoch_seed)
            )
            shard = order[self.rank :: self.world][: self.steps.micro_steps * self.steps.micro]
            generator = torch.Generator().manual_seed(epoch_seed * 1_009 + self.rank)
            stats = train_epoch(
                self.stepper, batches(data.train, shard, self.steps.micro), self.batching,
                generator, label_smoothing, self.precision.autocast(self.engine.device),
                augment_seed=epoch_seed * 1_000_003,
            )  # fmt: skip
            if stats.diverged:
                raise TrainingDiverged(
                    f"training diverged: non-finite loss at epoch {epoch + 1}, step "
                    f"{len(stats.losses)}; lower the learning rate in the DeepSpeed config"
                )
            images += stats.images * self.world
            losses.append(stats.mean_loss)
            if on_epoch is not None:
                on_epoch(epoch + 1, losses[-1])
            if (epoch + 1) % checkpoint_every == 0 or epoch + 1 == last:
                client = {
                    "epoch": epoch + 1,
                    "rng": torch.get_rng_state(),
                    **({} if self.ema is None else {"ema": self.ema.state_dict()}),
                }
                self.engine.save_checkpoint(
                    str(checkpoint_dir), tag=f"epoch{epoch + 1}", client_state=client
                )
        return losses, images
