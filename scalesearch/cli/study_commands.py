"""Commands about studies: run, frontier, dashboard, train, report."""

from __future__ import annotations

import json
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
    StudyOption,
    check_positive,
    console,
    log_line,
    say,
    stopped,
)
from scalesearch.formatting import trial_counts
from scalesearch.search.store import run_attributes


@app.command()
def run(
    space: Annotated[str, typer.Option(help="Search space name or YAML path.")],
    trials: Annotated[
        Optional[int], typer.Option(help="Coefficient trials (default: the space's).")
    ] = None,
    time_budget_s: Annotated[
        Optional[float], typer.Option("--time-budget", help="Seconds for the whole run.")
    ] = None,
    storage: StorageOption = None,
    study: StudyOption = None,
    run_dir: RunsOption = Path("runs"),
    resume: Annotated[bool, typer.Option(help="Continue an existing study to its budget.")] = False,
    join: Annotated[
        bool,
        typer.Option(
            help="Share a study with other drivers: add --trials to its budget (created if missing)."
        ),
    ] = False,
    dataset: Annotated[Optional[str], typer.Option(help="Override the space's dataset.")] = None,
    data_dir: Annotated[Optional[Path], typer.Option(help="Folder of on-disk datasets.")] = None,
    seed: Annotated[int, typer.Option(help="Seed of the sampler, splits and training.")] = 0,
    max_concurrent: Annotated[
        Optional[int], typer.Option(help="Trials at once (default: as resources allow).")
    ] = None,
    epochs: Annotated[
        Optional[int], typer.Option(help="Override the space's proxy epochs.")
    ] = None,
    address: Annotated[
        Optional[str], typer.Option(help="Ray cluster address (default: a local Ray).")
    ] = None,
    family_from: Annotated[
        Optional[int],
        typer.Option(help="Scale this trial's coefficients (default: the most accurate)."),
    ] = None,
    family: Annotated[bool, typer.Option(help="Train the family after the search.")] = True,
    replicates: Annotated[
        Optional[int],
        typer.Option(
            help="Seeds in all, at least, for each contender of the race "
            "(default: the space's search.replicates)."
        ),
    ] = None,
    warm_start: Annotated[
        Optional[str],
        typer.Option(help="Start with the frontier of this earlier study of the same space."),
    ] = None,
    warm_storage: Annotated[
        Optional[str], typer.Option(help="Storage URL of the --warm-start study.")
    ] = None,
    warm_top: Annotated[
        Optional[int],
        typer.Option(help="Its K most accurate search trials instead of its frontier."),
    ] = None,
    artifacts: ArtifactsOption = None,
) -> None:
    """Search the space's coefficients with proxy trials on Ray Tune, then train the family."""
    # Every other flag is a RunConfig field (or a proxy override) under the same name: named
    # once, here (tests/test_cli_run.py checks that each reaches the config).
    flags = {k: v for k, v in locals().items() if k not in RUN_LOCATION}
    from scalesearch.cli.locate import given_storage
    from scalesearch.commands import command
    from scalesearch.redact import shown, storage_flag
    from scalesearch.search.config import config_from_flags
    from scalesearch.search.run.pipeline import run_search
    from scalesearch.search.space import load_space
    from scalesearch.search.store import storage as st

    loaded = load_space(space)
    study_name = study or loaded.name
    folder = run_dir / study_name
    url = given_storage(storage) or st.default_storage(folder)
    config = config_from_flags(loaded, folder, storage=url, study_name=study_name, **flags)
    console.print(
        f"[bold]scalesearch run[/] {escape(loaded.name)}: study {escape(repr(study_name))} at "
        f"{escape(shown(url))}"
    )
    try:
        result = run_search(config, log=log_line)
    except KeyboardInterrupt as interrupt:
        again = command(
            "run", "--space", space, "--study", study_name, "--resume",
            storage_flag=storage_flag(url),
        )  # fmt: skip
        kept = "finished trials are kept, running ones ended failed (a resume trains them again)"
        raise stopped(interrupt, f"{kept}. Continue with\n  {again}") from None
    _after_run(result, url, study_name, folder, artifacts)


# The flags that say where a run lives, not how it runs.
RUN_LOCATION = ("space", "storage", "study", "run_dir", "artifacts")


def _after_run(result, url: str, study_name: str, folder: Path, artifacts: str | None) -> None:
    """The run's last lines: its frontiers, its counts, its verdict and where to look."""
    from scalesearch.cli.views import render_frontiers
    from scalesearch.redact import storage_flag

    volumes = (result.family_hypervolume, result.search_hypervolume)
    render_frontiers(result.family_frontier, result.search_frontier, console, volumes)
    console.print(
        f"{trial_counts(result.counts)} trials in {result.seconds:.0f} s. Inspect it with\n"
        f"  scalesearch dashboard {storage_flag(url)}"
    )
    if result.search_frontier or result.family_frontier:
        from scalesearch.report.board import publish_run
        from scalesearch.report.data import report_of
        from scalesearch.report.page import render_report
        from scalesearch.report.words import at_a_glance
        from scalesearch.search.store.studies import open_run

        run = open_run(url, study_name)
        data = report_of(run)
        for label, words in at_a_glance(data):
            say(label, words)
        page = render_report(data, folder / "report.html")
        console.print(f"report: {page}", markup=False)
        log_line(publish_run(run, data, page, artifacts))


@app.command()
def frontier(
    storage: StorageOption = None,
    study: Annotated[Optional[str], typer.Option(help="Study name.")] = None,
    run_dir: RunsOption = Path("runs"),
    as_json: JsonOption = False,
) -> None:
    """The run's two frontiers: the family's (accuracy against MACs across φ) and the
    search's (accuracy against its costs at the search φ), each with its hypervolume."""
    from scalesearch.cli.locate import locate_run
    from scalesearch.cli.views import render_frontiers, render_quiet_latency
    from scalesearch.redact import storage_flag
    from scalesearch.report.decision_words import check_words
    from scalesearch.search.results.defaults_check import defaults_check, why_unchecked
    from scalesearch.search.results.frontier import (
        family_frontier,
        frontier_hypervolume,
        search_frontier,
    )
    from scalesearch.search.results.latencies import run_latencies

    run, _ = locate_run(storage, study, run_dir)
    family, search = family_frontier(run), search_frontier(run)
    check, latency = defaults_check(run), run_latencies(run.url, run.name)
    if as_json:
        front = {
            name: [{**p.to_dict(), "quiet_latency_ms": latency.ms(p.spec_hash)} for p in points]
            for name, points in (("family", family), ("search", search))
        }
        checked = None if check is None else check.to_dict()
        print(json.dumps({**front, "check": checked, "latency": latency.summary()}, indent=2))
        return
    volumes = (frontier_hypervolume(run, family), frontier_hypervolume(run, search))
    render_frontiers(family, search, console, volumes)
    render_quiet_latency({"family": family, "search": search}, latency, console)
    if family:
        unchecked = None if check is not None else why_unchecked(run)
        words = check_words(check, unchecked, storage_flag(run.url))
        say("at the family's training", words)


@app.command()
def dashboard(
    storage: StorageOption = None,
    study: Annotated[
        Optional[str], typer.Option(help="Study whose run folder holds the database.")
    ] = None,
    run_dir: RunsOption = Path("runs"),
    host: Annotated[str, typer.Option(help="Interface to serve on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to serve on.")] = 8080,
    artifacts: ArtifactsOption = None,
) -> None:
    """Serve optuna-dashboard on the study's storage (Ctrl-C stops it)."""
    from scalesearch.cli.locate import given_storage, locate
    from scalesearch.redact import shown
    from scalesearch.report.board import artifact_folder, serve
    from scalesearch.search.store import storage as st

    url = given_storage(storage) or locate(None, study, run_dir)[0]
    st.open_storage(url)  # a clear error before the server starts
    folder = artifact_folder(url, artifacts)
    where = f"; artifacts in {folder}" if folder else "; no artifact store (give --artifacts DIR)"
    console.print(f"optuna-dashboard on http://{host}:{port} for {shown(url)}{where}", markup=False)
    try:
        serve(url, host, port, folder)  # until Ctrl-C or SIGTERM
    except KeyboardInterrupt as interrupt:
        raise stopped(interrupt, "the dashboard stopped; the studies are as they were") from None


@app.command()
def train(
    storage: StorageOption = None,
    study: Annotated[Optional[str], typer.Option(help="Study name.")] = None,
    run_dir: RunsOption = Path("runs"),
    trial: Annotated[Optional[int], typer.Option(help="Train this trial's spec.")] = None,
    pareto: Annotated[
        Optional[int], typer.Option(help="Train K frontier models, cheapest to most accurate.")
    ] = None,
    family: Annotated[bool, typer.Option("--family", help="Train the family, in φ order.")] = False,
    epochs: Annotated[int, typer.Option(help="Training epochs.")] = 10,
    dataset: Annotated[Optional[str], typer.Option(help="Dataset (default: the search's).")] = None,
    data_dir: Annotated[Optional[Path], typer.Option(help="Folder of on-disk datasets.")] = None,
    deepspeed_config: Annotated[
        Optional[Path], typer.Option(help="DeepSpeed JSON config (examples in launch/deepspeed/).")
    ] = None,
    output: Annotated[
        Optional[Path],
        typer.Option(help="Folder of checkpoints and results (default: RUN_DIR/STUDY/final)."),
    ] = None,
    resume: Annotated[bool, typer.Option(help="Continue from the latest checkpoints.")] = False,
    checkpoint_every: Annotated[int, typer.Option(help="Epochs between checkpoints.")] = 1,
    seed: Annotated[int, typer.Option(help="Seed of initialisation and data order.")] = 0,
    recipe: Annotated[
        str,
        typer.Option(
            help="light (crop and flip, the DeepSpeed config's optimizer) or a paper's: cvt, "
            "cmt (RandAugment, Mixup/CutMix, erasing, smoothing, warm-up + cosine, EMA)."
        ),
    ] = "light",
    init_from: Annotated[
        Optional[Path],
        typer.Option(help="Start from this checkpoint (official CMT/CvT, Hugging Face CvT, ours)."),
    ] = None,
    precision: Annotated[
        str, typer.Option(help="fp32, bf16 (autocast) or auto: bf16 where the device runs it fast.")
    ] = "auto",
) -> None:
    """Train chosen trials' specs for real with DeepSpeed and record their test accuracy."""
    from scalesearch.cli.locate import locate_run
    from scalesearch.errors import CheckpointError, ConfigError
    from scalesearch.search.results.frontier import choose_trials
    from scalesearch.search.results.train_chosen import TrainRequest, train_trials
    from scalesearch.train.ds_config import load_deepspeed_config
    from scalesearch.train.precision import PRECISIONS
    from scalesearch.train.recipes import recipe_for

    check_positive(epochs=epochs, checkpoint_every=checkpoint_every)
    recipe_for(recipe, "")  # an unknown recipe or precision is refused before any loading
    if precision not in PRECISIONS:
        raise ConfigError(
            f"--precision must be one of {', '.join(PRECISIONS)}, but got {precision!r}"
        )
    if init_from is not None and not init_from.exists():
        raise CheckpointError(f"--init-from {init_from}: no such file or folder")
    if init_from is not None:  # read before any run is recorded: a bad file changes nothing
        from scalesearch.arch.checkpoints import detect_layout, read_state_dict

        detect_layout(read_state_dict(init_from), str(init_from))
    ds_config = load_deepspeed_config(deepspeed_config)
    run, name = locate_run(storage, study, run_dir)
    chosen = choose_trials(run, trial=trial, pareto=pareto, family=family, study=name)
    space = run_attributes.stored_space(run.search)
    request = TrainRequest(
        storage=run.url,
        study_name=run.name,
        epochs=epochs,
        seed=seed,
        resume=resume,
        dataset=dataset or (space.proxy.dataset if space else "mnist"),
        data_dir=None if data_dir is None else str(data_dir),
        ds_config=ds_config,
        output=output or run_dir / run.name / "final",
        checkpoint_every=checkpoint_every,
        recipe=recipe,
        init_from=None if init_from is None else str(init_from),
        precision=precision,
    )
    console.print(
        f"[bold]scalesearch train[/] {run.name}: "
        + ", ".join(f"trial {t.number} of {where}" for where, t in chosen)
    )
    try:
        train_trials(request, chosen, log=log_line)
    except KeyboardInterrupt as interrupt:
        raise stopped(
            interrupt,
            f"checkpoints up to the last epoch are kept in {request.output}; continue with "
            f"the same command and --resume",
        ) from None


@app.command()
def report(
    storage: StorageOption = None,
    study: Annotated[Optional[str], typer.Option(help="Study name.")] = None,
    run_dir: RunsOption = Path("runs"),
    output: Annotated[
        Optional[Path],
        typer.Option("-o", "--output", help="HTML file (default: RUN_DIR/STUDY/report.html)."),
    ] = None,
    png: Annotated[
        Optional[Path],
        typer.Option(help="Also export every figure as PNG here (needs kaleido and Chrome)."),
    ] = None,
    screenshot: Annotated[
        Optional[Path],
        typer.Option(help="Also save a picture of the page's top here (headless Chromium)."),
    ] = None,
    artifacts: ArtifactsOption = None,
) -> None:
    """Write one self-contained HTML page: frontier, family, coefficients, fidelity, scaling law."""
    from scalesearch.cli.locate import locate, run_folder
    from scalesearch.report.board import publish_run
    from scalesearch.report.data import report_of
    from scalesearch.report.page import export_png, render_report
    from scalesearch.search.store.studies import open_run

    url, name = locate(storage, study, run_dir)
    run = open_run(url, name)
    data = report_of(run)
    path = render_report(data, output or run_dir / run_folder(name) / "report.html")
    console.print(f"report: {path}", markup=False)
    log_line(publish_run(run, data, path, artifacts))
    if png is not None:
        for image in export_png(data, png):
            console.print(f"figure: {image}", markup=False)
    if screenshot is not None:
        from scalesearch.report.browser import screenshot as take

        console.print(f"screenshot: {take(path, screenshot)}", markup=False)
