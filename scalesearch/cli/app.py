"""The Typer app every command registers on (`scalesearch.cli.main` runs it)."""

from __future__ import annotations

import typer

app = typer.Typer(
    name="scalesearch",
    help="Neural-architecture scaling search for hybrid conv-transformer classifiers.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
