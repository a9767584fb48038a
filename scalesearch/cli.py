"""The `scalesearch` command line: parse, call one library function, return an exit code."""

from __future__ import annotations

import json
import sys
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
