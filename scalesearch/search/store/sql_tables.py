"""scalesearch's own tables, in the same SQL database as the Optuna study.

Optuna owns its schema; what it has no place for lives here, through SQLAlchemy Core, so
it works on SQLite and PostgreSQL alike and the tables are created on first use:

- `scalesearch_claims`: one row per unit of work a driver took (a family member), so that
  several drivers sharing a study never train the same thing twice. The primary key makes
  a claim atomic in the database itself.
- `scalesearch_final_runs`: one row per final (DeepSpeed) training of a trial's spec, so the
  frontier and the report can show final accuracy next to the proxy's.
- `scalesearch_latency`: one row per architecture of a run, timed with nothing else training
  on the node (or marked unmeasured, with the reason): a latency belongs to the network, and
  a finished trial's attributes cannot be written afterwards.
"""

from __future__ import annotations

import datetime as dt
import functools
import random
import time
from collections.abc import Callable
from typing import TypeVar

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError

T = TypeVar("T")

metadata = sa.MetaData()

claims = sa.Table(
    "scalesearch_claims",
    metadata,
    sa.Column("study", sa.String(512), primary_key=True),
    sa.Column("key", sa.String(512), primary_key=True),
    sa.Column("owner", sa.String(512), nullable=False),
    sa.Column("claimed_at", sa.DateTime, nullable=False),
)


# How SQLite words the loss of a race to create the same tables.
_SQLITE_RACE_SIGNS = ("locked", "already exists")


def creating_schema(create: Callable[[], T], attempts: int = 5) -> T:
    """Runs `create` again when another process created the same tables at the same moment.

    Drivers (or a driver and a `report` run beside it) that start together on a fresh
    database all find the tables missing and all create them; all but one then fail on a
    duplicate name (PostgreSQL's IntegrityError or ProgrammingError; SQLite's "table ...
    already exists") or a lock (SQLite's "database is locked"). On the next try the tables
    are there.
    """
    for attempt in range(attempts):
        try:
            return create()
        except (IntegrityError, ProgrammingError, OperationalError) as err:
            racing = not isinstance(err, OperationalError) or any(
                sign in str(err) for sign in _SQLITE_RACE_SIGNS
            )
            if not racing or attempt == attempts - 1:
                raise
            time.sleep(0.2 + random.random())
    raise AssertionError("unreachable")


final_runs = sa.Table(
    "scalesearch_final_runs",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("study", sa.String(512), nullable=False, index=True),
    sa.Column("trial", sa.Integer, nullable=False),
    sa.Column("spec_hash", sa.String(64), nullable=False),
    sa.Column("dataset", sa.String(64), nullable=False),
    sa.Column("epochs", sa.Integer, nullable=False),
    sa.Column("epochs_done", sa.Integer, nullable=False, default=0),
    sa.Column("steps", sa.Integer, nullable=False, default=0),
    sa.Column("world_size", sa.Integer, nullable=False),
    sa.Column("test_accuracy", sa.Float),
    sa.Column("params", sa.BigInteger, nullable=False),
    sa.Column("macs", sa.BigInteger, nullable=False),
    sa.Column("wall_seconds", sa.Float, nullable=False, default=0.0),
    sa.Column("checkpoint", sa.String(1024), nullable=False),
    sa.Column("status", sa.String(32), nullable=False),  # running, completed, interrupted, failed
    sa.Column("updated_at", sa.DateTime, nullable=False),
    # Added in 0.2 (older databases get them on first use, empty for their runs):
    sa.Column("recipe", sa.String(512)),  # "light", or the paper's recipe as fitted to the run
    sa.Column("init_from", sa.String(1024)),  # the checkpoint the run started from, if any
    sa.Column("test_images", sa.Integer),  # the test accuracy's n, for its standard error
    sa.Column("precision", sa.String(16)),  # fp32 or bf16, as it trained
    sa.UniqueConstraint("study", "trial", "checkpoint"),
)

latencies = sa.Table(
    "scalesearch_latency",
    metadata,
    sa.Column("study", sa.String(512), primary_key=True),  # the run (its search study)
    sa.Column("spec_hash", sa.String(64), primary_key=True),
    sa.Column("session", sa.String(64), nullable=False),  # one timing: its networks interleaved
    sa.Column("device", sa.String(256), nullable=False),
    sa.Column("ms_batch1", sa.Float),  # the median over passes; None: unmeasured
    sa.Column("ms_batch", sa.Float),
    sa.Column("batch", sa.Integer),
    sa.Column("passes_ms", sa.String(1024)),  # JSON: each pass's batch-1 median
    sa.Column("layers", sa.Integer),  # sequential layers: what latency should follow
    sa.Column("unmeasured", sa.String(512)),  # why it was not timed
    sa.Column("timed_at", sa.DateTime, nullable=False),
)

FINAL_COLUMNS = tuple(c.name for c in final_runs.columns if c.name not in ("id", "updated_at"))


@functools.lru_cache(maxsize=8)
def engine(url: str) -> sa.Engine:
    """One engine per database URL (a pool, reused), with the tables created: for writers."""
    made = _connect(url)
    creating_schema(lambda: metadata.create_all(made, checkfirst=True))
    creating_schema(lambda: _add_missing_columns(made))
    return made


CONNECT_TIMEOUT_S = 15


def engine_options(url: str) -> dict:
    """SQLAlchemy engine settings for a storage URL: connections checked before use, and a
    PostgreSQL server that does not answer is an error after CONNECT_TIMEOUT_S, not a hang."""
    options: dict = {"pool_pre_ping": True}
    if sa.engine.make_url(url).get_backend_name() == "postgresql":
        options["connect_args"] = {"connect_timeout": CONNECT_TIMEOUT_S}
    return options


@functools.lru_cache(maxsize=8)
def _connect(url: str) -> sa.Engine:
    """One engine per database URL, as it is: a reader creates nothing."""
    return sa.create_engine(url, **engine_options(url))


def _add_missing_columns(made: sa.Engine) -> None:
    """Adds the nullable columns a table gained since the database was created."""
    inspector = sa.inspect(made)
    for table in metadata.sorted_tables:
        present = {c["name"] for c in inspector.get_columns(table.name)}
        for column in table.columns:
            if column.name not in present:
                assert column.nullable, f"{table.name}.{column.name} cannot be added to old rows"
                kind = column.type.compile(made.dialect)
                with made.begin() as connection:
                    connection.execute(
                        sa.text(f'ALTER TABLE {table.name} ADD COLUMN "{column.name}" {kind}')
                    )


def claim(url: str, study: str, key: str, owner: str) -> bool:
    """Takes `key` for `owner`; False when another owner holds it already."""
    row = dict(study=study, key=key, owner=owner, claimed_at=dt.datetime.now(dt.UTC))
    try:
        with engine(url).begin() as connection:
            connection.execute(claims.insert().values(**row))
    except IntegrityError:
        return False
    return True


def save_final_run(url: str, row: dict) -> None:
    """Inserts or updates the run of (study, trial, checkpoint): a resumed run updates its row."""
    row = {**row, "updated_at": dt.datetime.now(dt.UTC)}
    key = (
        (final_runs.c.study == row["study"])
        & (final_runs.c.trial == row["trial"])
        & (final_runs.c.checkpoint == row["checkpoint"])
    )
    with engine(url).begin() as connection:
        if connection.execute(sa.select(final_runs.c.id).where(key)).first():
            connection.execute(final_runs.update().where(key).values(**row))
        else:
            connection.execute(final_runs.insert().values(**row))


def load_final_runs(url: str, study: str) -> list[dict]:
    """The study's final runs, oldest first (none where no run was ever recorded: reading
    creates no table)."""
    if not sa.inspect(_connect(url)).has_table(final_runs.name):
        return []
    table = final_runs
    present = {c["name"] for c in sa.inspect(_connect(url)).get_columns(final_runs.name)}
    columns = [c for c in table.columns if c.name in present]  # a 0.1 table lacks 0.2's
    with _connect(url).connect() as connection:
        rows = connection.execute(
            sa.select(*columns).where(table.c.study == study).order_by(table.c.id)
        )
        return [{c.name: None for c in table.columns} | dict(r._mapping) for r in rows]


def save_latencies(url: str, rows: list[dict]) -> None:
    """Adds a run's timed architectures; one timed already (by another driver) is kept."""
    now = dt.datetime.now(dt.UTC)
    for row in rows:
        try:
            with engine(url).begin() as connection:
                connection.execute(latencies.insert().values(**row, timed_at=now))
        except IntegrityError:
            continue


def load_latencies(url: str, study: str) -> list[dict]:
    """The run's timed architectures (none where nothing was ever timed: reading creates
    no table)."""
    if not sa.inspect(_connect(url)).has_table(latencies.name):
        return []
    with _connect(url).connect() as connection:
        rows = connection.execute(sa.select(latencies).where(latencies.c.study == study))
        return [dict(r._mapping) for r in rows]
