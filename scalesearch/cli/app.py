"""The `scalesearch` command line: parse, call one library function, return an exit code."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console

from scalesearch.errors import ScaleSearchError

app = typer.Typer(
    name="scalesearch",
    help="Neural-architecture scaling search for hybrid conv-transformer classifiers.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console()


PhiOption = Annotated[Optional[float], typer.Option(help="Compound exponent φ (spaces).")]
AlphaOption = Annotated[Optional[float], typer.Option(help="Depth coefficient α.")]
BetaOption = Annotated[Optional[float], typer.Option(help="Width coefficient β.")]
GammaOption = Annotated[
    Optional[float], typer.Option(help="Resolution coefficient γ (solved from α, β if omitted).")
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


@app.command()
def describe(
    model: Annotated[str, typer.Argument(help="A preset (cvt-13, cmt-s, ...) or a search space.")],
    phi: PhiOption = None,
    alpha: AlphaOption = None,
    beta: BetaOption = None,
    gamma: GammaOption = None,
    resolution: Annotated[Optional[int], typer.Option(help="Build for this input size.")] = None,
    num_classes: Annotated[Optional[int], typer.Option(help="Number of classes.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Show a model's stages, parameters and MACs (counted, not estimated)."""
    from scalesearch.cli.describe import describe_spec, render_description
    from scalesearch.arch.model import resolve_spec
    from scalesearch.cli.resolve import resolve_model

    spec = resolve_spec(resolve_model(model, phi, alpha, beta, gamma), num_classes, resolution)
    desc = describe_spec(spec)
    if as_json:
        print(json.dumps(desc, indent=2))
    else:
        render_description(desc, console)


@app.command()
def scale(
    space: Annotated[str, typer.Option(help="Search space name or YAML path.")],
    phi: Annotated[
        Optional[list[float]], typer.Option(help="φ values (repeat or list: --phi 0 1 2 3).")
    ] = None,
    alpha: AlphaOption = None,
    beta: BetaOption = None,
    gamma: GammaOption = None,
    as_json: JsonOption = False,
) -> None:
    """Show a space's family: one member per φ with params, MACs and growth."""
    from scalesearch.cli.family import describe_family, render_family
    from scalesearch.cli.resolve import coefficients_for
    from scalesearch.search.space import load_space

    loaded = load_space(space)
    coefficients = coefficients_for(loaded, alpha, beta, gamma)
    loaded.scaling.constraint.check(coefficients.alpha, coefficients.beta, coefficients.gamma)
    rows = describe_family(loaded, phi or list(loaded.scaling.family_phi), coefficients)
    if as_json:
        print(json.dumps(rows, indent=2))
    else:
        render_family(loaded, rows, console)


@app.command()
def proxy(
    model: Annotated[str, typer.Argument(help="A preset or a search space (with --phi ...).")],
    phi: PhiOption = None,
    alpha: AlphaOption = None,
    beta: BetaOption = None,
    gamma: GammaOption = None,
    dataset: Annotated[Optional[str], typer.Option(help="mnist, digits, cifar10, ...")] = None,
    data_dir: Annotated[Optional[Path], typer.Option(help="Folder of on-disk datasets.")] = None,
    epochs: Annotated[Optional[int], typer.Option(help="Training epochs.")] = None,
    resolution: Annotated[Optional[int], typer.Option(help="Build and train at this size.")] = None,
    subset: Annotated[Optional[float], typer.Option(help="Fraction of train used.")] = None,
    max_train_images: Annotated[Optional[int], typer.Option(help="Cap on train images.")] = None,
    threads: Annotated[int, typer.Option(help="Torch CPU threads.")] = 1,
    seed: Annotated[int, typer.Option(help="Seed of data split, init and order.")] = 0,
    as_json: JsonOption = False,
) -> None:
    """Train one model with the proxy schedule and print its validation accuracy."""
    from scalesearch.train.data import load_dataset
    from scalesearch.arch.model import resolve_spec
    from scalesearch.train.proxy import train_proxy
    from scalesearch.cli.resolve import proxy_config_for, resolve_model

    spec = resolve_spec(resolve_model(model, phi, alpha, beta, gamma), resolution=resolution)
    overrides = {"dataset": dataset, "epochs": epochs, "subset": subset,
                 "max_train_images": max_train_images}
    config = dataclasses.replace(
        proxy_config_for(model), threads=threads, seed=seed,
        **{k: v for k, v in overrides.items() if v is not None},
    )
    data = load_dataset(config.dataset, data_dir, resolution=spec.resolution, seed=seed)
    with _epoch_progress(config.epochs, spec.name, as_json) as on_epoch:
        result = train_proxy(spec, data, config, on_epoch=on_epoch)
    summary = {"name": spec.name, "dataset": config.dataset, **result.to_dict(),
               "spec_hash": spec.replace(num_classes=data.num_classes).spec_hash()}
    if as_json:
        print(json.dumps(summary, indent=2))
        return
    console.print(
        f"{spec.name} on {config.dataset}: val accuracy {result.val_accuracy:.2%} "
        f"({result.status}), {result.params:,} params, {result.macs / 1e6:,.1f} MMACs, "
        f"{result.images_per_second:,.0f} train img/s, {result.seconds:.1f} s"
        + (f" — {result.reason}" if result.reason else "")
    )


@contextlib.contextmanager
def _epoch_progress(epochs: int, name: str, quiet: bool):
    """A progress bar over epochs (on stderr when printing JSON, so stdout stays JSON)."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    stream = Console(stderr=True) if quiet else console
    columns = [TextColumn("{task.description}"), BarColumn(), TextColumn("{task.fields[status]}"),
               TimeElapsedColumn()]
    with Progress(*columns, console=stream, transient=quiet) as progress:
        task = progress.add_task(f"proxy {name}", total=epochs, status="")

        def on_epoch(epoch) -> None:
            progress.update(task, advance=1, status=(
                f"epoch {epoch.epoch}: val {epoch.val_accuracy:.1%}, loss {epoch.train_loss:.3f}"))

        yield on_epoch


StorageOption = Annotated[
    Optional[str], typer.Option(help="SQLAlchemy URL of the study database (default: SQLite in the run folder).")
]
StudyOption = Annotated[Optional[str], typer.Option(help="Study name (default: the space name).")]
RunsOption = Annotated[Path, typer.Option("--run-dir", help="Folder of runs; each study gets RUN_DIR/STUDY.")]


@app.command()
def run(
    space: Annotated[str, typer.Option(help="Search space name or YAML path.")],
    trials: Annotated[Optional[int], typer.Option(help="Coefficient trials (default: the space's).")] = None,
    time_budget: Annotated[Optional[float], typer.Option(help="Seconds for the whole run.")] = None,
    storage: StorageOption = None,
    study: StudyOption = None,
    run_dir: RunsOption = Path("runs"),
    resume: Annotated[bool, typer.Option(help="Continue an existing study to its budget.")] = False,
    join: Annotated[bool, typer.Option(help="Share a study with other drivers: add --trials to its budget (created if missing).")] = False,
    dataset: Annotated[Optional[str], typer.Option(help="Override the space's dataset.")] = None,
    data_dir: Annotated[Optional[Path], typer.Option(help="Folder of on-disk datasets.")] = None,
    seed: Annotated[int, typer.Option(help="Seed of the sampler, splits and training.")] = 0,
    max_concurrent: Annotated[Optional[int], typer.Option(help="Trials at once (default: as resources allow).")] = None,
    epochs: Annotated[Optional[int], typer.Option(help="Override the space's proxy epochs.")] = None,
    address: Annotated[Optional[str], typer.Option(help="Ray cluster address (default: a local Ray).")] = None,
    family_from: Annotated[Optional[int], typer.Option(help="Scale this trial's coefficients (default: the most accurate).")] = None,
    family: Annotated[bool, typer.Option(help="Train the family after the search.")] = True,
) -> None:
    """Search the space's coefficients with proxy trials on Ray Tune, then train the family."""
    from scalesearch.search import study as st
    from scalesearch.search.tune import config_from_flags, run_search
    from scalesearch.search.space import load_space

    loaded = load_space(space)
    study_name = study or loaded.name
    folder = run_dir / study_name
    url = storage or st.default_storage(folder)
    _check_study_flags(url, study_name, None if storage else folder / "study.db", resume, join, trials)
    folder.mkdir(parents=True, exist_ok=True)
    config = config_from_flags(
        loaded, folder, storage=url, study_name=study_name, resume=resume, join=join,
        trials=trials or loaded.search.trials, time_budget_s=time_budget, address=address,
        max_concurrent=max_concurrent, seed=seed, family_from=family_from, family=family,
        data_dir=None if data_dir is None else str(data_dir), epochs=epochs, dataset=dataset,
    )
    console.print(f"[bold]scalesearch run[/] {loaded.name}: study {study_name!r} at {url}")
    try:
        result = run_search(config, log=console.print)
    except KeyboardInterrupt:
        console.print(
            f"interrupted: finished trials are kept. Continue with\n  scalesearch run --space "
            f"{space} --study {study_name} --storage '{url}' --resume"
        )
        raise typer.Exit(130) from None
    _print_frontier(result.frontier, result.hypervolume)
    console.print(f"{result.counts} in {result.seconds:.0f} s. Inspect it with\n"
                  f"  scalesearch dashboard --storage '{url}'")
    if result.frontier:
        from scalesearch.cli.report import build_report, render_report

        path = render_report(build_report(url, study_name), folder / "report.html")
        console.print(f"report: {path}")


def _check_study_flags(url: str, name: str, default_file: Path | None, resume: bool,
                       join: bool, trials: int | None) -> None:
    """A fresh run must not silently continue someone's study, nor a resume change its budget."""
    from scalesearch.search import study as st

    if resume and join:
        raise st.StudyError("choose one of --resume (continue to the budget) and --join (add to it)")
    if resume and trials is not None:
        raise st.StudyError("--resume continues to the study's budget; to add trials, use --join --trials N")
    exists = _study_exists(url, name, default_file)
    if resume and not exists:
        raise st.StudyError(f"--resume: no study {name!r} at {url}; drop --resume to start one")
    if exists and not (resume or join):
        raise st.StudyError(
            f"study {name!r} already exists at {url}; --resume continues it, --join adds this "
            f"run's trials to it, or --study NAME starts another"
        )


def _study_exists(url: str, name: str, default_file: Path | None) -> bool:
    import optuna

    from scalesearch.search import study as st

    if default_file is not None and not default_file.is_file():
        return False
    return name in {s.study_name for s in optuna.get_all_study_summaries(st.open_storage(url))}


def _print_frontier(points, hypervolume: float) -> None:
    from rich import box
    from rich.table import Table

    table = Table(title=f"Pareto frontier: {len(points)} points, hypervolume {hypervolume:.4f}",
                  caption="MACs = multiply-adds (papers call them FLOPs).", box=box.SIMPLE_HEAD)
    for column in ("trial", "phase", "φ", "accuracy", "MMACs", "params", "α", "β", "γ"):
        table.add_column(column, justify="right", no_wrap=True)
    for p in points:
        c = p.coefficients
        table.add_row(str(p.trial), p.phase, f"{p.phi:g}", f"{p.accuracy:.2%}",
                      f"{p.macs / 1e6:,.1f}", f"{p.params / 1e6:.3f}M",
                      *(f"{c[k]:.3f}" if c.get(k) is not None else "-" for k in ("alpha", "beta", "gamma")))
    console.print(table)


@app.command()
def frontier(
    storage: StorageOption = None,
    study: Annotated[Optional[str], typer.Option(help="Study name.")] = None,
    run_dir: RunsOption = Path("runs"),
    as_json: JsonOption = False,
) -> None:
    """The Pareto set of accuracy against MACs, and its hypervolume."""
    from scalesearch.search import study as st

    url, name = st.locate(storage, study, run_dir)
    loaded = st.load_study(url, name)
    points = st.frontier(loaded)
    if as_json:
        print(json.dumps([p.to_dict() for p in points], indent=2))
        return
    space = st.stored_space(loaded)
    max_macs = space.get("search", {}).get("max_macs", max((p.macs for p in points), default=1))
    _print_frontier(points, st.hypervolume(points, max_macs))


@app.command()
def dashboard(
    storage: StorageOption = None,
    study: Annotated[Optional[str], typer.Option(help="Study whose run folder holds the database.")] = None,
    run_dir: RunsOption = Path("runs"),
    host: Annotated[str, typer.Option(help="Interface to serve on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to serve on.")] = 8080,
) -> None:
    """Serve optuna-dashboard on the study's storage (Ctrl-C stops it)."""
    from optuna_dashboard import run_server

    from scalesearch.search import study as st

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
    pareto: Annotated[Optional[int], typer.Option(help="Train K frontier models, cheapest to most accurate.")] = None,
    family: Annotated[bool, typer.Option("--family", help="Train the family, in φ order.")] = False,
    epochs: Annotated[int, typer.Option(help="Training epochs.")] = 10,
    dataset: Annotated[Optional[str], typer.Option(help="Dataset (default: the search's).")] = None,
    data_dir: Annotated[Optional[Path], typer.Option(help="Folder of on-disk datasets.")] = None,
    deepspeed_config: Annotated[Optional[Path], typer.Option(help="DeepSpeed JSON config (examples in launch/deepspeed/).")] = None,
    output: Annotated[Optional[Path], typer.Option(help="Folder of checkpoints and results (default: RUN_DIR/STUDY/final).")] = None,
    resume: Annotated[bool, typer.Option(help="Continue from the latest checkpoints.")] = False,
    checkpoint_every: Annotated[int, typer.Option(help="Epochs between checkpoints.")] = 1,
    seed: Annotated[int, typer.Option(help="Seed of initialisation and data order.")] = 0,
) -> None:
    """Train chosen trials' specs for real with DeepSpeed and record their test accuracy."""
    from scalesearch.search import study as st
    from scalesearch.train.final import TrainRequest, load_deepspeed_config, train_trials

    ds_config = load_deepspeed_config(deepspeed_config)
    url, name = st.locate(storage, study, run_dir)
    loaded = st.load_study(url, name)
    chosen = st.choose_trials(loaded, trial=trial, pareto=pareto, family=family)
    space = st.stored_space(loaded)
    request = TrainRequest(
        storage=url, study_name=name, epochs=epochs, seed=seed, resume=resume,
        dataset=dataset or space.get("proxy", {}).get("dataset", "mnist"),
        data_dir=None if data_dir is None else str(data_dir), ds_config=ds_config,
        output=output or run_dir / name / "final", checkpoint_every=checkpoint_every,
    )
    console.print(f"[bold]scalesearch train[/] {name}: trials {', '.join(str(t.number) for t in chosen)}")
    try:
        train_trials(request, chosen, log=console.print)
    except KeyboardInterrupt:
        console.print(f"interrupted: checkpoints up to the last epoch are kept in {request.output}; "
                      f"continue with the same command and --resume")
        raise typer.Exit(130) from None


@app.command()
def report(
    storage: StorageOption = None,
    study: Annotated[Optional[str], typer.Option(help="Study name.")] = None,
    run_dir: RunsOption = Path("runs"),
    output: Annotated[Optional[Path], typer.Option("-o", "--output", help="HTML file (default: RUN_DIR/STUDY/report.html).")] = None,
    png: Annotated[Optional[Path], typer.Option(help="Also export every figure as PNG here (needs kaleido and Chrome).")] = None,
) -> None:
    """Write one self-contained HTML page: frontier, family, coefficients, fidelity, scaling law."""
    from scalesearch.search import study as st
    from scalesearch.cli.report import build_report, export_png, render_report

    url, name = st.locate(storage, study, run_dir)
    data = build_report(url, name)
    path = render_report(data, output or run_dir / name / "report.html")
    console.print(f"report: {path}")
    if png is not None:
        for image in export_png(data, png):
            console.print(f"figure: {image}")


@app.command()
def spaces() -> None:
    """List the search spaces under search_spaces/."""
    from scalesearch.search.space import list_spaces, load_space

    for name in list_spaces():
        print(f"{name:18s} {load_space(name).description}")


@app.command()
def presets() -> None:
    """List the published models that are built in."""
    from scalesearch.arch.presets import PRESETS

    for name, spec in PRESETS.items():
        print(f"{name:10s} {len(spec.stages)} stages, input {spec.resolution}")


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _spread_multi_value_options(argv: list[str]) -> list[str]:
    """Lets `--phi 0 1 2 3` mean `--phi 0 --phi 1 ...` (click takes one value per flag)."""
    out: list[str] = []
    current = None
    for arg in argv:
        if arg.startswith("-") and not _is_number(arg):
            current = arg if arg == "--phi" else None
            out.append(arg)
        elif current and out[-1] != current:
            out += [current, arg]
        else:
            out.append(arg)
    return out


def main(argv: list[str] | None = None) -> int:
    """Runs the CLI. Usage mistakes (typer's) and scalesearch's own errors exit with 2 and
    one line on stderr, never a traceback."""
    try:
        args = sys.argv[1:] if argv is None else argv
        app(args=_spread_multi_value_options(args), prog_name="scalesearch")
    except ScaleSearchError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except SystemExit as exit_:
        return exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
