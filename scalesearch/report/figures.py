"""The report's figures: the only module that imports plotly.

Its data is `scalesearch.report.data`'s typed records; each figure is one small function
(None where its data is missing); `scalesearch.report.page` places them on one page. The
first figure is the family frontier, accuracy against MACs across φ: the run's answer.
"""

from __future__ import annotations

import numpy as np

from scalesearch.formatting import human, milliseconds
from scalesearch.report.data import ReportData, TrialPoint
from scalesearch.report.sections import STRATEGY_LABELS
from scalesearch.search.results.latencies import tau_words

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
        compute_figure,
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
        title=f"Accuracy against latency (batch 1, on {', '.join(data.latency.devices)}; "
        f"pass-to-pass τ {tau_words(data.latency.pass_tau)})",
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


def compute_figure(data: ReportData):
    """Accuracy against training compute, one line per φ across the budgets, the envelope
    of the best measured at each compute, and the next doubling's two options with bands."""
    import plotly.graph_objects as go

    cells = data.budget.cells
    if not any(c.factor != 1.0 for c in cells):
        return None
    fig = go.Figure()
    for phi in sorted({c.phi for c in cells}):
        line = sorted((c for c in cells if c.phi == phi), key=lambda c: c.compute)
        fig.add_scatter(
            x=[c.compute for c in line],
            y=[1 - c.error for c in line],
            error_y=dict(array=[_finite(c.se) for c in line], **ERROR_BARS),
            mode="lines+markers",
            name=f"φ = {phi:g} (mean ± se)",
            text=[f"{c.factor:g}× images seen: {c.images:,.0f}, {c.seeds} seed(s)" for c in line],
        )
    envelope, best = [], -1.0
    for c in sorted(cells, key=lambda c: c.compute):
        best = max(best, 1 - c.error)
        envelope.append((c.compute, best))
    fig.add_scatter(
        x=[x for x, _ in envelope],
        y=[y for _, y in envelope],
        mode="lines",
        line=dict(shape="hv", dash="dot", color="gray"),
        name="compute-optimal envelope (best measured)",
    )
    d = data.budget.decision
    if d is not None:
        for option, symbol in ((d.size, "diamond"), (d.training, "star")):
            value, band = option.accuracy, option.accuracy_band
            fig.add_scatter(
                x=[6 * option.macs * option.images],
                y=[value],
                error_y=dict(
                    type="data",
                    symmetric=False,
                    array=[band[1] - value],
                    arrayminus=[value - band[0]],
                ),  # fmt: skip
                mode="markers",
                marker=dict(symbol=symbol, size=12),
                name=f"predicted: {'a larger φ' if option.name == 'size' else 'longer training'}",
            )
    return fig.update_layout(
        title="Accuracy against training compute (6 · MACs · images seen), one line per φ",
        xaxis_type="log",
        xaxis_title="training compute (FLOPs)",
        yaxis_title="validation accuracy",
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
