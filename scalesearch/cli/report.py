"""The report: one self-contained HTML page of what a search found.

The only module that imports plotly. Its data comes from `scalesearch.cli.report_data`;
`render_report` turns it into figures thinly and writes one file that opens offline
(plotly.js inside).
"""

from __future__ import annotations

import html
from pathlib import Path

import numpy as np

from scalesearch.cli.report_sections import STRATEGY_LABELS, ablation_html, law_html, verdict_html
from scalesearch.errors import ReportError
from scalesearch.law import LawCheck
from scalesearch.numbers import human, milliseconds, trial_counts
from scalesearch.stats import format_accuracy


def figures(data: dict) -> list:
    import plotly.graph_objects as go

    points, family, law = data["points"], data["family"], data["law"]
    hover = [
        f"trial {p['trial']} ({p['phase']}, φ={p['phi']:g})<br>α={_f(p['alpha'])} β={_f(p['beta'])} "
        f"γ={_f(p['gamma'])}<br>{human(p['macs'], 'MACs')}, {human(p['params'], 'params')}"
        + (f", {milliseconds(p['latency_ms'])}" if p.get("latency_ms") else "")
        for p in points
    ]
    scatter = go.Figure()
    _trial_markers(scatter, [p["macs"] for p in points], points, hover)
    front = sorted((p for p in points if p["on_frontier"]), key=lambda p: p["macs"])
    objectives = data["summary"]["objectives"]
    # On three objectives the frontier is a surface: its points ringed, not a line through
    # a projection (a point kept for its latency would read as a dip in accuracy).
    flat = len(objectives) <= 2
    scatter.add_scatter(
        x=[p["macs"] for p in front],
        y=[p["accuracy"] for p in front],
        mode="lines" if flat else "markers",
        name="Pareto frontier" if flat else f"Pareto frontier on {', '.join(objectives)}",
        line=dict(color="crimson"),
        marker=dict(symbol="circle-open", size=16, color="crimson", line=dict(width=2)),
    )
    macs_of = {p["trial"]: p["macs"] for p in points}
    done = [r for r in data["finals"] if r["status"] == "completed" and r["trial"] in macs_of]
    if done:
        scatter.add_scatter(
            x=[macs_of[r["trial"]] for r in done],
            y=[r["test_accuracy"] for r in done],
            mode="markers",
            name="final (DeepSpeed, test)",
            marker=dict(symbol="star", size=12, color="darkorange"),
            text=[f"trial {r['trial']}: {r['epochs']} epochs" for r in done],
        )
    scatter.update_layout(
        title="Accuracy against MACs",
        xaxis_type="log",
        xaxis_title="MACs",
        yaxis_title="validation accuracy (proxy)",
    )
    figs = [scatter]
    timed = [p for p in points if p.get("latency_ms")]
    if timed:
        figs.append(latency_figure(timed))

    if family:
        fam = go.Figure()
        phis = [p["phi"] for p in family]
        fam.add_scatter(x=phis, y=[p["macs"] for p in family], name="MACs", yaxis="y")
        fam.add_scatter(x=phis, y=[p["params"] for p in family], name="params", yaxis="y")
        fam.add_scatter(x=phis, y=[p["accuracy"] for p in family], name="accuracy", yaxis="y2")
        fam.update_layout(
            title="The family against φ",
            xaxis_title="φ",
            yaxis=dict(type="log", title="MACs / params"),
            yaxis2=dict(title="accuracy", overlaying="y", side="right"),
        )
        figs.append(fam)

    search = [p for p in points if p["phase"] == "search" and p["alpha"] is not None]
    if search:
        figs.append(
            go.Figure(
                go.Parcoords(
                    line=dict(
                        color=[p["accuracy"] for p in search], colorscale="Viridis", showscale=True
                    ),
                    dimensions=[
                        dict(label=k, values=[p[k] for p in search])
                        for k in ("alpha", "beta", "gamma", "accuracy")
                    ],
                )
            ).update_layout(title="Coefficients and accuracy (search trials)")
        )
    if data["importances"]:
        names = list(data["importances"])
        figs.append(
            go.Figure(
                go.Bar(x=[data["importances"][n] for n in names], y=names, orientation="h")
            ).update_layout(
                title="Parameter importance for reaching the top accuracies (PED-ANOVA)"
            )
        )
    if data["fidelity"]:
        pairs = data["fidelity"]["pairs"]
        figs.append(
            go.Figure(
                go.Scatter(
                    x=[p[1] for p in pairs],
                    y=[p[2] for p in pairs],
                    mode="markers+text",
                    text=[f"trial {p[0]}" for p in pairs],
                    textposition="top center",
                )
            ).update_layout(
                title=f"Proxy against final accuracy (Kendall τ {data['fidelity']['tau']:.2f})",
                xaxis_title="proxy validation accuracy",
                yaxis_title="final test accuracy",
            )
        )
    if data["ablation"]:
        figs.append(ablation_figure(data["ablation"]))
    if law is not None and data["law_members"]:
        figs.append(law_figure(law, data["law_members"], data["next"]))
    return figs


def latency_figure(points: list[dict]):
    """Accuracy against measured latency (batch 1), with the MACs in the hover."""
    import plotly.graph_objects as go

    fig = go.Figure()
    hover = [f"trial {p['trial']}, {human(p['macs'], 'MACs')}" for p in points]
    _trial_markers(fig, [p["latency_ms"] for p in points], points, hover)
    return fig.update_layout(
        title="Accuracy against measured latency (batch 1; one device type only)",
        xaxis_type="log",
        xaxis_title="latency (ms)",
        yaxis_title="validation accuracy (proxy)",
    )


def _trial_markers(fig, x: list[float], points: list[dict], hover: list[str]) -> None:
    """Trials' accuracies against `x` with their standard errors, the frontier in red."""
    fig.add_scatter(
        x=x,
        y=[p["accuracy"] for p in points],
        error_y=dict(type="data", array=[_finite(p["accuracy_se"]) for p in points], visible=True),
        mode="markers",
        name="trials (± se)",
        text=hover,
        hoverinfo="text+x+y",
        marker=dict(color=["crimson" if p["on_frontier"] else "steelblue" for p in points]),
    )


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
        _banded_point(
            fig, h["macs"], h["predicted"], h["band"], "x", "held-out prediction (95% band)"
        )
    if check.next_prediction:
        p = check.next_prediction
        _banded_point(fig, p["macs"], p["error"], p["band"], "diamond", "next member (predicted)")
    return fig.update_layout(
        title="Scaling law: error rate against MACs, checked on the largest member",
        xaxis_type="log",
        yaxis_type="log",
        xaxis_title="MACs",
        yaxis_title="error rate",
    )


def _banded_point(fig, macs: float, value: float, band, symbol: str, name: str) -> None:
    """A predicted error with its asymmetric 95% band."""
    fig.add_scatter(
        x=[macs],
        y=[value],
        error_y=dict(
            type="data", symmetric=False, array=[band[1] - value], arrayminus=[value - band[0]]
        ),
        mode="markers",
        marker=dict(symbol=symbol, size=12),
        name=name,
    )


def _finite(value: float | None) -> float:
    return 0.0 if value is None or value != value else value


def _budget(trials: int | None) -> str:
    return "not recorded" if trials is None else f"{trials:,} trainings"


def _f(value) -> str:
    return "-" if value is None else f"{value:.3f}"


def render_report(data: dict, path: Path) -> Path:
    """Writes the page: summary, commands, then every figure (plotly.js embedded once)."""
    figs = figures(data)
    parts = [
        fig.to_html(full_html=False, include_plotlyjs=(i == 0), default_height="480px")
        for i, fig in enumerate(figs)
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(_page(data, parts))
    return path


def _page(data: dict, plots: list[str]) -> str:
    s = data["summary"]
    timed = any(p.get("latency_ms") for p in data["frontier"])
    rows = "".join(
        f"<tr><td>{p['trial']}</td><td>{p['phase']}</td><td>{p['phi']:g}</td>"
        f"<td>{format_accuracy(p['accuracy'], p['accuracy_se'])}</td><td>{p['seeds']}</td>"
        f"<td>{human(p['macs'])}</td><td>{human(p['params'])}</td>"
        + (
            f"<td>{milliseconds(p['latency_ms']) if p.get('latency_ms') else '-'}</td>"
            if timed
            else ""
        )
        + f"<td>{_f(p['coefficients'].get('alpha'))}</td><td>{_f(p['coefficients'].get('beta'))}</td>"
        f"<td>{_f(p['coefficients'].get('gamma'))}</td></tr>"
        for p in data["frontier"]
    )
    latency_head = "<th>latency</th>" if timed else ""
    storage = html.escape(s["storage"])
    name = html.escape(s["study"])
    states = trial_counts(s["trials"])
    budget = human(s["max_macs"], "MACs") if s["max_macs"] else "none"
    glance = "".join(
        f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>" for k, v in data["glance"]
    )
    k = max(1, len(data["frontier"]))
    words = data["noise"]["words"]
    # Said once: the verdict quotes the seed-noise judgement when it has one.
    noise = (
        "" if words in data["verdict"] else f"<p><b>Signal and noise</b>: {html.escape(words)}</p>"
    )
    return f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>scalesearch report: {name}</title>
<style>body{{font-family:sans-serif;max-width:1100px;margin:2em auto}}table{{border-collapse:collapse}}
td,th{{padding:2px 10px;text-align:right;border-bottom:1px solid #ddd}}code{{background:#f4f4f4}}
#summary{{border:2px solid #345;border-radius:6px;padding:0.5em 1em;background:#f6f8fb}}
#summary th,#summary td{{text-align:left;vertical-align:top;border:none}}</style>
</head><body>
<h1>scalesearch report: {name}</h1>
<div id="summary"><h2>At a glance</h2><table>{glance}</table></div>
<p>Space <b>{html.escape(s["space"])}</b>, objectives {html.escape(", ".join(s["objectives"]))};
trials: {html.escape(states)}; search budget {_budget(s["budget"])}; MACs budget {budget}.</p>
{verdict_html(data["verdict"])}
<h2>Pareto frontier</h2>
{noise}
<table><tr><th>trial</th><th>phase</th><th>φ</th><th>accuracy ± se (points)</th><th>seeds</th><th>MACs</th><th>params</th>
{latency_head}<th>α</th><th>β</th><th>γ</th></tr>{rows}</table>
{ablation_html(data["ablation"])}
{law_html(data["law"])}
<h2>Reproduce</h2>
<pre><code>scalesearch run --space {html.escape(s["space"])} --study {name} --storage '{storage}' --resume
scalesearch frontier --storage '{storage}' --study {name}
scalesearch train --storage '{storage}' --study {name} --pareto 2
scalesearch export --storage '{storage}' --study {name} --pareto {k} -o {name}-frontier
scalesearch dashboard --storage '{storage}'</code></pre>
<h2>Figures</h2>
{"".join(f'<div class="plot">{p}</div>' for p in plots)}
</body></html>
"""


def export_png(data: dict, folder: Path) -> list[Path]:
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
