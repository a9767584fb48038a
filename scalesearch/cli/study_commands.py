"""Commands about studies: run, frontier, dashboard, train, report."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer

from scalesearch.cli.common import (
    JsonOption,
    RunsOption,
    StorageOption,
    StudyOption,
    app,
    check_positive,
    console,
    log_line,
)
from scalesearch.numbers import trial_counts


@app.command()
def run(
    space: Annotated[str, typer.Option(help="Search space name or YAML path.")],
    trials: Annotated[
        Optional[int], typer.Option(help="Coefficient trials (default: the space's).")
    ] = None,
    time_budget: Annotated[Optional[float], typer.Option(help="Seconds for the whole run.")] = None,
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
            help="Seeds in all for the frontier and the default coefficients "
            "(measures the seed noise; default: the space's)."
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
) -> None:
    """Search the space's coefficients with proxy trials on Ray Tune, then train the family."""
    from scalesearch.cli.views import render_frontier
    from scalesearch.search import storage as st
    from scalesearch.search.lifecycle import config_from_flags
    from scalesearch.search.space import load_space
    from scalesearch.search.tune import run_search

    loaded = load_space(space)
    study_name = study or loaded.name
    folder = run_dir / study_name
    url = storage or st.default_storage(folder)
    config = config_from_flags(
        loaded,
        folder,
        warm_start=warm_start,
        warm_storage=warm_storage,
        warm_top=warm_top,
        storage=url,
        study_name=study_name,
        resume=resume,
        join=join,
        trials=trials,
        time_budget_s=time_budget,
        address=address,
        max_concurrent=max_concurrent,
        seed=seed,
        family_from=family_from,
        family=family,
        replicates=replicates,
        data_dir=None if data_dir is None else str(data_dir),
        epochs=epochs,
        dataset=dataset,
    )
    console.print(f"[bold]scalesearch run[/] {loaded.name}: study {study_name!r} at {url}")
    try:
        result = run_search(config, log=log_line)
    except KeyboardInterrupt:
        console.print(
            f"interrupted: finished trials are kept. Continue with\n  scalesearch run --space "
            f"{space} --study {study_name} --storage '{url}' --resume"
        )
        raise typer.Exit(130) from None
    render_frontier(result.frontier, result.hypervolume, console)
    console.print(
        f"{trial_counts(result.counts)} trials in {result.seconds:.0f} s. Inspect it with\n"
        f"  scalesearch dashboard --storage '{url}'"
    )
    if result.frontier:
        from scalesearch.cli.report import render_report
        from scalesearch.cli.report_data import build_report

        path = render_report(build_report(url, study_name), folder / "report.html")
        console.print(f"report: {path}")


@app.command()
def frontier(
    storage: StorageOption = None,
    study: Annotated[Optional[str], typer.Option(help="Study name.")] = None,
    run_dir: RunsOption = Path("runs"),
    as_json: JsonOption = False,
) -> None:
    """The Pareto set of accuracy against the space's costs (MACs, latency), and its
    hypervolume."""
    from scalesearch.cli.views import render_frontier
    from scalesearch.search import storage as st
    from scalesearch.search.frontier import frontier as pareto_set
    from scalesearch.search.frontier import study_hypervolume

    url, name = st.locate(storage, study, run_dir)
    loaded = st.load_study(url, name)
    points = pareto_set(loaded)
    if as_json:
        print(json.dumps([p.to_dict() for p in points], indent=2))
        return
    render_frontier(points, study_hypervolume(loaded, points), console)


@app.command()
def dashboard(
    storage: StorageOption = None,
    study: Annotated[
        Optional[str], typer.Option(help="Study whose run folder holds the database.")
    ] = None,
    run_dir: RunsOption = Path("runs"),
    host: Annotated[str, typer.Option(help="Interface to serve on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to serve on.")] = 8080,
) -> None:
    """Serve optuna-dashboard on the study's storage (Ctrl-C stops it)."""
    from optuna_dashboard import run_server

    from scalesearch.search import storage as st

    url = storage or st.locate(None, study, run_dir)[0]
    st.open_storage(url)  # a clear error before the server starts
    console.print(f"optuna-dashboard on http://{host}:{port} for {url}")
    run_server(url, host=host, port=port)


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
    from scalesearch.errors import CheckpointError, ConfigError
    from scalesearch.search import storage as st
    from scalesearch.search.finals import TrainRequest, train_trials
    from scalesearch.search.frontier import choose_trials
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
    ds_config = load_deepspeed_config(deepspeed_config)
    url, name = st.locate(storage, study, run_dir)
    loaded = st.load_study(url, name)
    chosen = choose_trials(loaded, trial=trial, pareto=pareto, family=family)
    space = st.stored_space(loaded)
    request = TrainRequest(
        storage=url,
        study_name=name,
        epochs=epochs,
        seed=seed,
        resume=resume,
        dataset=dataset or (space.proxy.dataset if space else "mnist"),
        data_dir=None if data_dir is None else str(data_dir),
        ds_config=ds_config,
        output=output or run_dir / name / "final",
        checkpoint_every=checkpoint_every,
        recipe=recipe,
        init_from=None if init_from is None else str(init_from),
        precision=precision,
    )
    console.print(
        f"[bold]scalesearch train[/] {name}: trials {', '.join(str(t.number) for t in chosen)}"
    )
    try:
        train_trials(request, chosen, log=log_line)
    except KeyboardInterrupt:
        console.print(
            f"interrupted: checkpoints up to the last epoch are kept in {request.output}; "
            f"continue with the same command and --resume"
        )
        raise typer.Exit(130) from None


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
) -> None:
    """Write one self-contained HTML page: frontier, family, coefficients, fidelity, scaling law."""
    from scalesearch.cli.report import export_png, render_report
    from scalesearch.cli.report_data import build_report
    from scalesearch.search import storage as st

    url, name = st.locate(storage, study, run_dir)
    data = build_report(url, name)
    path = render_report(data, output or run_dir / name / "report.html")
    console.print(f"report: {path}")
    if png is not None:
        for image in export_png(data, png):
            console.print(f"figure: {image}")
    if screenshot is not None:
        from scalesearch.cli.browser import screenshot as take

        console.print(f"screenshot: {take(path, screenshot)}")
