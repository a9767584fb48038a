"""The report: one self-contained HTML page of what a run found.

The only module that imports plotly. Its data is `scalesearch.cli.report_data`'s typed
records; each figure is one small function (None where its data is missing), and
`render_report` writes one file that opens offline (plotly.js inside). The first figure is
the family frontier, accuracy against MACs across φ: the run's answer.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from scalesearch.cli.report_data import ReportData, TrialPoint
from scalesearch.cli.report_sections import (
    STRATEGY_LABELS,
    ablation_html,
    frontier_html,
    law_html,
    reproduce_html,
    summary_html,
    verdict_html,
)
from scalesearch.cli.report_words import at_a_glance, verdict_lines
from scalesearch.errors import ReportError, why_unwritable
from scalesearch.formatting import human, milliseconds

ERROR_BARS = dict(type="data", visible=True)


def figures(data: ReportData) -> list:
    """Every figure the data allows, the answer first."""
    makers = (
        family_figure,
        search_figure,
        latency_figure,
        coefficients_figure,
        importance_figure,
        fidelity_figure,
        ablation_figure,
        law_figure,
    )
    return [fig for fig in (make(data) for make in makers) if fig is not None]


def family_figure(data: ReportData):
    """The family frontier: each member's mean accuracy ± se over its seeds against MACs,
    and its final trainings (test accuracy) where there are some."""
    import plotly.graph_objects as go

    if not data.members:
        return None
    members = data.members
    fig = go.Figure()
    fig.add_scatter(
        x=[m.macs for m in members],
        y=[m.accuracy for m in members],
        error_y=dict(array=[_finite(m.se) for m in members], **ERROR_BARS),
        mode="lines+markers",
        name="family members (mean ± se over seeds)",
        text=[f"φ = {m.phi:g}, {m.seeds} seed(s)" for m in members],
        line=dict(color="crimson"),
    )
    family = {p.trial: p.macs for p in data.family_points}
    study = data.family_points[0].study if data.family_points else None
    done = [r for r in data.finals if r["status"] == "completed" and r["study"] == study]
    if done:
        fig.add_scatter(
            x=[family[r["trial"]] for r in done if r["trial"] in family],
            y=[r["test_accuracy"] for r in done if r["trial"] in family],
            mode="markers",
            name="final (DeepSpeed, test)",
            marker=dict(symbol="star", size=12, color="darkorange"),
        )
    return fig.update_layout(
        title=f"The family frontier: accuracy against MACs across φ ({data.scaling.kind})",
        xaxis_type="log",
        xaxis_title="MACs",
        yaxis_title="validation accuracy (family training)",
    )


def search_figure(data: ReportData):
    """The search at its φ: accuracy against its cost that varies (at equal MACs)."""
    import plotly.graph_objects as go

    points = data.search_points
    if not points:
        return None
    cost = next((c for c in points[0].costs if c != "macs"), "macs")
    fig = go.Figure()
    x = [p.costs.get(cost) if cost != "macs" else p.macs for p in points]
    hover = [
        f"trial {p.trial} ({p.phase})<br>α={_f(p.alpha)} β={_f(p.beta)} γ={_f(p.gamma)}"
        f"<br>{human(p.macs, 'MACs')}" + (f", {milliseconds(p.latency_ms)}" if p.latency_ms else "")
        for p in points
    ]
    _trial_markers(fig, x, points, hover)
    front = sorted(data.search_frontier, key=lambda p: (p.costs or {}).get(cost) or p.macs)
    fig.add_scatter(
        x=[(p.costs or {}).get(cost) or p.macs for p in front],
        y=[p.accuracy for p in front],
        error_y=dict(array=[_finite(p.accuracy_se) for p in front], **ERROR_BARS),
        mode="lines+markers",
        name="search frontier (mean over seeds)",
        line=dict(color="crimson"),
    )
    label = "latency (ms)" if cost == "latency" else cost
    return fig.update_layout(
        title=f"The search: accuracy against {label} at equal MACs (proxy training)",
        xaxis_title=label,
        yaxis_title="validation accuracy (proxy)",
    )


def latency_figure(data: ReportData):
    """Accuracy against measured latency (batch 1), with the MACs in the hover."""
    import plotly.graph_objects as go

    timed = [p for p in data.search_points if p.latency_ms]
    if not timed:
        return None
    fig = go.Figure()
    hover = [f"trial {p.trial}, {human(p.macs, 'MACs')}" for p in timed]
    _trial_markers(fig, [p.latency_ms for p in timed], timed, hover)
    return fig.update_layout(
        title="Accuracy against measured latency (batch 1; one device type only)",
        xaxis_type="log",
        xaxis_title="latency (ms)",
        yaxis_title="validation accuracy (proxy)",
    )


def _trial_markers(fig, x: list, points: list[TrialPoint], hover: list[str]) -> None:
    """Trials' accuracies against `x` with their binomial errors, the frontier in red."""
    fig.add_scatter(
        x=x,
        y=[p.accuracy for p in points],
        error_y=dict(array=[_finite(p.accuracy_se) for p in points], **ERROR_BARS),
        mode="markers",
        name="trials (± se)",
        text=hover,
        hoverinfo="text+x+y",
        marker=dict(color=["crimson" if p.on_frontier else "steelblue" for p in points]),
    )


def coefficients_figure(data: ReportData):
    import plotly.graph_objects as go

    search = [p for p in data.search_points if p.phase == "search" and p.alpha is not None]
    if not search:
        return None
    dimensions = [
        dict(label=k, values=[getattr(p, k) for p in search])
        for k in ("alpha", "beta", "gamma", "accuracy")
    ]
    colors = dict(color=[p.accuracy for p in search], colorscale="Viridis", showscale=True)
    return go.Figure(go.Parcoords(line=colors, dimensions=dimensions)).update_layout(
        title="Coefficients and accuracy (search trials)"
    )


def importance_figure(data: ReportData):
    import plotly.graph_objects as go

    if not data.importances:
        return None
    names = list(data.importances)
    bars = go.Bar(x=[data.importances[n] for n in names], y=names, orientation="h")
    return go.Figure(bars).update_layout(
        title="Parameter importance for reaching the top accuracies (PED-ANOVA)"
    )


def fidelity_figure(data: ReportData):
    import plotly.graph_objects as go

    if data.fidelity is None:
        return None
    pairs = data.fidelity.pairs
    scatter = go.Scatter(
        x=[p[1] for p in pairs],
        y=[p[2] for p in pairs],
        mode="markers+text",
        text=[f"trial {p[0]}" for p in pairs],
        textposition="top center",
    )
    return go.Figure(scatter).update_layout(
        title=f"Proxy against final accuracy (Kendall τ {data.fidelity.tau:.2f})",
        xaxis_title="proxy validation accuracy",
        yaxis_title="final test accuracy",
    )


def ablation_figure(data: ReportData):
    """Accuracy against MACs, one line per strategy, error bars = sd over seeds."""
    import plotly.graph_objects as go

    if not data.ablation:
        return None
    fig = go.Figure()
    for strategy, label in STRATEGY_LABELS.items():
        mine = sorted(
            (c for c in data.ablation if c.strategy == strategy and c.accuracies),
            key=lambda c: c.phi,
        )
        if mine:
            fig.add_scatter(
                x=[c.macs for c in mine],
                y=[c.mean for c in mine],
                error_y=dict(array=[c.sd for c in mine], **ERROR_BARS),
                mode="lines+markers",
                name=label,
                text=[f"φ={c.phi:g}, {len(c.accuracies)} seed(s)" for c in mine],
            )
    return fig.update_layout(
        title="Ablation: scaling strategies at equal cost (mean ± sd over seeds)",
        xaxis_type="log",
        xaxis_title="MACs",
        yaxis_title="accuracy",
    )


def law_figure(data: ReportData):
    """Error against MACs: the members, the law, its held-out check and (when believed) the
    next member's prediction with its band."""
    import plotly.graph_objects as go

    check, members = data.scaling.law, data.members
    if check is None or check.law is None or not members:
        return None
    fig = go.Figure()
    fig.add_scatter(
        x=[m.macs for m in members],
        y=[1 - m.accuracy for m in members],
        error_y=dict(array=[_finite(m.se) for m in members], **ERROR_BARS),
        mode="markers",
        name="members",
    )
    nxt = check.next_prediction
    top = nxt["macs"] if nxt else max(m.macs for m in members)
    grid = np.geomspace(min(m.macs for m in members) / 1.5, top * 1.2, 60)
    fig.add_scatter(x=grid, y=check.law.predict(grid), mode="lines", name=check.law.formula())
    if check.held_out:
        h = check.held_out
        _banded(fig, h["macs"], h["predicted"], h["band"], "x", "held-out prediction (95% band)")
    if nxt:
        _banded(fig, nxt["macs"], nxt["error"], nxt["band"], "diamond", "next member (predicted)")
    return fig.update_layout(
        title="Scaling law: error rate against MACs, checked on the largest member",
        xaxis_type="log",
        yaxis_type="log",
        xaxis_title="MACs",
        yaxis_title="error rate",
    )


def _banded(fig, macs: float, value: float, band, symbol: str, name: str) -> None:
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


def _f(value) -> str:
    return "-" if value is None else f"{value:.3f}"


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
    name = data.summary.study
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
{reproduce_html(data, len(data.family_frontier) or len(data.search_frontier))}
<h2>Figures</h2>
{"".join(f'<div class="plot">{p}</div>' for p in plots)}
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
