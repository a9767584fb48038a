"""`scalesearch export`: chosen trials as folders to take home, each with a model card.

A folder per trial (`STUDY-trialN/`): the bundle (`scalesearch.arch.bundle`: spec.json,
weights.safetensors, model.onnx) and README.md, the model card: parameters, MACs, measured
latency, proxy and final accuracy with their errors, where the weights came from, and the
provenance (study, trial, spec hash, code versions, the commands that rebuild and retrain it).
The weights are the trial's final training's (the EMA's where its recipe had one) when one
completed; otherwise the model is freshly initialised, and the card says so in its first lines.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path

import optuna
import torch
from optuna.trial import FrozenTrial

from scalesearch.arch.bundle import ONNX, export_onnx, onnx_difference, save_bundle
from scalesearch.arch.checkpoints import detect_layout, load_checkpoint, read_state_dict
from scalesearch.arch.cost import count_cost
from scalesearch.arch.latency import Latency, measure_latency
from scalesearch.arch.model import HybridNet
from scalesearch.numbers import human, milliseconds
from scalesearch.search import records
from scalesearch.search.replicates import arch_groups, seed_noise
from scalesearch.search.schema import TrialRecord
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


def export_trials(
    storage_url: str,
    study: optuna.Study,
    trials: list[FrozenTrial],
    output: Path,
    latency_batch: int = 8,
    log: Callable[[str], None] = print,
) -> list[Exported]:
    """Writes one folder per trial under `output`; returns what each holds."""
    finals = records.load_final_runs(storage_url, study.study_name)
    groups = arch_groups(study)
    noise = seed_noise(groups)
    done = []
    for trial in trials:
        record = TrialRecord.from_trial(trial)
        folder = output / f"{study.study_name}-trial{trial.number}"
        run = _final_run(finals, trial.number)
        model, weights = _model(record, run)
        save_bundle(model, folder)
        export_onnx(model, folder / ONNX)
        size = model.spec.resolution
        other = size + model.spec.total_stride * max(1, 16 // model.spec.total_stride)
        diffs = {s: onnx_difference(model, folder / ONNX, s) for s in (size, other)}
        latency = measure_latency(model, size, batch=latency_batch)
        group = next((g for g in groups if trial.number in g.trials), None)
        proxy = None if group is None else (group.mean, group.se(noise), len(group.accuracies))
        exported = Exported(trial.number, folder, weights, run is not None, diffs, latency)
        card = model_card(study, storage_url, trial, record, model, exported, proxy, run)
        (folder / "README.md").write_text(card)
        (folder / "card.json").write_text(json.dumps(_card_data(exported, proxy, run), indent=1))
        log(f"[export] trial {trial.number} → {folder}; weights {weights}")
        done.append(exported)
    return done


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
        "latency": exported.latency.to_dict(),
        "proxy_accuracy": None if proxy is None else dict(zip(("mean", "se", "seeds"), proxy)),
        "test_accuracy": None if run is None else run["test_accuracy"],
    }


def model_card(study, storage_url, trial, record, model, exported, proxy, run) -> str:
    """The README.md of an exported folder."""
    spec = model.spec
    cost = count_cost(spec)
    lat = exported.latency
    name, number = study.study_name, trial.number
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
        ("proxy validation accuracy", _proxy(proxy, record)),
        ("final test accuracy", _final(run)),
        ("weights", exported.weights),
        ("ONNX", f"{ONNX}, opset 18, batch, height and width dynamic; onnxruntime vs PyTorch "
                 f"max |Δ logit| {diffs}"),
    ]  # fmt: skip
    table = "\n".join(f"| {k} | {v} |" for k, v in rows)
    where = f"--storage {storage_url} --study {name}"
    coefficients = ", ".join(
        f"{k} {v:.4g}" for k, v in trial.params.items() if isinstance(v, float)
    )
    return f"""# {name}, trial {number}: {spec.name}

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

- study `{name}` in `{storage_url}`, trial {number} (phase {record.phase.value}, φ {record.phi}, {coefficients or "no sampled coefficients"})
- spec hash `{spec.spec_hash()}`; init `{spec.init}`; {spec.num_classes} classes
- trained by scalesearch {record.version or "unknown"}; exported by scalesearch {version("scalesearch")}
- rebuild this folder: `scalesearch export {where} --trial {number} -o {exported.folder.parent}`
- train it for real: `scalesearch train {where} --trial {number}`
"""


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
