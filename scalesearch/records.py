"""scalesearch's own tables, in the same SQL database as the Optuna study.

Optuna owns its schema; what it has no place for lives here, through SQLAlchemy Core, so
it works on SQLite and PostgreSQL alike and the tables are created on first use:

- `scalesearch_claims`: one row per unit of work a driver took (a family member), so that
  several drivers sharing a study never train the same thing twice. The primary key makes
  a claim atomic in the database itself.
"""

from __future__ import annotations

import datetime as dt
import functools
import random
import time
from collections.abc import Callable
from typing import TypeVar

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError, ProgrammingError

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


def creating_schema(create: Callable[[], T], attempts: int = 5) -> T:
    """Runs `create` again when another process created the same tables at the same moment.

    Drivers that start together on a fresh PostgreSQL database all find the tables missing
    and all create them; all but one then fail on a duplicate name. On the next try the
    tables are there.
    """
    for attempt in range(attempts):
        try:
            return create()
        except (IntegrityError, ProgrammingError):
            if attempt == attempts - 1:
                raise
            time.sleep(0.2 + random.random())
    raise AssertionError("unreachable")


@functools.lru_cache(maxsize=8)
def engine(url: str) -> sa.Engine:
    """One engine per database URL (a pool, reused), with the tables created."""
    made = sa.create_engine(url, pool_pre_ping=True)
    creating_schema(lambda: metadata.create_all(made, checkfirst=True))
    return made


def claim(url: str, study: str, key: str, owner: str) -> bool:
    """Takes `key` for `owner`; False when another owner holds it already."""
    row = dict(study=study, key=key, owner=owner, claimed_at=dt.datetime.now(dt.UTC))
    try:
        with engine(url).begin() as connection:
            connection.execute(claims.insert().values(**row))
    except IntegrityError:
        return False
    return True


def claim_owner(url: str, study: str, key: str) -> str | None:
    with engine(url).connect() as connection:
        return connection.execute(
            sa.select(claims.c.owner).where(claims.c.study == study, claims.c.key == key)
        ).scalar_one_or_none()
