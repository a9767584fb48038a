"""Commands that settle what a run left open: `retrain` (more seeds of chosen trials) and
`plan` (where a training compute goes, from a finished run)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.markup import escape

from scalesearch.cli.app import app
from scalesearch.cli.common import (
    ArtifactsOption,
    JsonOption,
    RunsOption,
    StorageOption,
    check_positive,
    console,
    log_line,
    stopped,
)
from scalesearch.errors import ConfigError


@app.command()
def retrain(
    trial: Annotated[
        list[int], typer.Option("--trial", help="A trial of --study to train again (repeatable).")
    ],
    seeds: Annotated[
        Optional[int],
        typer.Option(help="Seeds in all for each trial: the run's first K, the missing trained."),
    ] = None,
    seed: Annotated[
        Optional[list[int]], typer.Option("--seed", help="Train at this seed (repeatable).")
    ] = None,
    storage: StorageOption = None,
    study: Annotated[
        Optional[str], typer.Option(help="The trials' study: the run's, or NAME.family, ...")
    ] = None,
    run_dir: RunsOption = Path("runs"),
    inline: Annotated[
        bool, typer.Option(help="Train in this process, one at a time, without starting Ray.")
    ] = False,
    max_concurrent: Annotated[Optional[int], typer.Option(help="Trainings at once.")] = None,
    address: Annotated[
        Optional[str], typer.Option(help="Ray cluster address (default: a local Ray).")
    ] = None,
    artifacts: ArtifactsOption = None,
) -> None:
    """Train trials' exact networks again at more seeds, under their study's training, each
    recorded as its phase records a seed (a search trial's as a race training), then say
    the run's answer again."""
    from scalesearch.cli.locate import locate_run
    from scalesearch.search.config import resume_config
    from scalesearch.search.phases.retrain import seed_units
    from scalesearch.search.phases.units import PlannedUnits
    from scalesearch.search.run.inline import InlineExecutor
    from scalesearch.search.run.pipeline import run_units

    check_positive(seeds=seeds, max_concurrent=max_concurrent)
    if (seeds is None) == (not seed):
        raise ConfigError("give either --seeds K (seeds in all) or --seed S (repeatable)")
    if any(s < 0 for s in seed or ()):
        raise ConfigError(f"--seed must be >= 0, but got {min(seed or ())}")
    run, name = locate_run(storage, study, run_dir)
    config = resume_config(run, run_dir, address=address, max_concurrent=max_concurrent)
    named = next((s for s in run.studies() if s.study_name == name), run.search)
    found = named.get_trials(deepcopy=False)
    missing = [n for n in trial if not 0 <= n < len(found)]
    if missing:
        raise ConfigError(
            f"--trial {missing[0]}: study {named.study_name!r} has trials 0..{len(found) - 1}"
        )
    wanted = list(seed) if seed else [config.seed + k for k in range(seeds or 0)]
    units = seed_units(run, config.space, [found[n] for n in trial], wanted)
    console.print(
        f"[bold]scalesearch retrain[/] {escape(named.study_name)}: trial(s) "
        f"{', '.join(map(str, trial))} at seed(s) {', '.join(map(str, wanted))}",
        highlight=False,
    )
    try:
        run = run_units(
            config,
            units[0].phase,
            lambda opened, driver: PlannedUnits(opened, config.storage, driver, units),
            log_line,
            InlineExecutor() if inline else None,
        )
    except KeyboardInterrupt as interrupt:
        raise stopped(
            interrupt, "finished trainings are kept; run the same command to go on"
        ) from None
    from scalesearch.cli.refresh import publish_answer

    publish_answer(run, run_dir / run.name / "report.html", artifacts, log_line, glance=True)


@app.command()
def plan(
    compute: Annotated[
        str,
        typer.Option(
            help="Training compute to spend: FLOPs (6 · MACs · images seen, e.g. 4e14) or a "
            "multiple of the family's largest member's (e.g. 2x)."
        ),
    ],
    storage: StorageOption = None,
    study: Annotated[Optional[str], typer.Option(help="Study name.")] = None,
    run_dir: RunsOption = Path("runs"),
    as_json: JsonOption = False,
) -> None:
    """Where a training compute goes, from a run with a budget study: a larger φ or longer
    training, each predicted by the run's joint law with its 95% band."""
    from scalesearch.cli.locate import locate_run
    from scalesearch.cli.views import render_plan
    from scalesearch.redact import storage_flag
    from scalesearch.report.decision_words import budget_words
    from scalesearch.search.results.ablation_table import ablation_table
    from scalesearch.search.results.budget import budget_answer
    from scalesearch.search.results.noise import family_seed_noise

    multiple, flops = _compute(compute)
    run, _ = locate_run(storage, study, run_dir)
    noise = family_seed_noise(run, ablation_table(run))
    answer = budget_answer(run, noise, multiple or 2.0, flops)
    words = budget_words(answer, storage_flag(run.url))
    if as_json:
        print(json.dumps(_plan_json(answer, words), indent=2))
        return
    if answer.decision is not None:
        render_plan(answer.decision, console)
    console.print(words, highlight=False, markup=False)


def _compute(text: str) -> tuple[float | None, float | None]:
    """(multiple, None) for "2x", (None, FLOPs) for "4e14"."""
    raw = text.strip().lower()
    try:
        value = float(raw[:-1] if raw.endswith("x") else raw)
    except ValueError:
        value = math.nan
    if not value > 0 or not math.isfinite(value):
        raise ConfigError(
            f"--compute must be FLOPs (e.g. 4e14) or a multiple (e.g. 2x), above 0, but got "
            f"{text!r}"
        )
    return (value, None) if raw.endswith("x") else (None, value)


def _plan_json(answer, words: str) -> dict:
    d = answer.decision
    data: dict = {"words": words, "decision": None, "reason": answer.reason}
    if d is not None:
        data["decision"] = {
            "kind": d.kind,
            "multiple": d.multiple,
            "at": d.at.__dict__ | {"compute": d.at.compute},
            "size": d.size.__dict__,
            "training": d.training.__dict__,
            "difference": d.difference,
            "difference_band": d.difference_band,
        }
    if answer.check is not None:
        h = answer.check.held_out
        data["law"] = {
            "form": answer.check.form,
            "formula": answer.check.law.formula(),
            "held_out": h.cell.__dict__ | {"predicted": h.predicted, "band": h.band},
            "passed": answer.check.passed,
        }
    return data
