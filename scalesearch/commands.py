"""Commands the tool prints for a user to run, and users' strings where they land in text.

A study or space name comes from a user or a shared storage and may hold spaces, quotes,
`;` or markup: pasted into a shell unquoted it would run something else, placed in Markdown
or HTML it would render as something else. `command` quotes every word that needs it
(`shlex.quote`) and places the storage flag, which `redact.storage_flag` has made safe
already (the URL quoted, or the variable that holds a password-bearing URL); `markdown_text`
and `code_block` keep a string what it is in a dashboard note or a model card (HTML pages
use `html.escape`).
"""

from __future__ import annotations

import re
import shlex


def command(subcommand: str, *words: object, storage_flag: str | None = None) -> str:
    """`scalesearch SUBCOMMAND [STORAGE FLAG] WORDS...`, every word quoted where it must be."""
    parts = ["scalesearch", subcommand]
    if storage_flag:
        parts.append(storage_flag)
    parts += [shlex.quote(str(w)) for w in words]
    return " ".join(parts)


def retrain(trials: dict[str, list[int]], seeds: int, storage_flag: str | None = None) -> str:
    """`scalesearch retrain` of the given trials (by study) to `seeds` seeds in all, one
    command per study, joined by "; "."""
    return "; ".join(
        command(
            "retrain",
            "--study",
            study,
            *[w for n in numbers for w in ("--trial", n)],
            "--seeds",
            seeds,
            storage_flag=storage_flag,
        )  # fmt: skip
        for study, numbers in trials.items()
    )


def reproduce(study: str, space: str, storage_flag: str, frontier_size: int) -> list[str]:
    """The commands that continue, inspect, train and export a run."""
    return [
        command("run", "--space", space, "--study", study, "--resume", storage_flag=storage_flag),
        command("frontier", "--study", study, storage_flag=storage_flag),
        command("report", "--study", study, storage_flag=storage_flag),
        command("train", "--study", study, "--family", storage_flag=storage_flag),
        command(
            "export",
            "--study",
            study,
            "--pareto",
            max(1, frontier_size),
            "-o",
            f"{study}-frontier",
            storage_flag=storage_flag,
        ),  # fmt: skip
        command("dashboard", storage_flag=storage_flag),
    ]


def markdown_text(text: str) -> str:
    """A user's string as Markdown text that renders as itself: every character Markdown
    or HTML would read as syntax is backslash-escaped (a `<` stays text even where a
    dashboard renders raw HTML), and a line break becomes a space."""
    return re.sub(r"([\\`*_{}\[\]()<>#+\-.!|~&\"'])", r"\\\1", " ".join(text.splitlines()))


def code_block(lines: list[str]) -> str:
    """Lines as a fenced Markdown code block whose fence no backticks inside can close."""
    longest = max((len(run) for line in lines for run in re.findall(r"`+", line)), default=0)
    fence = "`" * max(3, longest + 1)
    return "\n".join([fence, *lines, fence])


def code_span(text: str) -> str:
    """`text` as inline Markdown code (shown as typed: a URL's `***` stays three stars),
    fenced with more backticks than it holds."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"
