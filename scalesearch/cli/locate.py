"""Which run a command works on, from --storage, --study, --run-dir and $SCALESEARCH_STORAGE.

Without --storage, the storage is $SCALESEARCH_STORAGE when set (so a URL with a password
need not be typed into a command line, a shell history or a shared script), else the study's
SQLite file under the runs folder; with neither --study nor a single run there, the error
says what to give.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from scalesearch.errors import StudyError
from scalesearch.redact import STORAGE_ENV
from scalesearch.search.store import run_attributes
from scalesearch.search.store import storage as st
from scalesearch.search.store.studies import BUDGET_KEY, PHASE_SUFFIX, RunStudies, open_run


def given_storage(storage: str | None) -> str | None:
    """--storage, else $SCALESEARCH_STORAGE, else None (the run folder's SQLite file)."""
    return storage or os.environ.get(STORAGE_ENV) or None


def locate(storage: str | None, study: str | None, runs_root: Path) -> tuple[str, str]:
    """(storage URL, study name) from what the user gave.

    Raises StudyError naming what is missing.
    """
    storage = given_storage(storage)
    if storage is None:
        if study is None:
            found = sorted(runs_root.glob("*/study.db"))
            if len(found) != 1:
                raise StudyError(
                    f"give --study or --storage: {len(found)} runs found under {runs_root}/"
                )
            study = found[0].parent.name
        path = runs_root / run_folder(study) / "study.db"
        if not path.is_file():
            raise StudyError(f"no study database at {path}; give --storage or --run-dir")
        storage = st.default_storage(path.parent)
    if study is None:
        names = run_attributes.run_names(storage)
        if len(names) != 1:
            raise StudyError(
                f"give --study: the storage holds {len(names)} runs ({', '.join(names)})"
            )
        study = names[0]
    return storage, study


def run_folder(study: str) -> str:
    """The run folder of a study: its own name, a phase study's run (NAME.family, NAME.budget3x
    → NAME)."""
    for suffix in PHASE_SUFFIX.values():
        if study.endswith(suffix):
            return study[: -len(suffix)]
    budget = re.fullmatch(rf"(.+)\.{BUDGET_KEY}[0-9.e+-]+x", study)
    return budget.group(1) if budget else study


def locate_run(storage: str | None, study: str | None, runs_root: Path) -> tuple[RunStudies, str]:
    """The run a command works on, and the study name the user gave (or the run's)."""
    url, name = locate(storage, study, runs_root)
    return open_run(url, name), name
