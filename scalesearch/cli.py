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


@app.command()
def describe(
    model: Annotated[str, typer.Argument(help="A preset name (cvt-13, cmt-s, ...).")],
    resolution: Annotated[Optional[int], typer.Option(help="Build for this input size.")] = None,
    num_classes: Annotated[Optional[int], typer.Option(help="Number of classes.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Show a model's stages, parameters and MACs (counted, not estimated)."""
    from scalesearch.describe import describe_spec, render_description
    from scalesearch.model import resolve_spec

    desc = describe_spec(resolve_spec(model, num_classes, resolution))
    if as_json:
        print(json.dumps(desc, indent=2))
    else:
        render_description(desc, console)


@app.command()
def presets() -> None:
    """List the published models that are built in."""
    from scalesearch.presets import PRESETS

    for name, spec in PRESETS.items():
        print(f"{name:10s} {len(spec.stages)} stages, input {spec.resolution}")


def main(argv: list[str] | None = None) -> int:
    """Runs the CLI. Usage mistakes (typer's) and scalesearch's own errors exit with 2 and
    one line on stderr, never a traceback."""
    try:
        app(args=argv, prog_name="scalesearch")
    except ScaleSearchError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except SystemExit as exit_:
        return exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
