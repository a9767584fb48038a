"""`scalesearch ablate`: the papers' ablation on a study, and its table."""

from __future__ import annotations

import contextlib
import json
import math
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console

from scalesearch.cli.app import app
from scalesearch.cli.common import (
    ArtifactsOption,
    JsonOption,
    MorePhiArgument,
    PhiListOption,
    RunsOption,
    StorageOption,
    StudyOption,
    check_positive,
    console,
    log_line,
    phi_values,
    stopped,
)
from scalesearch.errors import ConfigError


# Unknown "options" pass through as arguments, so `--phi 1 2` reads 2 as a φ value.
@app.command(context_settings={"ignore_unknown_options": True})
def ablate(
    phi: PhiListOption = None,
    more_phi: MorePhiArgument = None,
    seeds: Annotated[int, typer.Option(help="Seeds per strategy and φ (paired).")] = 2,
    source: Annotated[
        Optional[int],
        typer.Option("--from", help="Ablate this search trial's coefficients (default: the best)."),
    ] = None,
    storage: StorageOption = None,
    study: StudyOption = None,
    run_dir: RunsOption = Path("runs"),
    dataset: Annotated[
        Optional[str], typer.Option(help="Override the dataset (default: the search's).")
    ] = None,
    data_dir: Annotated[Optional[Path], typer.Option(help="Folder of on-disk datasets.")] = None,
    seed: Annotated[int, typer.Option(help="First seed (seeds are SEED, SEED+1, ...).")] = 0,
    max_concurrent: Annotated[Optional[int], typer.Option(help="Trials at once.")] = None,
    time_budget: Annotated[Optional[float], typer.Option(help="Seconds for the ablation.")] = None,
    address: Annotated[
        Optional[str], typer.Option(help="Ray cluster address (default: a local Ray).")
    ] = None,
    artifacts: ArtifactsOption = None,
    as_json: JsonOption = False,
) -> None:
    """Train the searched coefficients against the defaults and depth-, width- and
    resolution-only scaling at equal cost, as trials of the study (resumable)."""
    from scalesearch.cli.locate import locate_run
    from scalesearch.cli.refresh import publish_answer
    from scalesearch.search.config import resume_config
    from scalesearch.search.results.ablation_table import ablation_verdict
    from scalesearch.search.run.pipeline import run_ablation

    check_positive(seeds=seeds)
    phis = tuple(dict.fromkeys(phi_values(phi, more_phi, "ablate")))
    if not phis:
        raise ConfigError("give the φ values to compare at, e.g. --phi 1 2")
    run, _ = locate_run(storage, study, run_dir)
    config = resume_config(
        run,
        run_dir,
        seed,
        dataset,
        data_dir=None if data_dir is None else str(data_dir),
        time_budget_s=time_budget,
        address=address,
        max_concurrent=max_concurrent,
        family_from=source,
    )
    # With --json, stdout carries the JSON alone: progress (Tune's included) goes to stderr.
    log = log_line if not as_json else _to_stderr
    try:
        with contextlib.redirect_stdout(sys.stderr) if as_json else contextlib.nullcontext():
            table = run_ablation(config, phis, seeds, log=log)
    except KeyboardInterrupt as interrupt:
        raise stopped(
            interrupt, "finished members are kept; run the same command to go on"
        ) from None
    if as_json:
        cells = [c.to_dict() for c in table]
        print(json.dumps({"cells": cells, "verdict": ablation_verdict(table)}, indent=2))
    else:
        render_ablation(table, console)
        for line in ablation_verdict(table):
            console.print(line)
    publish_answer(run, run_dir / run.name / "report.html", artifacts, log)


def _to_stderr(message: str) -> None:
    print(message, file=sys.stderr)


def render_ablation(table, console: Console) -> None:
    """Mean ± sd over seeds per strategy and φ, and the paired difference from the defaults."""
    from scalesearch.cli.views import numbers_table

    out = numbers_table(
        "Ablation: strategies at equal cost",
        "Δ = strategy − default coefficients, paired over seeds, 95% interval.",
        ("φ", "strategy", "accuracy (mean ± sd)", "seeds", "MMACs", "cost", "Δ ± 95%"),
    )
    for c in table:
        if not c.accuracies:
            out.add_row(f"{c.phi:g}", c.strategy, f"not trained: {c.pruned}", "0", "", "", "")
            continue
        delta = ""
        if not math.isnan(c.difference):
            half = "" if math.isnan(c.half_width) else f" ± {100 * c.half_width:.2f}"
            delta = f"{100 * c.difference:+.2f}{half}"
        out.add_row(
            f"{c.phi:g}",
            c.strategy,
            f"{c.mean:.2%} ± {100 * c.sd:.2f}",
            str(len(c.accuracies)),
            f"{c.macs / 1e6:,.1f}",
            f"{c.cost_ratio:.2f}×",
            delta,
        )
    console.print(out)
