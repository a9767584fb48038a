"""The report's answer: the verdict in words, the ablation, and the scaling law's checks.

Figures are plotly; the HTML fragments are plain strings the page (`report.py`) places.
"""

from __future__ import annotations

import html

import numpy as np

from scalesearch.law import LawCheck

STRATEGY_LABELS = {
    "searched": "searched coefficients",
    "default": "default coefficients (papers')",
    "depth": "depth only",
    "width": "width only",
    "resolution": "resolution only",
}


def ablation_figure(cells: list[dict]):
    """Accuracy against MACs, one line per strategy, error bars = sd over seeds."""
    import plotly.graph_objects as go

    fig = go.Figure()
    for strategy, label in STRATEGY_LABELS.items():
        mine = sorted(
            (c for c in cells if c["strategy"] == strategy and c["mean"] is not None),
            key=lambda c: c["phi"],
        )
        if not mine:
            continue
        fig.add_scatter(
            x=[c["macs"] for c in mine],
            y=[c["mean"] for c in mine],
            error_y=dict(type="data", array=[c["sd"] or 0.0 for c in mine], visible=True),
            mode="lines+markers",
            name=label,
            text=[f"φ={c['phi']:g}, {len(c['accuracies'])} seed(s)" for c in mine],
        )
    return fig.update_layout(
        title="Ablation: scaling strategies at equal cost (mean ± sd over seeds)",
        xaxis_type="log",
        xaxis_title="MACs",
        yaxis_title="accuracy",
    )


def law_figure(check: LawCheck, members: list[dict], nxt: dict | None):
    """Error against MACs: the members, the law, its held-out check and (when believed) the
    next member's prediction with its band."""
    import plotly.graph_objects as go

    law = check.law
    fig = go.Figure()
    fig.add_scatter(
        x=[m["macs"] for m in members],
        y=[m["error"] for m in members],
        error_y=dict(type="data", array=[_finite(m["se"]) for m in members], visible=True),
        mode="markers",
        name="members",
    )
    if law is not None:
        top = nxt["macs"] if nxt else max(m["macs"] for m in members)
        grid = np.geomspace(min(m["macs"] for m in members) / 1.5, top * 1.2, 60)
        fig.add_scatter(x=grid, y=law.predict(grid), mode="lines", name=law.formula())
    if check.held_out:
        h = check.held_out
        fig.add_scatter(
            x=[h["macs"]],
            y=[h["predicted"]],
            error_y=dict(
                type="data",
                symmetric=False,
                array=[h["band"][1] - h["predicted"]],
                arrayminus=[h["predicted"] - h["band"][0]],
            ),
            mode="markers",
            marker=dict(symbol="x", size=11),
            name="held-out prediction (95% band)",
        )
    if check.next_prediction:
        p = check.next_prediction
        fig.add_scatter(
            x=[p["macs"]],
            y=[p["error"]],
            error_y=dict(
                type="data",
                symmetric=False,
                array=[p["band"][1] - p["error"]],
                arrayminus=[p["error"] - p["band"][0]],
            ),
            mode="markers",
            marker=dict(symbol="diamond", size=12),
            name="next member (predicted)",
        )
    return fig.update_layout(
        title="Scaling law: error rate against MACs, checked on the largest member",
        xaxis_type="log",
        yaxis_type="log",
        xaxis_title="MACs",
        yaxis_title="error rate",
    )


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
            f"<td>{c['macs'] / 1e6:,.1f}</td><td>{c['cost_ratio']:.2f}×</td><td>{delta}</td></tr>"
        )
    return (
        "<h2>Ablation</h2><p>Each strategy grown to the same counted MACs (cost = MACs over "
        "the target); accuracy is mean ± sd over seeds; Δ is the paired difference from the "
        "default coefficients in points, ± its 95% interval over seeds.</p>"
        "<table><tr><th>φ</th><th>strategy</th><th>accuracy</th><th>seeds</th><th>MMACs</th>"
        f"<th>cost</th><th>Δ vs default</th></tr>{''.join(rows)}</table>"
    )


def law_html(check: LawCheck | None) -> str:
    if check is None:
        return ""
    form = f" Fitted form: {html.escape(check.law.formula())}." if check.law else ""
    return f"<h2>Scaling law</h2><p>{html.escape(check.words)}{form}</p>"


def _finite(value: float) -> float:
    return 0.0 if value is None or value != value else value
