"""Names anyone can set are text wherever the tool writes them: a run whose study name, space
name and description hold markup, quotes and shell syntax writes a report that runs no
script of theirs in a real browser, notes and a model card that render them as text, and
commands that, given to a shell, name exactly that study."""

from __future__ import annotations

import html
import re
import shlex

import pytest

from scalesearch.cli.main import main
from scalesearch.report.board import _study_note
from scalesearch.report.browser import find_chromium, run_chromium
from scalesearch.report.data import build_report
from scalesearch.report.page import render_report
from scalesearch.search.config import config_from_flags
from scalesearch.search.run.inline import InlineExecutor
from scalesearch.search.run.pipeline import run_search
from scalesearch.search.space import load_space
from scalesearch.search.store import storage as st
from tests.helpers import write_space

PWN = "document.body.setAttribute('data-pwned','yes')"
STUDY = f'x<img src=x onerror="{PWN}">; touch pwned #$(id)`id` *'
SPACE = f"s<script>{PWN}</script>'\""
DESCRIPTION = f'<b onmouseover="{PWN}">bold</b> & [link](javascript:{PWN})'


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    folder = tmp_path_factory.mktemp("hostile")
    quoted = SPACE.replace("\\", "\\\\").replace('"', '\\"')
    path = write_space(folder, "hostile", {"name: hostile": f'name: "{quoted}"'}, trials=2)
    text = path.read_text()
    description = DESCRIPTION.replace('"', '\\"')
    text = re.sub(r"(?m)^description: .*$", f'description: "{description}"', text)
    path.write_text(text)
    space = load_space(path)
    assert space.name == SPACE and space.description == DESCRIPTION
    url = st.default_storage(folder)
    config = config_from_flags(space, folder / "run", storage=url, study_name=STUDY, trials=2)
    run_search(config, log=lambda line: None, executor=InlineExecutor())
    return url, folder


def _commands(text: str) -> list[list[str]]:
    """Every `scalesearch ...` line of a text, as a shell would split it."""
    return [shlex.split(line) for line in text.splitlines() if line.startswith("scalesearch ")]


def _studies(commands: list[list[str]]) -> list[str]:
    return [c[c.index("--study") + 1] for c in commands if "--study" in c]


def test_the_report_runs_no_script_of_a_name_and_its_commands_name_the_study(hostile) -> None:
    url, folder = hostile
    page = render_report(build_report(url, STUDY), folder / "report.html")
    text = page.read_text()
    assert "<img src=x" not in text and "<script>document" not in text
    assert html.escape(STUDY) in text  # shown, as text
    code = text[text.index("<h2>Reproduce") :]
    code = html.unescape(code[code.index("<code>") + 6 : code.index("</code>")])
    commands = _commands(code)
    assert len(commands) >= 5
    assert set(_studies(commands)) <= {STUDY, f"{STUDY}-frontier"}
    assert _studies(commands).count(STUDY) >= 4
    spaces = [c[c.index("--space") + 1] for c in commands if "--space" in c]
    assert spaces == [SPACE]
    if find_chromium() is None:
        pytest.skip("no Chromium on this machine (apt install chromium; .ci/run installs it)")
    dom = run_chromium(page, "--dump-dom").stdout
    assert "<body" in dom and 'data-pwned="yes"' not in dom  # no handler ran
    assert '<img src="x"' not in dom and "<b onmouseover" not in dom


def test_notes_and_cards_keep_names_as_markdown_text(hostile, capsys) -> None:
    url, folder = hostile
    note = _study_note(build_report(url, STUDY))
    prose = re.sub(r"(?ms)^(`{3,})\n.*?^\1$", "", note)  # the text outside code blocks
    assert not re.search(r"(?<!\\)[<>]", prose), prose  # no tag a renderer could build
    assert not re.search(r"(?<!\\)\[link\]", prose)
    assert set(_studies(_commands(note))) <= {STUDY, f"{STUDY}-frontier"}
    out = folder / "models"
    assert (
        main(
            [
                "export",
                "--storage",
                url,
                "--study",
                STUDY,
                "--pareto",
                "1",
                "-o",
                str(out),
                "--exporter",
                "torchscript",
            ]
        )
        == 0  # fmt: skip
    )
    (card,) = out.glob("*/README.md")
    text = card.read_text()
    prose = re.sub(r"(?ms)^(`{3,})(?:python)?\n.*?^\1$", "", text)
    prose = re.sub(r"(?m)^> ", "", prose)  # the card's own blockquote (untrained weights)
    prose = re.sub(r"(`+)(?!`).*?(?<!`)\1(?!`)", "", prose)  # inline code: shown as typed
    assert not re.search(r"(?<!\\)[<>]", prose), prose
    studies = _studies(_commands(text))
    assert studies and set(studies) == {f"{STUDY}.family"}  # the exported trial's study


def test_the_interrupt_and_answer_lines_quote_the_study(hostile, capsys) -> None:
    url, _ = hostile
    assert main(["frontier", "--storage", url, "--study", STUDY]) == 0
    out = capsys.readouterr().out
    assert "Traceback" not in out
    assert (
        main(["report", "--storage", url, "--study", STUDY, "-o", str(hostile[1] / "r.html")]) == 0
    )
