"""Commands the tool prints for a user to run: each word one shell word, whatever it holds.

A study or space name comes from a user or a shared storage and may hold spaces, quotes or
`;`: pasted into a shell unquoted it would run something else. `command` quotes every word
that needs it (`shlex.quote`) and places the storage flag, which `redact.storage_flag` has
made safe already (the URL quoted, or the variable that holds a password-bearing URL).
"""

from __future__ import annotations

import shlex


def command(subcommand: str, *words: object, storage_flag: str | None = None) -> str:
    """`scalesearch SUBCOMMAND [STORAGE FLAG] WORDS...`, every word quoted where it must be."""
    parts = ["scalesearch", subcommand]
    if storage_flag:
        parts.append(storage_flag)
    parts += [shlex.quote(str(w)) for w in words]
    return " ".join(parts)
