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

import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from scalesearch.arch.checkpoints import (
    detect_layout,
    load_checkpoint,
    read_state_dict,
    spec_for_checkpoint,
)
from scalesearch.arch.model import HybridNet
from scalesearch.arch.spec import ArchSpec
from scalesearch.errors import TrainConfigError
from scalesearch.train.augment import RecipeAugment
from scalesearch.train.ds_config import fill_auto
from scalesearch.train.engine_run import EngineStepper, Epochs, Steps, resumed_epoch
from scalesearch.train.loop import Batching, evaluate, param_groups
from scalesearch.train.precision import resolve_precision
from scalesearch.train.recipes import RecipePlan, as_record, plan, recipe_for
from scalesearch.train.splits import Dataset


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
    recipe: str = "light"  # as recorded (`scalesearch.train.recipes.as_record`)
    ema: bool = False  # the test accuracy and weights.safetensors are the EMA's
    notes: tuple[str, ...] = ()  # what starting from a checkpoint adapted
    precision: str = "fp32"  # what it trained in
    skipped_files: tuple[str, ...] = ()  # streamed image files that did not decode


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
    recipe: str = "light",
    init_from: str | Path | None = None,
    precision: str = "auto",
) -> FinalResult:
    """Trains `spec` with a DeepSpeed engine and evaluates it on the test split.

    Args:
        spec: rebuilt exactly as stored (its class count must match the data's).
        ds_config: DeepSpeed config; "auto" scheduler lengths are filled in here.
        checkpoint_dir: where DeepSpeed checkpoints go (one tag per checkpointed epoch), and
            `weights.safetensors`, the evaluated weights (the EMA's where the recipe has one).
        resume: continue from the latest checkpoint there.
        checkpoint_every: epochs between checkpoints (the last epoch always checkpoints).
        on_epoch: called with (epoch, mean training loss) on every rank.
        recipe: "light" (the proxy's crop and flip, the DeepSpeed config's optimizer and
            schedule) or a paper's ("cvt", "cmt": `scalesearch.train.recipes`), which brings
            its own optimizer, schedule, augmentation, soft targets and EMA.
        init_from: a checkpoint to start from (official CMT/CvT, Hugging Face CvT or ours);
            a classifier of another class count starts fresh.
        precision: "fp32", "bf16" (autocast; weights, optimizer and loss stay fp32) or
            "auto" (bf16 where the device runs it fast: `scalesearch.train.precision`).
    """
    import deepspeed.comm as dist

    if spec.num_classes != data.num_classes:
        raise TrainConfigError(
            f"the spec was built for {spec.num_classes} classes but {data.name} has "
            f"{data.num_classes}; train on the dataset the search used"
        )
    rank, world = dist.get_rank(), dist.get_world_size()
    torch.manual_seed(seed)
    model, notes = _start(spec, init_from)
    steps = Steps.of(ds_config, world, len(data.train))
    found = recipe_for(recipe, spec.name)
    fitted = None if found is None else plan(found, steps.total_batch, steps.per_epoch * epochs)
    engine = _engine(model, fill_auto(ds_config, steps.per_epoch, epochs), fitted)
    ema = _ema(engine.module, fitted)
    start_epoch = resumed_epoch(engine, ema, checkpoint_dir) if resume else 0
    chosen = resolve_precision(precision, engine.device)
    augment = (
        None
        if fitted is None
        else RecipeAugment(fitted.recipe, spec.resolution, data.num_classes, data.flip)
    )
    batching = Batching(
        spec.resolution, data.flip, engine.device, next(engine.module.parameters()).dtype,
        augment=augment,
    )  # fmt: skip
    run = Epochs(engine, ema, EngineStepper(engine, ema), batching, chosen, steps, rank, world)
    started = time.perf_counter()
    losses, images = run.train(data, range(start_epoch, epochs), seed, label_smoothing,
                               checkpoint_dir, checkpoint_every, on_epoch)  # fmt: skip
    seconds = time.perf_counter() - started
    _check_replicas_agree(engine.module, dist)
    final = engine.module if ema is None else ema.module
    test_accuracy, _ = evaluate(final, data.test, batching, autocast=chosen.autocast(engine.device))
    if rank == 0:
        _save_weights(final, checkpoint_dir / "weights.safetensors")
    return FinalResult(
        test_accuracy=test_accuracy,
        train_losses=losses,
        epochs_done=epochs,
        steps=int(engine.global_steps),
        world_size=world,
        seconds=seconds,
        images_per_second=images / seconds if seconds else 0.0,
        checkpoint=str(checkpoint_dir),
        recipe=as_record(fitted),
        ema=ema is not None,
        notes=tuple(notes),
        precision=chosen.name,
        skipped_files=tuple(
            sorted(set(getattr(data.train, "skipped", [])) | set(getattr(data.test, "skipped", [])))
        ),
    )


def _start(spec: ArchSpec, init_from: str | Path | None) -> tuple[HybridNet, list[str]]:
    """The model to train: freshly initialised, or from a checkpoint (HF CvT: with GELU)."""
    if init_from is None:
        return HybridNet(spec), []
    state = read_state_dict(init_from)
    layout = detect_layout(state, str(init_from))
    built = spec_for_checkpoint(spec, state, layout).replace(num_classes=spec.num_classes)
    model = HybridNet(built)
    notes = load_checkpoint(model, state, layout, str(init_from), keep_classifier=False)
    return model, [f"started from {init_from} ({layout})", *notes]


def _engine(model: HybridNet, config: dict, fitted: RecipePlan | None):
    """The DeepSpeed engine: the config's optimizer and scheduler, or the recipe's (AdamW
    without decay on norms, biases and tokens, and timm's cosine schedule in steps)."""
    import deepspeed

    optimizer = scheduler = None
    weight_decay = config.get("optimizer", {}).get("params", {}).get("weight_decay", 0.0)
    parameters = param_groups(model, weight_decay)
    if fitted is not None:
        config = {k: v for k, v in config.items() if k not in ("optimizer", "scheduler")}
        config.update(gradient_clipping=fitted.recipe.grad_clip, zero_allow_untested_optimizer=True)
        optimizer = torch.optim.AdamW(
            param_groups(model, fitted.recipe.weight_decay), lr=fitted.lr, eps=1e-8
        )
        scheduler = torch.optim.lr_scheduler.LambdaLR(
            optimizer, lambda step: fitted.lr_at(step) / fitted.lr
        )
        parameters = None
    try:
        engine, _, _, _ = deepspeed.initialize(
            model=model,
            model_parameters=parameters,
            optimizer=optimizer,
            lr_scheduler=scheduler,
            config=config,
        )
    except (ValueError, AssertionError, TypeError, KeyError) as err:  # pydantic: ValueError
        raise TrainConfigError(
            f"DeepSpeed rejected the config: {str(err).splitlines()[0]}"
        ) from None
    return engine


def _ema(model: torch.nn.Module, fitted: RecipePlan | None):
    """An exponential moving average of weights and buffers (torch's AveragedModel)."""
    if fitted is None or fitted.ema_decay is None:
        return None
    from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

    return AveragedModel(
        model, multi_avg_fn=get_ema_multi_avg_fn(fitted.ema_decay), use_buffers=True
    )


def _save_weights(model: torch.nn.Module, path: Path) -> None:
    from safetensors.torch import save_file

    path.parent.mkdir(parents=True, exist_ok=True)
    save_file({k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}, str(path))


def _check_replicas_agree(model: torch.nn.Module, dist) -> None:
    """Every rank must end with the same weights (data parallel); a mismatch is a bug."""
    flat = torch.cat([p.detach().double().flatten().cpu() for p in model.parameters()])
    digest = [float(flat.sum()), float((flat * flat).sum())]
    gathered: list = [None] * dist.get_world_size()
    torch.distributed.all_gather_object(gathered, digest)
    if any(g != gathered[0] for g in gathered):
        raise RuntimeError(f"ranks ended with different weights: {gathered}")
