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
    from scalesearch.describe import describe_spec, render_description
    from scalesearch.model import resolve_spec
    from scalesearch.resolve import resolve_model

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
    from scalesearch.family import describe_family, render_family
    from scalesearch.resolve import coefficients_for
    from scalesearch.space import load_space

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
    from scalesearch.data import load_dataset
    from scalesearch.model import resolve_spec
    from scalesearch.proxy import train_proxy
    from scalesearch.resolve import proxy_config_for, resolve_model

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


@app.command()
def spaces() -> None:
    """List the search spaces under search_spaces/."""
    from scalesearch.space import list_spaces, load_space

    for name in list_spaces():
        print(f"{name:18s} {load_space(name).description}")


@app.command()
def presets() -> None:
    """List the published models that are built in."""
    from scalesearch.presets import PRESETS

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
