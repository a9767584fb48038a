"""The `scalesearch` command line: parse, call one library function, return an exit code.

The app is `scalesearch.cli.app`; commands live in `model_commands`, `study_commands`,
`ablation_commands`, `decision_commands` and `export_commands`; rendering in `views`. This module holds the one
error contract: a user's mistake is one line on stderr and exit code 2.
"""

from __future__ import annotations

import signal
import sys
import threading

import typer
from typer.exceptions import TyperException

from scalesearch.cli import (  # noqa: F401 - registers the commands
    ablation_commands,
    decision_commands,
    export_commands,
    model_commands,
    study_commands,
)
from scalesearch.cli.app import app
from scalesearch.errors import ScaleSearchError, raise_terminated, was_terminated, write_fault


def main(argv: list[str] | None = None) -> int:
    """Runs the CLI. Usage mistakes (click's) and scalesearch's own errors exit with 2 and
    one line on stderr, never a traceback."""
    args = sys.argv[1:] if argv is None else argv
    if threading.current_thread() is threading.main_thread():
        # SIGTERM stops a command as Ctrl-C does (`errors.Terminated`), exit 143.
        signal.signal(signal.SIGTERM, raise_terminated)
    try:
        result = app(args=args, prog_name="scalesearch", standalone_mode=False)
    except ScaleSearchError as err:
        return _fail(str(err))
    except TyperException as err:  # click's usage errors, as typer vendors them
        ctx = getattr(err, "ctx", None)
        where = ctx.command_path.replace("scalesearch", "", 1).strip() if ctx else ""
        message = err.format_message() if hasattr(err, "format_message") else str(err)
        return _fail(f"{message} (see scalesearch {where + ' ' if where else ''}--help)")
    except typer.Exit as exit_:
        return exit_.exit_code
    except typer.Abort:
        return 130
    except Exception as err:  # a write the disk refused, wherever a command made it
        cause = write_fault(err)
        if cause is None:
            raise
        where = getattr(err, "filename", None)
        detail = (str(err).strip().splitlines() or [type(err).__name__])[0][:200]
        return _fail(f"{where + ': ' if where else ''}{cause} ({detail}); make room, then run "
                     f"the same command again (with --resume where it takes one)")  # fmt: skip
    except KeyboardInterrupt as interrupt:  # stopped before a command could say what it kept
        terminated = was_terminated(interrupt)
        print("stopped by SIGTERM" if terminated else "interrupted", file=sys.stderr)
        return 143 if terminated else 130
    except SystemExit as exit_:
        return exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
    return result if isinstance(result, int) else 0


def _fail(message: str) -> int:
    print(f"error: {' '.join(message.split())}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
