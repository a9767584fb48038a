"""The report's page as HTML strings: summary, verdict, frontier tables, ablation, law.

Plain strings from `ReportData` that the page (`report.py`, which draws the figures) places;
nothing here imports plotly.
"""

from __future__ import annotations

import html
import math

from scalesearch.commands import reproduce
from scalesearch.formatting import human, trial_counts
from scalesearch.law import LawCheck
from scalesearch.report.data import ReportData
from scalesearch.search.costs import cell
from scalesearch.search.results.ablation_table import AblationCell
from scalesearch.search.results.budget import BudgetAnswer
from scalesearch.search.results.frontier import FrontierPoint
from scalesearch.stats import format_accuracy

STRATEGY_LABELS = {
    "searched": "searched coefficients",
    "default": "default coefficients (papers')",
    "depth": "depth only",
    "width": "width only",
    "resolution": "resolution only",
}


def summary_html(data: ReportData, glance: list[tuple[str, str]]) -> str:
    s = data.summary
    rows = "".join(
        f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>" for k, v in glance
    )
    budget = "not recorded" if s.budget is None else f"{s.budget:,} trainings"
    macs = human(s.max_macs, "MACs") if s.max_macs else "none"
    return (
        f'<div id="summary"><h2>At a glance</h2><table>{rows}</table></div>'
        f"<p>Space <b>{html.escape(s.space)}</b>, search objectives "
        f"{html.escape(', '.join(s.objectives))}; trials: {html.escape(trial_counts(s.trials))}; "
        f"search budget {budget}; MACs budget {macs}; made by {html.escape(s.made_by)}.</p>"
    )


def verdict_html(lines: list[str]) -> str:
    items = "".join(f"<li>{html.escape(line)}</li>" for line in lines)
    return f'<div id="verdict"><h2>Verdict</h2><ul>{items}</ul></div>'


def frontier_html(title: str, points: list[FrontierPoint], note: str) -> str:
    """A frontier as a table: accuracy ± se over seeds, cost columns, coefficients."""
    if not points:
        return f"<h2>{html.escape(title)}</h2><p>{html.escape(note)}</p>"
    extra = [c for c in (points[0].costs or {}) if c != "macs"]
    head = "".join(f"<th>{'latency' if c == 'latency' else html.escape(c)}</th>" for c in extra)
    rows = "".join(
        f"<tr><td>{p.trial}</td><td>{p.phi:g}</td>"
        f"<td>{format_accuracy(p.accuracy, p.accuracy_se)}</td><td>{p.seeds}</td>"
        f"<td>{human(p.macs)}</td><td>{human(p.params)}</td>"
        + "".join(f"<td>{_cost(p, c)}</td>" for c in extra)
        + "".join(f"<td>{_f(p.coefficients.get(k))}</td>" for k in ("alpha", "beta", "gamma"))
        + "</tr>"
        for p in points
    )
    return (
        f"<h2>{html.escape(title)}</h2><p>{html.escape(note)}</p><table><tr><th>trial</th>"
        f"<th>φ</th><th>accuracy ± se (points)</th><th>seeds</th><th>MACs</th><th>params</th>"
        f"{head}<th>α</th><th>β</th><th>γ</th></tr>{rows}</table>"
    )


def _cost(point: FrontierPoint, cost: str) -> str:
    return cell(cost, (point.costs or {}).get(cost))


def _f(value) -> str:
    return "-" if value is None else f"{value:.3f}"


def ablation_html(cells: list[AblationCell]) -> str:
    if not cells:
        return ""
    rows = []
    for c in cells:
        if not c.accuracies:
            accuracy = f"not trained: {html.escape(c.pruned or '?')}"
        else:
            accuracy = f"{c.mean:.2%} ± {100 * c.sd:.2f}"
        delta = ""
        if not math.isnan(c.difference):
            delta = f"{100 * c.difference:+.2f}"
            delta += " (one seed)" if math.isnan(c.half_width) else f" ± {100 * c.half_width:.2f}"
        rows.append(
            f"<tr><td>{c.phi:g}</td><td>{STRATEGY_LABELS[c.strategy]}</td>"
            f"<td>{accuracy}</td><td>{len(c.accuracies)}</td>"
            f"<td>{human(c.macs)}</td><td>{c.cost_ratio:.2f}×</td><td>{delta}</td></tr>"
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


def reproduce_html(data: ReportData, frontier_size: int) -> str:
    s = data.summary
    secret = (
        f"<p>SCALESEARCH_STORAGE holds the storage URL ({html.escape(s.storage)}): it has a "
        f"password, which this page does not show.</p>"
        if "$SCALESEARCH_STORAGE" in s.storage_flag
        else ""
    )
    commands = reproduce(s.study, s.space, s.storage_flag, frontier_size)
    lines = "\n".join(html.escape(c, quote=False) for c in commands)
    return f"<h2>Reproduce</h2>{secret}\n<pre><code>{lines}</code></pre>"


def budget_html(budget: BudgetAnswer) -> str:
    """The cells of the joint law (every member at every budget) and the law's check."""
    if not any(c.factor != 1.0 for c in budget.cells):
        return ""
    rows = "".join(
        f"<tr><td>{c.phi:g}</td><td>{c.factor:g}×</td><td>{c.images:,.0f}</td>"
        f"<td>{human(c.macs)}</td><td>{human(c.compute)}</td>"
        f"<td>{format_accuracy(1 - c.error, c.se)}</td><td>{c.seeds}</td></tr>"
        for c in sorted(budget.cells, key=lambda c: (c.factor, c.phi))
    )
    law = ""
    if budget.check is not None:
        law = (
            f"<p>The joint law ({html.escape(budget.check.form)} form): "
            f"{html.escape(budget.check.law.formula())}; error = 1 − accuracy, images = "
            f"images seen in training.</p>"
        )
    return (
        "<h2>Budgets: accuracy against MACs and images seen</h2><p>Each member at each "
        "training budget (images seen = epochs × training images; training compute = 6 · "
        "MACs · images seen, in FLOPs), mean ± se over its seeds.</p><table><tr><th>φ</th>"
        "<th>budget</th><th>images seen</th><th>MACs</th><th>compute (FLOPs)</th>"
        f"<th>accuracy ± se (points)</th><th>seeds</th></tr>{rows}</table>{law}"
    )


GLOSSARY = (
    (
        "MACs",
        "multiply-adds of one forward pass at the member's input size, counted by "
        "torch's FLOP counter on the meta device (papers call them FLOPs).",
    ),
    (
        "training compute",
        "6 · MACs · images seen, in FLOPs: two per multiply-add, forward "
        "plus a backward of twice its cost; images seen = epochs × training images.",
    ),
    (
        "± (one accuracy)",
        "the standard error of an accuracy measured on n images, from the "
        "Wilson score interval (its 95% half-width over 1.96): unlike the Wald √(p(1−p)/n), it "
        "does not shrink to zero as accuracy nears 100%.",
    ),
    (
        "± (a mean over seeds)",
        "the larger of the validation images' Wilson error and the "
        "seed noise pooled over the study's replicated architectures (one training rule), over "
        "√seeds.",
    ),
    (
        "beyond the noise",
        "a difference over two standard errors of the difference (about 95% "
        "two-sided); paired where both were trained at the same seeds (the same data subset, "
        "order and augmentation).",
    ),
    (
        "95% band",
        "of a law's prediction: the 2.5th to 97.5th percentile of the law refitted "
        "on cells redrawn from their errors (a parametric bootstrap).",
    ),
)


def glossary_html() -> str:
    rows = "".join(f"<dt>{html.escape(k)}</dt><dd>{html.escape(v)}</dd>" for k, v in GLOSSARY)
    return f"<h2>Glossary</h2><dl>{rows}</dl>"
