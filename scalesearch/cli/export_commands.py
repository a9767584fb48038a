"""`scalesearch export`: frontier models as folders (spec, safetensors, ONNX, model card)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from scalesearch.cli.app import app
from scalesearch.cli.common import (
    ArtifactsOption,
    RunsOption,
    StorageOption,
    StudyOption,
    check_positive,
    console,
    log_line,
)


@app.command()
def export(
    output: Annotated[Path, typer.Option("--output", "-o", help="Folder to write into.")],
    storage: StorageOption = None,
    study: StudyOption = None,
    run_dir: RunsOption = Path("runs"),
    trial: Annotated[Optional[int], typer.Option(help="Export this trial.")] = None,
    pareto: Annotated[
        Optional[int], typer.Option(help="Export K frontier models, cheapest to most accurate.")
    ] = None,
    family: Annotated[bool, typer.Option("--family", help="Export the family.")] = False,
    latency_batch: Annotated[int, typer.Option(help="Batch of the second latency.")] = 8,
    exporter: Annotated[
        str,
        typer.Option(
            help="dynamo (torch.export + onnxscript; the TorchScript one where it fails) or "
            "torchscript (deprecated upstream, 10-40× faster)."
        ),
    ] = "dynamo",
    artifacts: ArtifactsOption = None,
) -> None:
    """Write each chosen trial's model as a folder: spec.json, weights.safetensors (its final
    training's, else fresh and said so), model.onnx and a README.md model card."""
    from scalesearch.arch.bundle import EXPORTERS
    from scalesearch.cli.locate import locate_run
    from scalesearch.errors import ConfigError
    from scalesearch.report.board import artifact_folder, upload_export
    from scalesearch.search.results.export import export_trials
    from scalesearch.search.results.frontier import choose_trials

    check_positive(latency_batch=latency_batch)
    if exporter not in EXPORTERS:
        raise ConfigError(f"--exporter must be one of {', '.join(EXPORTERS)}, but got {exporter!r}")
    run, name = locate_run(storage, study, run_dir)
    chosen = choose_trials(run, trial=trial, pareto=pareto, family=family, study=name)
    done = export_trials(run, chosen, output, latency_batch, log=log_line, exporter=exporter)
    folder = artifact_folder(run.url, artifacts)
    if folder is not None:
        for (where, trial), item in zip(chosen, done):
            count = upload_export(run, where, trial, item.folder, folder)
            log_line(f"[export] trial {item.trial}: {count} files uploaded as its artifacts")
    for item in done:
        worst = max(item.onnx_max_abs_diff.values())
        console.print(
            f"{item.folder}: onnxruntime vs PyTorch max |Δ logit| {worst:.1e} ({item.exporter}); "
            f"{'trained' if item.trained else 'untrained (no final run)'} weights",
            markup=False,
        )
