"""After a command trained something: the report and the dashboard refreshed, the answer said."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from scalesearch.cli.common import say
from scalesearch.search.store.studies import RunStudies


def publish_answer(
    run: RunStudies,
    page: Path,
    artifacts: str | None,
    log: Callable[[str], None],
    glance: bool = False,
) -> None:
    """Writes the report at `page`, refreshes the dashboard's notes and figures, and (with
    `glance`) prints the answer in words, one line per question."""
    from scalesearch.report.board import publish_run
    from scalesearch.report.data import report_of
    from scalesearch.report.page import render_report
    from scalesearch.report.words import at_a_glance

    data = report_of(run)
    if glance:
        for label, words in at_a_glance(data):
            say(label, words)
    log(f"report: {render_report(data, page)}")
    log(publish_run(run, data, page, artifacts))
