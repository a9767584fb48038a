"""The report: one self-contained HTML page of what a run found.

`render_report` writes one file that opens offline (plotly.js inside, once): the answer in
words, the frontiers' tables, the ablation and the laws, then every figure
(`scalesearch.report.figures`) the data allows. `export_png` saves the figures as images.
"""

from __future__ import annotations

import html
from pathlib import Path

from scalesearch.errors import ReportError, why_unwritable
from scalesearch.report.data import ReportData
from scalesearch.report.figures import figures
from scalesearch.report.sections import (
    ablation_html,
    budget_html,
    frontier_html,
    glossary_html,
    law_html,
    reproduce_html,
    summary_html,
    verdict_html,
)
from scalesearch.report.words import at_a_glance, verdict_lines


def render_report(data: ReportData, path: Path) -> Path:
    """Writes the page: summary, verdict, frontiers, then every figure (plotly.js once)."""
    plots = [
        fig.to_html(full_html=False, include_plotlyjs=(i == 0), default_height="480px")
        for i, fig in enumerate(figures(data))
    ]
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(_page(data, plots))
    except OSError as err:
        raise ReportError(
            f"-o {path}: cannot write the report there ({why_unwritable(path, err)})"
        ) from None
    return path


def _page(data: ReportData, plots: list[str]) -> str:
    name = html.escape(data.summary.study)  # a study's name is anyone's text: never markup
    family_note = (
        "Each member trained alike (the family's training), mean ± se over its seeds; "
        "accuracy against MACs across φ."
    )
    search_note = "The search's architectures at its φ (proxy training), mean ± se over seeds."
    return f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>scalesearch report: {name}</title>
<style>body{{font-family:sans-serif;max-width:1100px;margin:2em auto}}table{{border-collapse:collapse}}
td,th{{padding:2px 10px;text-align:right;border-bottom:1px solid #ddd}}code{{background:#f4f4f4}}
#summary{{border:2px solid #345;border-radius:6px;padding:0.5em 1em;background:#f6f8fb}}
#summary th,#summary td{{text-align:left;vertical-align:top;border:none}}</style>
</head><body>
<h1>scalesearch report: {name}</h1>
{summary_html(data, at_a_glance(data))}
{verdict_html(verdict_lines(data))}
{frontier_html("Family frontier", data.family_frontier, family_note)}
{frontier_html("Search frontier", data.search_frontier, search_note)}
{ablation_html(data.ablation)}
{law_html(data.scaling.law)}
{budget_html(data.budget)}
{reproduce_html(data, len(data.family_frontier) or len(data.search_frontier))}
<h2>Figures</h2>
{"".join(f'<div class="plot">{p}</div>' for p in plots)}
{glossary_html()}
</body></html>
"""


def export_png(data: ReportData, folder: Path) -> list[Path]:
    """Static images of every figure (kaleido, which needs a Chrome/Chromium)."""
    try:
        import kaleido  # noqa: F401
    except ImportError:
        raise ReportError(
            "--png needs kaleido and a Chrome/Chromium: pip install kaleido "
            "(and e.g. apt install chromium)"
        ) from None
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, fig in enumerate(figures(data)):
        path = folder / f"figure{i + 1}.png"
        try:
            fig.write_image(path)
        except Exception as err:  # noqa: BLE001 - kaleido reports a missing browser many ways
            raise ReportError(
                f"--png: could not render with kaleido ({err}); is Chrome/Chromium installed?"
            ) from None
        paths.append(path)
    return paths
