"""The run's answer in words: the summary box (at a glance) and the verdict's lines.

Plain text from `ReportData`, shared by the report page, the end of `scalesearch run` and
the dashboard's study note. Every claim of "better", "tied" or "saturated" is one the
measured noise allows (`scalesearch.verdict`, `scalesearch.search.results.racing`).
"""

from __future__ import annotations

import math

from scalesearch.commands import retrain
from scalesearch.formatting import seed_count
from scalesearch.report.data import ReportData
from scalesearch.report.decision_words import budget_words, check_words
from scalesearch.search.phases.race import race_words
from scalesearch.search.results.ablation_table import ablation_verdict
from scalesearch.search.results.latencies import tau_words
from scalesearch.stats import format_accuracy


def at_a_glance(data: ReportData) -> list[tuple[str, str]]:
    """The summary box: the answer in words, one (label, sentence) per question."""
    flag = data.summary.storage_flag
    rows = [
        ("scaling", _scaling(data)),
        ("family frontier", _family(data)),
        ("best coefficients", _best(data)),
        ("gain over the defaults (proxy)", _gain(data)),
        ("at the family's training", check_words(data.check, data.unchecked, flag)),
        ("next compute", budget_words(data.budget, flag)),
    ]
    if data.fidelity is not None and len(data.fidelity.pairs) >= 3:
        rows.append(("proxy fidelity", _fidelity(data)))
    if data.latency.timed or data.latency.unmeasured:
        rows.append(("latency", data.latency.words().removeprefix("latency: ") + _slot(data)))
    return rows


def _slot(data: ReportData) -> str:
    """Where latency is a search objective, how its values (timed in the slots, beside
    other trainings) agree with the quiet timing."""
    from scipy.stats import kendalltau

    pairs = [
        (p.costs["latency"], p.latency_ms)
        for p in data.search_points
        if p.costs.get("latency") is not None and p.latency_ms is not None
    ]
    if "latency" not in data.summary.objectives or len(pairs) < 2:
        return ""
    tau = float(kendalltau(*zip(*pairs)).statistic)
    return (
        f". The search's latency objective was timed in the slots, beside other trainings: "
        f"τ {tau_words(tau)} against the quiet timing"
    )


def _scaling(data: ReportData) -> str:
    """The verdict, and the command that trains the seeds it says would settle it."""
    settle = data.scaling.settle
    if settle is None:
        return data.scaling.words
    first = {p.phi: p for p in reversed(data.family_points)}
    if not all(phi in first for phi in settle[:2]):
        return data.scaling.words
    trials = {first[settle[0]].study: [first[phi].trial for phi in settle[:2]]}
    train = retrain(trials, settle[2], data.summary.storage_flag)
    return f"{data.scaling.words} To train them: {train}"


def _family(data: ReportData) -> str:
    if not data.members:
        return "no family trained yet"
    rows = "; ".join(
        f"φ {m.phi:g}: {format_accuracy(m.accuracy, m.se)} at {m.macs / 1e6:.1f} MMACs "
        f"({seed_count(m.seeds)})"
        for m in data.members
    )
    return f"accuracy against MACs, each member trained alike: {rows}"


def _best(data: ReportData) -> str:
    race = data.race
    if race is None:
        return "none: no search trial completed"
    leader, noise = race.leader, race.state.noise
    point = next((p for p in data.search_points if p.trial == leader.trials[0]), None)
    seeds = len(leader.accuracies)
    how = (
        f"trial {leader.trials[0]}, {format_accuracy(leader.mean, leader.se(noise.sd if noise.measured else None))} "
        f"over {seed_count(seeds)}"
    )
    return _coefficients(point, how)


def _coefficients(point, how: str) -> str:
    if point is None:
        return how
    values = {"alpha": point.alpha, "beta": point.beta, "gamma": point.gamma}
    shown = ", ".join(f"{k} {v:.3f}" for k, v in values.items() if v)
    return f"{shown} ({how})"


def _gain(data: ReportData) -> str:
    race = data.race
    if race is None or not race.state.noise.measured:
        return (
            "not measured: no architecture has two seeds, so the seed noise is unknown and "
            "differences may be luck (the race needs search.race.trainings > 0)"
        )
    if race.versus_defaults is None:
        return (
            "the default coefficients lead the race"
            if race.state.leader.default
            else "the default coefficients did not train"
        )
    d = race.versus_defaults
    low, high = d.interval()
    verdict = (
        "beyond the seed noise: better"
        if low > 0
        else "beyond the seed noise: worse"
        if high < 0
        else "within the seed noise: tied, no claim of better is warranted"
    )
    how = f"paired over {seed_count(d.paired)}" if d.paired else "unpaired"
    return f"{100 * d.mean:+.2f} points over the default coefficients (95% {100 * low:+.2f} to {100 * high:+.2f}, {how}): {verdict}"


def _fidelity(data: ReportData) -> str:
    assert data.fidelity is not None
    pairs = len(data.fidelity.pairs)
    return f"Kendall τ {data.fidelity.tau:.2f} between proxy and final accuracy over {pairs} models"


def verdict_lines(data: ReportData) -> list[str]:
    """The page's opening words: the scaling verdict, the ablation's answer, the noise."""
    lines = [data.scaling.words]
    lines += ablation_verdict(data.ablation) or [
        "No ablation was trained, so nothing says whether the searched coefficients beat the "
        "defaults or single-dimension scaling at equal cost: run scalesearch ablate --phi 1 2."
    ]
    if not math.isnan(data.family_noise):
        lines.append(
            f"Under the family's training, one accuracy varies by {100 * data.family_noise:.2f} "
            f"points between seeds (pooled over the family's members and the ablation's "
            f"strategies); each member's error bar is that over √seeds."
        )
    lines.append(race_words(data.race))
    return lines
