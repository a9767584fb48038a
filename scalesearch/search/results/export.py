"""`scalesearch export`: chosen trials as folders to take home, each with a model card.

A folder per trial (`STUDY-trialN/`): the bundle (`scalesearch.arch.bundle`: spec.json,
weights.safetensors, model.onnx) and README.md, the model card: parameters, MACs, measured
latency, proxy and final accuracy with their errors, where the weights came from, and the
provenance (study, trial, spec hash, code versions, the commands that rebuild and retrain it).
The weights are the trial's final training's (the EMA's where its recipe had one) when one
completed; otherwise the model is freshly initialised, and the card says so in its first lines.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path

import torch
from optuna.trial import FrozenTrial

from scalesearch.arch.bundle import ONNX, export_onnx, onnx_difference, save_bundle
from scalesearch.arch.checkpoints import detect_layout, load_checkpoint, read_state_dict
from scalesearch.arch.cost import count_cost
from scalesearch.arch.latency import Latency, measure_latency
from scalesearch.arch.model import HybridNet
from scalesearch.commands import code_block, code_span, command, markdown_text
from scalesearch.errors import ConfigError, Unwritable, why_unwritable, write_fault
from scalesearch.formatting import human, milliseconds
from scalesearch.redact import STORAGE_ENV, has_password, shown, storage_flag
from scalesearch.search.results.arch_groups import arch_groups, seed_noise
from scalesearch.search.store import sql_tables
from scalesearch.search.store.schema import Phase, TrialRecord
from scalesearch.search.store.studies import RunStudies
from scalesearch.stats import binomial_se, format_accuracy


@dataclass(frozen=True)
class Exported:
    """One exported folder and what its card states."""

    trial: int
    folder: Path
    weights: str  # where the weights came from
    trained: bool  # from a final training (else freshly initialised)
    onnx_max_abs_diff: dict[int, float]  # input side → onnxruntime vs PyTorch
    latency: Latency
    exporter: str  # what exported model.onnx (and why the fallback, where it was taken)


def export_trials(
    run: RunStudies,
    chosen: list[tuple[str, FrozenTrial]],
    output: Path,
    latency_batch: int = 8,
    log: Callable[[str], None] = print,
    exporter: str = "dynamo",
) -> list[Exported]:
    """Writes one folder per chosen trial (with its study's name) under `output`; returns
    what each holds. A folder is written beside its place and renamed into it when complete,
    so a failed export leaves the folder as it was (an earlier export, or none)."""
    done = []
    for study, trial in chosen:
        folder = output / f"{study}-trial{trial.number}"
        with _replacing(folder) as partial:
            exported = _export_one(run, study, trial, folder, partial, latency_batch, exporter)
        log(f"[export] trial {trial.number} → {folder}; weights {exported.weights}")
        done.append(exported)
    return done


def _export_one(
    run: RunStudies,
    study: str,
    trial: FrozenTrial,
    folder: Path,
    into: Path,
    latency_batch: int,
    exporter: str,
) -> Exported:
    """Writes the bundle and card of `trial` (to live at `folder`) into `into`."""
    record = TrialRecord.from_trial(trial)
    final = _final_run(sql_tables.load_final_runs(run.url, study), trial.number)
    model, weights = _model(record, final)
    save_bundle(model, into)
    exporter, diffs = _onnx(model, into / ONNX, exporter)
    latency = measure_latency(model, model.spec.resolution, batch=latency_batch)
    groups = arch_groups(run.trials(record.phase), study)
    group = next((g for g in groups if trial.number in g.trials), None)
    noise = seed_noise(groups)
    proxy = None if group is None else (group.mean, group.se(noise), len(group.accuracies))
    exported = Exported(trial.number, folder, weights, final is not None, diffs, latency, exporter)
    card = model_card(study, run.url, trial, record, model, exported, proxy, final)
    (into / "README.md").write_text(card)
    (into / "card.json").write_text(json.dumps(_card_data(exported, proxy, final), indent=1))
    return exported


ONNX_TOLERANCE = 1e-4  # largest |logit difference| from PyTorch an exported graph may show


def _onnx(model: HybridNet, path: Path, exporter: str) -> tuple[str, dict[int, float]]:
    """Exports `model` with `exporter`, checked at the build size and a larger one; where the
    dynamo exporter fails or disagrees with PyTorch, the TorchScript exporter's graph instead,
    and the card says why. Returns (what exported it, the differences by input size)."""
    size = model.spec.resolution
    sizes = (size, size + model.spec.total_stride * max(1, 16 // model.spec.total_stride))
    try:
        export_onnx(model, path, exporter)
        diffs = {s: onnx_difference(model, path, s) for s in sizes}
        if max(diffs.values()) <= ONNX_TOLERANCE or exporter == "torchscript":
            return f"torch.onnx's {exporter} exporter", diffs
        why = f"its graph differed from PyTorch by {max(diffs.values()):.1e}"
    except Exception as err:  # noqa: BLE001 - any exporter failure is the same fallback
        if exporter == "torchscript":
            raise
        why = f"it failed: {type(err).__name__}: {str(err).splitlines()[0][:200]}"
    export_onnx(model, path, "torchscript")
    diffs = {s: onnx_difference(model, path, s) for s in sizes}
    return f"torch.onnx's TorchScript exporter, the fallback (the dynamo exporter: {why})", diffs


@contextlib.contextmanager
def _replacing(folder: Path) -> Iterator[Path]:
    """A fresh folder beside `folder` to write into; on success it takes `folder`'s place
    (an earlier export there is replaced), on failure it is removed and `folder` untouched.

    Raises:
        ConfigError: `folder` (or the output folder) is a file, or cannot be written.
        Unwritable: the disk refused a write while exporting (full, read-only).
    """
    partial = folder.with_name(f".{folder.name}.partial-{os.getpid()}")
    try:
        if folder.exists() and not folder.is_dir():
            raise ConfigError(f"-o: {folder} is a file; give a folder to export into")
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir(parents=True)
    except OSError as err:
        raise ConfigError(
            f"-o {folder.parent}: cannot write there ({why_unwritable(partial, err)}); "
            f"give a folder you can write to"
        ) from None
    try:
        yield partial
        old = folder.with_name(f".{folder.name}.old-{os.getpid()}")
        if folder.exists():
            folder.rename(old)
        partial.rename(folder)
        shutil.rmtree(old, ignore_errors=True)
    except Exception as err:
        cause = write_fault(err)
        if cause is None:
            raise
        raise Unwritable(
            f"-o {folder.parent}: {cause}; nothing of this export was left there: make room, "
            f"then export again"
        ) from None
    finally:
        shutil.rmtree(partial, ignore_errors=True)


def _final_run(finals: list[dict], trial: int) -> dict | None:
    """The trial's latest completed final training, if any."""
    runs = [r for r in finals if r["trial"] == trial and r["status"] == "completed"]
    return runs[-1] if runs else None


def _model(record: TrialRecord, run: dict | None) -> tuple[HybridNet, str]:
    spec = record.arch()
    torch.manual_seed(0)
    model = HybridNet(spec)
    if run is None:
        return model.eval(), "freshly initialised: no final training of this trial completed"
    path = _checkpoint_weights(Path(run["checkpoint"]))
    state = read_state_dict(path)
    load_checkpoint(model, state, detect_layout(state, str(path)), str(path))
    return model.eval(), f"final training: {path}"


def _checkpoint_weights(checkpoint: Path) -> Path:
    """The evaluated weights of a final training: weights.safetensors (0.2 on), else the
    model states of its latest DeepSpeed checkpoint."""
    if (checkpoint / "weights.safetensors").is_file():
        return checkpoint / "weights.safetensors"
    tag = (checkpoint / "latest").read_text().strip()
    return checkpoint / tag / "mp_rank_00_model_states.pt"


def _card_data(exported: Exported, proxy, run) -> dict:
    return {
        "trial": exported.trial,
        "weights": exported.weights,
        "trained": exported.trained,
        "onnx_max_abs_diff": {str(k): v for k, v in exported.onnx_max_abs_diff.items()},
        "onnx_exporter": exported.exporter,
        "latency": exported.latency.to_dict(),
        "proxy_accuracy": None if proxy is None else dict(zip(("mean", "se", "seeds"), proxy)),
        "test_accuracy": None if run is None else run["test_accuracy"],
    }


def model_card(name, storage_url, trial, record, model, exported, proxy, run) -> str:
    """The README.md of an exported folder (of `name`'s trial; no password in it)."""
    spec = model.spec
    cost = count_cost(spec)
    lat = exported.latency
    number = trial.number
    warning = (
        ""
        if exported.trained
        else "> **Untrained weights.** No final training of this trial completed, so the "
        "weights are freshly initialised: train it first (command below), then export again.\n\n"
    )
    diffs = ", ".join(f"{d:.1e} at {s} px" for s, d in exported.onnx_max_abs_diff.items())
    rows = [
        ("parameters", f"{human(cost.params)} ({cost.params:,})"),
        ("MACs (multiply-adds; papers say FLOPs)", f"{human(cost.macs)} at {spec.resolution}×{spec.resolution}"),
        ("latency", f"{milliseconds(lat.ms_batch1)} at batch 1, {milliseconds(lat.ms_batch)} at "
                    f"batch {lat.batch} on {lat.device}; comparable only on the same device type"),
        (f"validation accuracy ({_fidelity(record)})", _proxy(proxy, record)),
        ("final test accuracy", _final(run)),
        ("weights", exported.weights),
        ("ONNX", f"{ONNX}, opset 18, batch, height and width dynamic, by "
                 f"{markdown_text(exported.exporter)}; onnxruntime vs PyTorch max |Δ logit| {diffs}"),
    ]  # fmt: skip
    table = "\n".join(f"| {k} | {v} |" for k, v in rows)
    flag = storage_flag(storage_url)
    again = [
        command("export", "--study", name, "--trial", number, "-o", exported.folder.parent,
                storage_flag=flag),
        command("train", "--study", name, "--trial", number, storage_flag=flag),
    ]  # fmt: skip
    secret = (
        f" (`${STORAGE_ENV}` holds the storage URL: it has a password)"
        if has_password(storage_url)
        else ""
    )
    coefficients = ", ".join(
        f"{k} {v:.4g}" for k, v in trial.params.items() if isinstance(v, float)
    )
    shown_name = markdown_text(name)
    return f"""# {shown_name}, trial {number}: {markdown_text(spec.name)}

{warning}| | |
|---|---|
{table}

## Use

```python
import scalesearch
model = scalesearch.load("{exported.folder.name}")  # an nn.Module in eval mode
logits = model(images)  # images: (batch, {spec.in_chs}, {spec.resolution}, {spec.resolution}), scaled to [-1, 1]
```

```python
import onnxruntime
session = onnxruntime.InferenceSession("{exported.folder.name}/{ONNX}")
(logits,) = session.run(["logits"], {{"images": images_as_numpy}})
```

## Provenance

- study {shown_name} in {code_span(shown(storage_url))}{secret}, trial {number} (phase {record.phase.value}, φ {record.phi}, {coefficients or "no sampled coefficients"})
- spec hash `{spec.spec_hash()}`; init `{spec.init}`; {spec.num_classes} classes
- trained by scalesearch {record.version or "unknown"}; exported by scalesearch {version("scalesearch")}

Rebuild this folder, and train it for real:

{code_block(again)}
"""


def _fidelity(record: TrialRecord) -> str:
    """Which training the accuracy was measured under."""
    if record.phase == Phase.BUDGET:
        return f"the family's training on {record.budget_factor:g}× the images seen, {record.epochs} epochs"
    if record.phase.trains_like_family:
        return f"the family's training, {record.epochs} epochs"
    return "the search's proxy training"


def _proxy(proxy, record: TrialRecord) -> str:
    if proxy is None:
        return "not measured (no complete proxy training of this architecture)"
    mean, se, seeds = proxy
    how = f"{seeds} seeds, se from the seed noise" if seeds > 1 else "1 seed, binomial se"
    images = f" on {record.val_images:,} images" if record.val_images else ""
    return f"{format_accuracy(mean, se)}{images} ({how})"


def _final(run: dict | None) -> str:
    if run is None:
        return "none yet"
    n = run.get("test_images")
    accuracy = format_accuracy(run["test_accuracy"], binomial_se(run["test_accuracy"], n))
    images = f" on {n:,} test images" if n else ""
    return f"{accuracy}{images} ({run['dataset']}, {run['epochs']} epochs, recipe {run.get('recipe') or 'light'})"
