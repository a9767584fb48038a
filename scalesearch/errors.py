"""Every exception scalesearch raises for a problem a user can fix, in one hierarchy.

Each carries a message that names the problem and the fix; the CLI prints it on one line
and exits with code 2, never with a traceback. Input errors are also `ValueError`s (as
Optuna's are), so a library user may catch either; the others also derive from the
builtin that describes them (`ConnectionError`, `RuntimeError`).
"""

from __future__ import annotations

import errno
from pathlib import Path


class ScaleSearchError(Exception):
    """Base class of user-facing errors (bad input, missing files, unknown names)."""


class DecodeError(ScaleSearchError, ValueError):
    """JSON or YAML that does not fit a dataclass; carries the dotted key path."""

    def __init__(self, path: str, message: str) -> None:
        self.path = path
        self.message = message
        super().__init__(f"{path}: {message}" if path else message)


class SpecError(ScaleSearchError, ValueError):
    """An architecture spec breaks a rule (a width the heads do not divide, ...)."""


class CheckpointError(ScaleSearchError, ValueError):
    """A weights file that cannot be loaded into the model: unreadable, of an unknown
    layout, or with missing, unexpected or misshaped keys (the message names them)."""


class UnknownModelError(ScaleSearchError, ValueError):
    """A model name is neither a preset nor a search space."""


class ConstraintError(ScaleSearchError, ValueError):
    """Scaling coefficients off the space's constraint, or outside their domain."""


class SpaceError(ScaleSearchError, ValueError):
    """A search-space file that cannot be used; the message names the file and the key."""


class ConfigError(ScaleSearchError, ValueError):
    """A run or training setting out of its range (epochs 0, trials -1, ...)."""


class DatasetError(ScaleSearchError, ValueError):
    """A dataset that cannot be loaded; the message names the path and the expected layout."""


class TrainConfigError(ScaleSearchError, ValueError):
    """A DeepSpeed configuration or training request that cannot be used."""


class StudyError(ScaleSearchError, ValueError):
    """A storage URL or study that cannot be used."""


class ReportError(ScaleSearchError, ValueError):
    """A study with nothing to report yet."""


class ClusterError(ScaleSearchError, ConnectionError):
    """The Ray cluster given with --address cannot be reached."""


class SearchFailed(ScaleSearchError, RuntimeError):
    """Trials keep failing: the space or data is broken, and more trials would not help."""


class TrainingDiverged(ScaleSearchError, RuntimeError):
    """A final training whose loss became non-finite: the schedule is too aggressive."""


def why_unwritable(path: Path, err: OSError) -> str:
    """The reason `path` could not be written, in words: a file where a folder must be
    (which the OS reports as "File exists" or "Not a directory"), else the OS's own."""
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                return f"{parent} is a file, not a folder"
            break
    return err.strerror or str(err)


class Terminated(KeyboardInterrupt):
    """The process was asked to stop with SIGTERM (a scheduler's preemption, `scancel`, an
    eviction, `timeout`): raised where the work is, as Ctrl-C's KeyboardInterrupt is, so the
    same cleanup runs (finished work kept, running trials ended FAIL, Ray shut down); the
    command then exits with 143 (128 + 15) instead of 130."""


_SIGTERM_RECEIVED: list[bool] = []


def raise_terminated(signum: int, frame) -> None:
    """The SIGTERM handler: once, then SIGTERM's default (a second one stops at once, as a
    scheduler's SIGKILL after its grace period would: resumable like any kill)."""
    import signal

    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    _SIGTERM_RECEIVED.append(True)
    raise Terminated()


def was_terminated(interrupt: BaseException) -> bool:
    """Whether an interrupt is SIGTERM's: a `Terminated`, or any KeyboardInterrupt after
    SIGTERM arrived (Ray's blocking calls re-raise a signal's exception as a plain
    KeyboardInterrupt)."""
    return isinstance(interrupt, Terminated) or bool(_SIGTERM_RECEIVED)


class Unwritable(ScaleSearchError, OSError):
    """A disk that is full, a file system that is read-only, a folder one may not write:
    the message names the path and the cause; what was finished is kept."""


# What a write that cannot succeed says, in the exceptions it arrives in: the OS's errors,
# SQLite's (through SQLAlchemy and Optuna), and Ray Tune's, which carries the first as text.
_FAULTS = {
    errno.ENOSPC: "the disk is full",
    errno.EDQUOT: "the disk quota is used up",
    errno.EROFS: "the file system is read-only",
    errno.EACCES: "permission denied",
}
_SQLITE_FAULTS = {
    "database or disk is full": "the disk is full",
    "attempt to write a readonly database": "the file system is read-only",
    "unable to open database file": "the database file cannot be opened for writing",
    "No space left on device": "the disk is full",
    "Read-only file system": "the file system is read-only",
    # torch.save's words when its file cannot be written to the end
    "file write failed": "the disk refused a write (is it full?)",
    "basic_ios::clear: iostream error": "the disk refused a write (is it full?)",
}


def write_fault(err: BaseException) -> str | None:
    """The cause, in words, where `err` (or an exception it was raised from) is a write the
    disk refused; None for any other error."""
    seen: set[int] = set()
    while err is not None and id(err) not in seen:
        seen.add(id(err))
        if isinstance(err, OSError) and err.errno in _FAULTS:
            return _FAULTS[err.errno]
        text = str(err)
        for needle, cause in _SQLITE_FAULTS.items():
            if needle in text:
                return cause
        err = err.__cause__ or err.__context__
    return None
