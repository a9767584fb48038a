"""What every command shares: the consoles, the common options and checks."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.markup import escape

from scalesearch.errors import ConfigError

console = Console()
err_console = Console(stderr=True)


PhiOption = Annotated[Optional[float], typer.Option(help="Compound exponent φ (spaces).")]
AlphaOption = Annotated[Optional[float], typer.Option(help="Depth coefficient α.")]
BetaOption = Annotated[Optional[float], typer.Option(help="Width coefficient β.")]
GammaOption = Annotated[
    Optional[float], typer.Option(help="Resolution coefficient γ (solved from α, β if omitted).")
]
# With `ignore_unknown_options`, `--phi 1 2` and `--phi -1 0` read every value as a φ.
PhiListOption = Annotated[
    Optional[list[float]], typer.Option(help="φ values: --phi 0 1 2 or --phi 0 --phi 1.")
]
MorePhiArgument = Annotated[
    Optional[list[str]], typer.Argument(metavar="[PHI]...", help="More φ values.")
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
StorageOption = Annotated[
    Optional[str],
    typer.Option(help="SQLAlchemy URL of the study database (default: SQLite in the run folder)."),
]
StudyOption = Annotated[Optional[str], typer.Option(help="Study name (default: the space name).")]
ArtifactsOption = Annotated[
    Optional[str],
    typer.Option(
        help="Folder of the artifact store (exported models, the report) the dashboard shows "
        "(default: $SCALESEARCH_ARTIFACTS, or artifacts/ beside an SQLite study)."
    ),
]
RunsOption = Annotated[
    Path, typer.Option("--run-dir", help="Folder of runs; each study gets RUN_DIR/STUDY.")
]


def phi_values(first: list[float] | None, more: list[str] | None, command: str) -> list[float]:
    """The φ values of `--phi 0 1 2`: the first after --phi, the rest arrive as arguments.
    An option no command knows arrives there too (options are not parsed after --phi): it
    is named as unknown, not read as a φ."""
    values = list(first or [])
    for token in more or []:
        try:
            values.append(float(token))
        except ValueError:
            if token.startswith("-"):
                raise ConfigError(
                    f"No such option: {token} (see scalesearch {command} --help)"
                ) from None
            raise ConfigError(f"--phi: {token!r} is not a number") from None
    return values


def check_positive(**values: int | None) -> None:
    """Counts given on the command line are >= 1 (a typer range would print a box, not a line)."""
    for name, value in values.items():
        if value is not None and value < 1:
            flag = "--" + name.replace("_", "-")
            raise ConfigError(f"{flag} must be >= 1, but got {value}")


def stopped(interrupt: KeyboardInterrupt, kept: str) -> typer.Exit:
    """The line a stopped command ends with, and its exit: 130 for Ctrl-C, 143 for SIGTERM.
    `kept`: what was kept and how to go on."""
    from scalesearch.errors import was_terminated

    terminated = was_terminated(interrupt)
    how = "stopped by SIGTERM" if terminated else "interrupted"
    console.print(f"{how}: {kept}", markup=False, highlight=False)
    return typer.Exit(143 if terminated else 130)


def say(label: str, words: str) -> None:
    """One line of the answer: its label in bold, its words as text (a study's name or a
    path inside them is never read as rich markup)."""
    console.print(f"[bold]{label}[/]: {escape(words)}", highlight=False)


def log_line(message: str) -> None:
    """A progress line as written: "[search] trial 3 ..." is text, not rich markup (which
    would swallow the bracketed phase)."""
    console.print(message, markup=False, highlight=False)
    console.file.flush()  # piped (`| tee`, a log, a test), progress shows as it happens
