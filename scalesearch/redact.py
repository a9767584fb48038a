"""Storage URLs as people may see them: the password hidden, and commands that still run.

A storage URL may carry a password (`postgresql://user:secret@host/db`). What the tool
prints or writes for people to read and share — progress lines, errors, the report, model
cards, dashboard notes — shows it hidden (SQLAlchemy's `render_as_string(hide_password=True)`,
`***`), and a command to run again names the storage as `"$SCALESEARCH_STORAGE"`, the
variable every `--storage` falls back to, instead of the URL.
"""

from __future__ import annotations

import re

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

STORAGE_ENV = "SCALESEARCH_STORAGE"
# user:password@ in anything that looks like a URL, for text SQLAlchemy cannot parse.
_USERINFO = re.compile(r"(?P<scheme>[a-zA-Z][\w+.-]*://)(?P<user>[^:/@\s]*):(?P<secret>[^@\s]*)@")


def has_password(url: str) -> bool:
    try:
        return make_url(url).password is not None
    except ArgumentError:
        return bool(_USERINFO.search(url))


def shown(url: str) -> str:
    """The URL with its password replaced by ***."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return hidden_in(url)


def hidden_in(text: str) -> str:
    """Any text with the password of every URL in it replaced by *** (error messages that
    quote a URL, a driver's exception)."""
    return _USERINFO.sub(lambda m: f"{m['scheme']}{m['user']}:***@", text)


def storage_flag(url: str) -> str:
    """`--storage ...` for a command to run again: the URL itself (one shell word, quoted),
    or the environment variable that holds it where it has a password."""
    return f'--storage "${STORAGE_ENV}"' if has_password(url) else f"--storage {single_quoted(url)}"


def single_quoted(text: str) -> str:
    """`text` as one shell word in single quotes (a quote inside closed and reopened)."""
    return "'" + text.replace("'", "'\"'\"'") + "'"
