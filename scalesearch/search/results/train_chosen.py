"""Final training of chosen trials: each stored spec trained for real, each run recorded.

Reads trials from the study and writes `scalesearch_final_runs` rows beside it; the
training itself is `scalesearch.train.deepspeed_trainer` (DeepSpeed), which knows nothing of studies.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from optuna.trial import FrozenTrial

from scalesearch.arch.cost import count_cost
from scalesearch.errors import TrainConfigError, TrainingDiverged, Unwritable, write_fault
from scalesearch.search.store import sql_tables
from scalesearch.search.store.schema import TrialRecord
from scalesearch.train.data import load_dataset
from scalesearch.train.deepspeed_trainer import init_distributed, train_final
from scalesearch.train.ds_config import load_deepspeed_config
from scalesearch.train.precision import resolve_precision


@dataclass(frozen=True)
class TrainRequest:
    """`scalesearch train`, resolved."""

    storage: str
    study_name: str
    output: Path
    epochs: int
    dataset: str
    data_dir: str | None = None
    ds_config: dict | None = None
    resume: bool = False
    seed: int = 0
    checkpoint_every: int = 1
    recipe: str = "light"
    init_from: str | None = None
    precision: str = "auto"


def train_trials(
    request: TrainRequest,
    trials: list[tuple[str, FrozenTrial]],
    log: Callable[[str], None] = print,
) -> list[dict]:
    """Trains each chosen trial's stored spec (with its study's name) and records every run
    in the study's database, under that study.

    Rank 0 records; every rank trains. Returns the recorded rows.
    """
    config = request.ds_config or load_deepspeed_config(None)
    rank, world = init_distributed()
    if rank == 0:
        device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        chosen = resolve_precision(request.precision, device)
        log(f"[train] precision {chosen.name}: {chosen.reason}")
    return [_train_one(request, study, trial, config, rank, world, log) for study, trial in trials]


@dataclass(frozen=True)
class _Run:
    """One final training under way: where it writes, and its row in the runs table."""

    request: TrainRequest
    study: str
    trial: int
    folder: Path
    rank: int
    row: dict

    def save(self, **changes) -> None:
        self.row.update(changes)
        if self.rank == 0:
            sql_tables.save_final_run(self.request.storage, self.row)


def _train_one(
    request: TrainRequest,
    study: str,
    trial: FrozenTrial,
    config: dict,
    rank: int,
    world: int,
    log: Callable[[str], None],
) -> dict:
    stored = TrialRecord.from_trial(trial)
    spec = stored.arch()
    if spec.spec_hash() != (stored.spec_hash or spec.spec_hash()):
        raise TrainConfigError(f"trial {trial.number}: its stored spec does not match its hash")
    # An image folder streams (decoded per batch by workers); other datasets fit in memory.
    data = load_dataset(
        request.dataset,
        request.data_dir,
        resolution=spec.resolution,
        seed=request.seed,
        stream=request.dataset == "imagefolder",
    )
    folder = request.output / f"{study}-trial{trial.number}"
    run = _Run(
        request,
        study,
        trial.number,
        folder,
        rank,
        _row(request, study, trial, spec, world, folder, len(data.test)),
    )

    def on_epoch(epoch: int, loss: float) -> None:
        run.save(epochs_done=epoch)
        if rank == 0:
            log(f"[train] trial {trial.number} epoch {epoch}/{request.epochs}: loss {loss:.4f}")

    run.save()
    try:
        result = train_final(
            spec,
            data,
            config,
            request.epochs,
            folder / "checkpoints",
            resume=request.resume,
            seed=request.seed,
            checkpoint_every=request.checkpoint_every,
            on_epoch=on_epoch,
            recipe=request.recipe,
            init_from=request.init_from,
            precision=request.precision,
        )
    except KeyboardInterrupt:
        run.save(status="interrupted")
        raise
    except (TrainConfigError, TrainingDiverged):
        run.save(status="failed")
        raise
    except Exception as err:
        if write_fault(err) is None:
            raise
        with contextlib.suppress(Exception):  # the study may sit on the same full disk
            run.save(status="failed")
        raise Unwritable(
            f"{folder}: {write_fault(err)}; the checkpoints before it are kept: make room, "
            f"then run the same command with --resume"
        ) from None
    run.save(
        status="completed",
        recipe=result.recipe,
        test_images=len(data.test) - len(set(getattr(data.test, "skipped", []))),
        precision=result.precision,
        test_accuracy=result.test_accuracy,
        steps=result.steps,
        epochs_done=result.epochs_done,
        wall_seconds=run.row["wall_seconds"] + result.seconds,
    )
    if rank == 0:
        _summarise(run, result, world, log)
    return dict(run.row)


def _row(
    request: TrainRequest,
    study: str,
    trial: FrozenTrial,
    spec,
    world: int,
    folder: Path,
    test_images: int,
) -> dict:
    """The run's row as it starts."""
    cost = count_cost(spec)
    return dict(
        study=study,
        trial=trial.number,
        spec_hash=spec.spec_hash(),
        dataset=request.dataset,
        epochs=request.epochs,
        epochs_done=0,
        steps=0,
        world_size=world,
        test_accuracy=None,
        params=cost.params,
        macs=cost.macs,
        wall_seconds=0.0,
        checkpoint=str((folder / "checkpoints").resolve()),
        status="running",
        recipe=request.recipe,
        init_from=request.init_from,
        test_images=test_images,  # less any that fail to decode, set when done
    )


def _summarise(run: _Run, result, world: int, log: Callable[[str], None]) -> None:
    """result.json beside the checkpoints, and the lines that say how it went."""
    summary = {
        **run.row,
        "train_losses": result.train_losses,
        "images_per_second": result.images_per_second,
        "ema": result.ema,
        "notes": list(result.notes),
        "skipped_files": list(result.skipped_files),
    }
    (run.folder / "result.json").write_text(json.dumps(summary, indent=2))
    for note in result.notes:
        log(f"[train] trial {run.trial}: {note}")
    if result.skipped_files:
        log(f"[train] trial {run.trial}: {len(result.skipped_files)} unreadable image(s) skipped")
    ema = " (EMA weights)" if result.ema else ""
    log(
        f"[train] trial {run.trial}: test accuracy{ema} {result.test_accuracy:.2%} after "
        f"{result.steps} steps on {world} rank(s), {result.seconds:.0f} s"
    )
