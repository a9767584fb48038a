"""What tests share besides fixtures: small spaces written as real YAML, throwaway databases,
free ports, and what a frontier must equal."""

from __future__ import annotations

import contextlib
import os
import re
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from scalesearch.search.space import spaces_dir

SHIPPED_FAMILY = "family: {phi: [0, 1, 2], epochs: 3, max_train_images: 2400, batch_size: 32}"


TINY_FAMILY = "family: {phi: [-2, -1, 1]}"


LAYERS_OBJECTIVE = "  objectives: {accuracy: maximize, layers: minimize}\n"
TINY_PROXY = "proxy:\n  dataset: digits\n  epochs: 2\n  batch_size: 32\n  max_train_images: 96\n"


NO_RACE = "race: {trainings: 0, max_seeds: 4, prior_sd: 0.02}"


def write_space(
    folder: Path, name: str, replacements: dict[str, str], trials: int | None = None
) -> Path:
    """cmt_compound with a seconds-long proxy on digits, no race (a test asks for one itself),
    no quiet latency timing, `trials` search trials where given, plus the given text
    replacements."""
    text = (spaces_dir() / "cmt_compound.yaml").read_text()
    if trials is not None:
        text = re.sub(r"(?m)^  trials: \d+$", f"  trials: {trials}", text)
    text = re.sub(r"(?m)^  race: \{.*\}$", f"  {NO_RACE}", text)
    start, end = text.index("proxy:\n"), text.index("search:\n")
    # The proxy and family sections (the shipped family sits between proxy: and search:) give
    # way to a seconds-long proxy and a family that trains as it (its search-φ member is then
    # the source's copy).
    text = text[:start] + TINY_PROXY + TINY_FAMILY + "\n" + text[end:]
    text = text.replace("name: cmt_compound", f"name: {name}")
    text = text.replace("replicates: 2", "replicates: 1")  # a test asks for replicates itself
    # Quiet latency waits for an idle node, which a test beside another never finds: it is
    # tested where a test asks for it (`latency_passes: 3`).
    text = text.replace("\nsearch:\n", "\nsearch:\n  latency_passes: 0\n", 1)
    for old, new in replacements.items():
        assert old in text, old
        text = text.replace(old, new)
    path = folder / f"{name}.yaml"
    path.write_text(text)
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def postgres_database() -> Iterator[str]:
    """A throwaway database on the local PostgreSQL (skips the test if none answers)."""
    import psycopg

    try:
        admin = psycopg.connect(
            "host=127.0.0.1 port=5432 dbname=test user=postgres connect_timeout=10",
            autocommit=True,
        )
    except psycopg.OperationalError as err:
        pytest.skip(f"no PostgreSQL on 127.0.0.1:5432: {err}")
    name = f"scalesearch_test_{os.getpid()}_{free_port()}"
    admin.execute(f"CREATE DATABASE {name}")
    try:
        yield f"postgresql://postgres@127.0.0.1:5432/{name}"
    finally:
        admin.execute(f"DROP DATABASE {name} WITH (FORCE)")
        admin.close()


def pareto_trained(study) -> set[int]:
    """Optuna's Pareto set less the trials that trained nothing themselves (a duplicate takes
    its twin's result, a family copy its source's): what scalesearch's frontier must equal."""
    return {
        t.number
        for t in study.best_trials
        if "duplicate_of" not in t.user_attrs and "copied_from" not in t.user_attrs
    }


def trained_count(trials) -> int:
    """Finished trials that trained an architecture (a duplicate took its twin's result):
    what the search budget counts."""
    from scalesearch.search.store.schema import finished

    return sum(finished(t) and "duplicate_of" not in t.user_attrs for t in trials)
