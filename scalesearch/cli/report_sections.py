"""The report's answer as HTML: the verdict in words, the ablation table, the law's checks.

Plain strings that the page (`report.py`, which draws the figures) places.
"""

from __future__ import annotations

import html

from scalesearch.law import LawCheck
from scalesearch.numbers import human

STRATEGY_LABELS = {
    "searched": "searched coefficients",
    "default": "default coefficients (papers')",
    "depth": "depth only",
    "width": "width only",
    "resolution": "resolution only",
}


def verdict_html(lines: list[str]) -> str:
    items = "".join(f"<li>{html.escape(line)}</li>" for line in lines)
    return f'<div id="verdict"><h2>Verdict</h2><ul>{items}</ul></div>'


def ablation_html(cells: list[dict]) -> str:
    if not cells:
        return ""
    rows = []
    for c in cells:
        if c["mean"] is None:
            accuracy = f"not trained: {html.escape(c['pruned'] or '?')}"
        else:
            accuracy = f"{c['mean']:.2%} ± {100 * (c['sd'] or 0):.2f}"
        delta = ""
        if c["difference_from_default"] is not None:
            half = c["ci95_half_width"]
            delta = f"{100 * c['difference_from_default']:+.2f}"
            delta += f" ± {100 * half:.2f}" if half is not None else " (one seed)"
        rows.append(
            f"<tr><td>{c['phi']:g}</td><td>{STRATEGY_LABELS[c['strategy']]}</td>"
            f"<td>{accuracy}</td><td>{len(c['accuracies'])}</td>"
            f"<td>{human(c['macs'])}</td><td>{c['cost_ratio']:.2f}×</td><td>{delta}</td></tr>"
        )
    return (
        "<h2>Ablation</h2><p>Each strategy grown to the same counted MACs (cost = MACs over "
        "the target); accuracy is mean ± sd over seeds; Δ is the paired difference from the "
        "default coefficients in points, ± its 95% interval over seeds.</p>"
        "<table><tr><th>φ</th><th>strategy</th><th>accuracy</th><th>seeds</th><th>MACs</th>"
        f"<th>cost</th><th>Δ vs default</th></tr>{''.join(rows)}</table>"
    )


def law_html(check: LawCheck | None) -> str:
    if check is None:
        return ""
    form = f" Fitted form: {html.escape(check.law.formula())}." if check.law else ""
    return f"<h2>Scaling law</h2><p>{html.escape(check.words)}{form}</p>"
