"""The ablation's answer: its cells (strategy × φ) with each strategy's paired difference
from the default coefficients over seeds, and the verdict in words."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from optuna.trial import TrialState

from scalesearch.search.store.schema import Phase, TrialRecord
from scalesearch.search.store.studies import RunStudies
from scalesearch.stats import mean_sd, paired_interval

STRATEGIES = ("searched", "default", "depth", "width", "resolution")


@dataclass(frozen=True)
class AblationCell:
    """One strategy at one φ: its seeds' accuracies and, against the defaults, the paired
    difference with its 95% interval (NaN with fewer than two paired seeds)."""

    strategy: str
    phi: float
    accuracies: dict[int, float]  # by seed
    macs: float
    cost_ratio: float
    effective: tuple[float, float, float]
    pruned: str | None = None  # why the strategy could not be trained at this φ
    spec_hash: str | None = None
    difference: float = math.nan
    half_width: float = math.nan
    pairs: int = 0

    @property
    def mean(self) -> float:
        return mean_sd(list(self.accuracies.values()))[0] if self.accuracies else math.nan

    @property
    def sd(self) -> float:
        return mean_sd(list(self.accuracies.values()))[1] if self.accuracies else math.nan

    def to_dict(self) -> dict:
        return {
            "strategy": self.strategy,
            "phi": self.phi,
            "accuracies": {str(k): v for k, v in sorted(self.accuracies.items())},
            "mean": _finite(self.mean),
            "sd": _finite(self.sd),
            "macs": self.macs,
            "cost_ratio": self.cost_ratio,
            "effective_alpha_beta_gamma": list(self.effective),
            "pruned": self.pruned,
            "spec_hash": self.spec_hash,
            "difference_from_default": _finite(self.difference),
            "ci95_half_width": _finite(self.half_width),
            "paired_seeds": self.pairs,
        }


def _finite(value: float) -> float | None:
    return None if math.isnan(value) else value


def ablation_table(run: RunStudies, source: int | None = None) -> list[AblationCell]:
    """The ablation's cells (strategy × φ) of one source trial (the latest one ablated
    when None), in φ then strategy order."""
    trials = run.trials(Phase.ABLATION, states=(TrialState.COMPLETE, TrialState.PRUNED))
    if source is None and trials:
        source = TrialRecord.from_trial(max(trials, key=lambda t: t.number)).ablation_source
    cells: dict[tuple[str, float], dict] = {}
    for t in sorted(trials, key=lambda t: t.number):
        record = TrialRecord.from_trial(t)
        if record.ablation_source != source:
            continue
        cell = cells.setdefault((record.strategy, float(record.phi)), {"acc": {}, "first": record})
        if t.state == TrialState.COMPLETE:
            cell["acc"][int(record.seed)] = t.values[0]
        else:
            cell["pruned"] = record.stop_reason
    table = []
    for (strategy, phi), cell in cells.items():
        first: TrialRecord = cell["first"]
        effective = (first.effective_alpha, first.effective_beta, first.effective_gamma)
        table.append(
            AblationCell(
                strategy,
                phi,
                cell["acc"],
                float(first.macs or 0),
                float(first.cost_ratio or math.nan),
                tuple(float(e or math.nan) for e in effective),  # type: ignore[arg-type]
                None if cell["acc"] else cell.get("pruned"),
                first.spec_hash,
            )
        )
    return _with_differences(sorted(table, key=lambda c: (c.phi, STRATEGIES.index(c.strategy))))


def _with_differences(table: list[AblationCell]) -> list[AblationCell]:
    defaults = {c.phi: c for c in table if c.strategy == "default"}
    out = []
    for cell in table:
        default = defaults.get(cell.phi)
        if default is None or cell.strategy == "default":
            out.append(cell)
            continue
        seeds = sorted(set(cell.accuracies) & set(default.accuracies))
        diffs = [cell.accuracies[s] - default.accuracies[s] for s in seeds]
        if not diffs:
            out.append(cell)
            continue
        mean, half = paired_interval(diffs)
        out.append(replace(cell, difference=mean, half_width=half, pairs=len(diffs)))
    return out


def ablation_verdict(table: list[AblationCell]) -> list[str]:
    """In words, per φ: did the searched coefficients beat the defaults and each
    single-dimension strategy, by how much, and with what confidence."""
    lines = []
    for phi in sorted({c.phi for c in table}):
        cells = {c.strategy: c for c in table if c.phi == phi}
        searched = cells.get("searched")
        if searched is None or not searched.accuracies:
            continue
        parts = []
        for other in STRATEGIES[1:]:
            rival = cells.get(other)
            if rival is None or not rival.accuracies:
                if rival is not None and rival.pruned:
                    parts.append(f"{other} scaling could not be realised ({rival.pruned})")
                continue
            parts.append(_compare(searched, rival))
        lines.append(f"At φ = {phi:g}: " + "; ".join(parts) + ".")
    return lines


def _compare(searched: AblationCell, rival: AblationCell) -> str:
    seeds = sorted(set(searched.accuracies) & set(rival.accuracies))
    diffs = [searched.accuracies[s] - rival.accuracies[s] for s in seeds]
    name = "the default coefficients" if rival.strategy == "default" else f"{rival.strategy} only"
    if not diffs:
        return f"no paired seeds with {name}"
    mean, half = paired_interval(diffs)
    word = "beat" if mean > 0 else "trail"
    head = f"the searched coefficients {word} {name} by {100 * abs(mean):.2f} points"
    if math.isnan(half):
        return f"{head} on one seed (no interval: train --seeds 2 or more)"
    low, high = 100 * (mean - half), 100 * (mean + half)
    sure = "beyond the seed noise" if low > 0 or high < 0 else "within the seed noise"
    return f"{head} (95% CI {low:+.2f} to {high:+.2f} over {len(diffs)} paired seeds: {sure})"
