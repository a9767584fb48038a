"""Final training with DeepSpeed: the chosen specs, trained for real, on every rank given.

The only module that imports DeepSpeed. One process trains on its own (this module sets
the single-rank environment); several processes come from `torchrun` or the `deepspeed`
launcher, which set RANK / WORLD_SIZE. On CPU the engine runs on DeepSpeed's CPU
accelerator with the gloo backend; on CUDA with NCCL (and bf16 where the config asks).

Each epoch reads the training split in an order fixed by (seed, epoch), sharded by rank,
and ends with a DeepSpeed checkpoint holding the epoch; a resumed run loads the latest one
and continues with the same optimizer, scheduler and data order.
"""

from __future__ import annotations

import copy
import difflib
import json
import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from scalesearch.arch.model import HybridNet
from scalesearch.arch.spec import ArchSpec
from scalesearch.errors import TrainConfigError, TrainingDiverged
from scalesearch.train.data import Dataset
from scalesearch.train.loop import Batching, batches, evaluate, param_groups, train_epoch

# The configuration used without --deepspeed-config (launch/deepspeed/zero1_cpu.json).
DEFAULT_CONFIG: dict = {
    "train_micro_batch_size_per_gpu": 64,
    "gradient_accumulation_steps": 1,
    "gradient_clipping": 1.0,
    "optimizer": {
        "type": "AdamW",
        "params": {"lr": 2e-3, "weight_decay": 0.05, "torch_adam": True},
    },
    "scheduler": {
        "type": "WarmupCosineLR",
        "params": {"total_num_steps": "auto", "warmup_num_steps": "auto"},
    },
    "zero_optimization": {"stage": 1},
    "steps_per_print": 1_000_000,
}
# Top-level keys DeepSpeed reads: a near miss of one ("optimiser") is a typo that DeepSpeed
# would silently ignore, so it is an error here.
KNOWN_KEYS = (
    "train_batch_size",
    "train_micro_batch_size_per_gpu",
    "gradient_accumulation_steps",
    "optimizer",
    "scheduler",
    "fp16",
    "bf16",
    "amp",
    "torch_autocast",
    "zero_optimization",
    "gradient_clipping",
    "steps_per_print",
    "wall_clock_breakdown",
    "prescale_gradients",
    "gradient_predivide_factor",
    "communication_data_type",
    "zero_allow_untested_optimizer",
    "activation_checkpointing",
    "checkpoint",
    "data_types",
    "flops_profiler",
    "tensorboard",
    "wandb",
    "csv_monitor",
    "comms_logger",
    "dump_state",
    "sparse_gradients",
    "seed",
    "memory_breakdown",
    "elasticity",
    "compile",
    "data_efficiency",
    "aio",
)
WARMUP_FRACTION = 0.05  # of all steps, where the config says "auto"


@dataclass(frozen=True)
class FinalResult:
    test_accuracy: float
    train_losses: list[float]  # mean per epoch, this run's epochs only
    epochs_done: int
    steps: int
    world_size: int
    seconds: float
    images_per_second: float
    checkpoint: str


def load_deepspeed_config(path: str | Path | None) -> dict:
    """The DeepSpeed config from a JSON file (the built-in one when None), checked for typos."""
    if path is None:
        return copy.deepcopy(DEFAULT_CONFIG)
    path = Path(path)
    if not path.is_file():
        raise TrainConfigError(
            f"--deepspeed-config {path}: no such file (examples: launch/deepspeed/)"
        )
    try:
        config = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise TrainConfigError(f"--deepspeed-config {path}: not valid JSON ({err})") from None
    if not isinstance(config, dict):
        raise TrainConfigError(f"--deepspeed-config {path}: must hold a JSON object")
    for key in config:
        if key not in KNOWN_KEYS:
            near = difflib.get_close_matches(key, KNOWN_KEYS, n=1, cutoff=0.75)
            if near:
                raise TrainConfigError(
                    f"--deepspeed-config {path}: unknown key {key!r}; did you mean {near[0]!r}?"
                )
    return config


def fill_auto(config: dict, steps_per_epoch: int, epochs: int) -> dict:
    """Replaces "auto" scheduler lengths with this run's step counts."""
    config = copy.deepcopy(config)
    params = config.get("scheduler", {}).get("params", {})
    total = steps_per_epoch * epochs
    for key, value in (
        ("total_num_steps", total),
        ("warmup_num_steps", max(1, int(WARMUP_FRACTION * total))),
    ):
        if params.get(key) == "auto":
            params[key] = value
    return config


def init_distributed() -> tuple[int, int]:
    """(rank, world size); sets up the single-rank environment when no launcher did."""
    if "WORLD_SIZE" not in os.environ:
        os.environ.update(
            RANK="0",
            LOCAL_RANK="0",
            WORLD_SIZE="1",
            MASTER_ADDR="127.0.0.1",
            MASTER_PORT=os.environ.get("MASTER_PORT") or str(_free_port()),
        )
    if not torch.cuda.is_available():
        os.environ.setdefault("DS_ACCELERATOR", "cpu")
    import deepspeed

    deepspeed.init_distributed(dist_backend="nccl" if torch.cuda.is_available() else "gloo")
    return int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def train_final(
    spec: ArchSpec,
    data: Dataset,
    ds_config: dict,
    epochs: int,
    checkpoint_dir: Path,
    resume: bool = False,
    seed: int = 0,
    label_smoothing: float = 0.1,
    checkpoint_every: int = 1,
    on_epoch: Callable[[int, float], None] | None = None,
) -> FinalResult:
    """Trains `spec` with a DeepSpeed engine and evaluates it on the test split.

    Args:
        spec: rebuilt exactly as stored (its class count must match the data's).
        ds_config: DeepSpeed config; "auto" scheduler lengths are filled in here.
        checkpoint_dir: where DeepSpeed checkpoints go (one tag per checkpointed epoch).
        resume: continue from the latest checkpoint there.
        checkpoint_every: epochs between checkpoints (the last epoch always checkpoints).
        on_epoch: called with (epoch, mean training loss) on every rank.
    """
    import deepspeed
    import deepspeed.comm as dist

    if spec.num_classes != data.num_classes:
        raise TrainConfigError(
            f"the spec was built for {spec.num_classes} classes but {data.name} has "
            f"{data.num_classes}; train on the dataset the search used"
        )
    rank, world = dist.get_rank(), dist.get_world_size()
    torch.manual_seed(seed)
    model = HybridNet(spec)
    micro = int(ds_config.get("train_micro_batch_size_per_gpu", 0)) or _micro_from_total(
        ds_config, world
    )
    accumulation = int(ds_config.get("gradient_accumulation_steps", 1))
    micro_steps = len(data.train) // (world * micro)
    if micro_steps < accumulation:
        raise TrainConfigError(
            f"{len(data.train)} training images are too few for {world} rank(s) × micro batch "
            f"{micro} × {accumulation} accumulation steps"
        )
    steps_per_epoch = micro_steps // accumulation
    micro_steps = steps_per_epoch * accumulation  # whole optimizer steps only
    config = fill_auto(ds_config, steps_per_epoch, epochs)
    try:
        weight_decay = config.get("optimizer", {}).get("params", {}).get("weight_decay", 0.0)
        engine, _, _, _ = deepspeed.initialize(
            model=model, model_parameters=param_groups(model, weight_decay), config=config
        )
    except (
        ValueError,
        AssertionError,
        TypeError,
        KeyError,
    ) as err:  # pydantic errors are ValueErrors
        raise TrainConfigError(
            f"DeepSpeed rejected the config: {str(err).splitlines()[0]}"
        ) from None

    start_epoch = 0
    if resume and (checkpoint_dir / "latest").is_file():
        _, client = engine.load_checkpoint(str(checkpoint_dir))
        start_epoch = int(client["epoch"])
    stepper = EngineStepper(engine)
    batching = Batching(
        spec.resolution, data.flip, engine.device, next(engine.module.parameters()).dtype
    )
    losses: list[float] = []
    images, started = 0, time.perf_counter()
    for epoch in range(start_epoch, epochs):
        engine.train()
        order = torch.randperm(
            len(data.train), generator=torch.Generator().manual_seed(seed * 100_003 + epoch)
        )
        shard = order[rank::world][: micro_steps * micro]
        augment = torch.Generator().manual_seed((seed * 100_003 + epoch) * 1_009 + rank)
        stats = train_epoch(
            stepper, batches(data.train, shard, micro), batching, augment, label_smoothing
        )
        if stats.diverged:
            raise TrainingDiverged(
                f"training diverged: non-finite loss at epoch {epoch + 1}, step "
                f"{len(stats.losses)}; lower the learning rate in the DeepSpeed config"
            )
        images += stats.images * world
        losses.append(stats.mean_loss)
        if on_epoch is not None:
            on_epoch(epoch + 1, losses[-1])
        if (epoch + 1) % checkpoint_every == 0 or epoch + 1 == epochs:
            engine.save_checkpoint(
                str(checkpoint_dir), tag=f"epoch{epoch + 1}", client_state={"epoch": epoch + 1}
            )
    seconds = time.perf_counter() - started
    _check_replicas_agree(engine.module, dist)
    test_accuracy, _ = evaluate(engine.module, data.test, batching)
    return FinalResult(
        test_accuracy=test_accuracy,
        train_losses=losses,
        epochs_done=epochs,
        steps=int(engine.global_steps),
        world_size=world,
        seconds=seconds,
        images_per_second=images / seconds if seconds else 0.0,
        checkpoint=str(checkpoint_dir),
    )


class EngineStepper:
    """A DeepSpeed engine behind the training loop's `Stepper`: it owns backward, gradient
    clipping, the optimizer and the scheduler (all from the DeepSpeed config)."""

    def __init__(self, engine) -> None:
        self.engine = engine

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return self.engine(x)

    def step(self, loss: torch.Tensor) -> None:
        self.engine.backward(loss)
        self.engine.step()


def _micro_from_total(config: dict, world: int) -> int:
    total = int(config.get("train_batch_size", 0))
    accumulation = int(config.get("gradient_accumulation_steps", 1))
    if not total:
        raise TrainConfigError(
            "the DeepSpeed config needs train_micro_batch_size_per_gpu or train_batch_size"
        )
    return max(1, total // (world * accumulation))


def _check_replicas_agree(model: torch.nn.Module, dist) -> None:
    """Every rank must end with the same weights (data parallel); a mismatch is a bug."""
    flat = torch.cat([p.detach().double().flatten().cpu() for p in model.parameters()])
    digest = [float(flat.sum()), float((flat * flat).sum())]
    gathered: list = [None] * dist.get_world_size()
    torch.distributed.all_gather_object(gathered, digest)
    if any(g != gathered[0] for g in gathered):
        raise RuntimeError(f"ranks ended with different weights: {gathered}")
