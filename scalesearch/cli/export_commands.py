"""`scalesearch export`: frontier models as folders (spec, safetensors, ONNX, model card)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from scalesearch.cli.common import (
    RunsOption,
    StorageOption,
    StudyOption,
    app,
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
) -> None:
    """Write each chosen trial's model as a folder: spec.json, weights.safetensors (its final
    training's, else fresh and said so), model.onnx and a README.md model card."""
    from scalesearch.search import storage as st
    from scalesearch.search.export import export_trials
    from scalesearch.search.frontier import choose_trials

    check_positive(latency_batch=latency_batch)
    url, name = st.locate(storage, study, run_dir)
    loaded = st.load_study(url, name)
    chosen = choose_trials(loaded, trial=trial, pareto=pareto, family=family)
    done = export_trials(url, loaded, chosen, output, latency_batch, log=log_line)
    for item in done:
        worst = max(item.onnx_max_abs_diff.values())
        console.print(
            f"{item.folder}: onnxruntime vs PyTorch max |Δ logit| {worst:.1e}; "
            f"{'trained' if item.trained else 'untrained (no final run)'} weights"
        )
