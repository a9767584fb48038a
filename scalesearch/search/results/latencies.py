"""A run's latencies as its quiet timings measured them, with how far they can be trusted.

Read from the run's latency table (`sql_tables.latencies`, written by
`scalesearch.search.run.quiet_latency`): per architecture the median over interleaved passes,
on one named device. Two agreements say how much the figures hold: between passes (does a
second timing rank the networks alike?) and against sequential layers (does latency follow
the depth that decides it on a CPU at batch 1, as `bench/runtime_proxy.py` measured: τ 0.91).
"""

from __future__ import annotations

import json
import math
import statistics
from dataclasses import dataclass, field

from scalesearch.arch.latency import Timed, pass_agreement
from scalesearch.formatting import milliseconds
from scalesearch.search.store import sql_tables


@dataclass(frozen=True)
class RunLatencies:
    """The run's timed architectures (spec hash → Timed) and what the timings agree on."""

    timed: dict[str, Timed] = field(default_factory=dict)
    layers: dict[str, int] = field(default_factory=dict)
    device_of: dict[str, str] = field(default_factory=dict)
    unmeasured: dict[str, str] = field(default_factory=dict)  # spec hash → why

    def ms(self, spec_hash: str | None) -> float | None:
        """Batch-1 latency of an architecture, where it was timed quietly."""
        timed = self.timed.get(spec_hash or "")
        return None if timed is None else timed.ms_batch1

    def about(self, spec_hash: str | None) -> str | None:
        """One architecture's latency in words, with where and how repeatably it was timed."""
        key = spec_hash or ""
        if key in self.unmeasured:
            return f"latency unmeasured: {self.unmeasured[key]}"
        timed = self.timed.get(key)
        if timed is None:
            return None
        return (
            f"latency {milliseconds(timed.ms_batch1)} at batch 1 (batch {timed.batch}: "
            f"{milliseconds(timed.ms_batch)}) on {self.device_of[key]}, timed with nothing else "
            f"training, {len(timed.passes_ms)} passes {timed.spread:.0%} apart"
        )

    @property
    def pass_tau(self) -> float:
        """The least Kendall τ between two passes' rankings (NaN: fewer than 2 networks)."""
        return pass_agreement(self.timed)

    @property
    def layers_tau(self) -> float:
        """Kendall τ of sequential layers against the latency (NaN: fewer than 2 networks)."""
        from scipy.stats import kendalltau

        both = [k for k in self.timed if self.layers.get(k) is not None]
        if len(both) < 2:
            return math.nan
        return float(
            kendalltau(
                [self.layers[k] for k in both], [self.timed[k].ms_batch1 for k in both]
            ).statistic
        )

    @property
    def devices(self) -> list[str]:
        return list(dict.fromkeys(self.device_of.values()))

    def words(self) -> str:
        """One line: how many were timed, where, and how repeatable it was."""
        if not self.timed:
            why = next(iter(self.unmeasured.values()), "no architecture timed yet")
            return f"latency: unmeasured ({why})"
        passes = len(next(iter(self.timed.values())).passes_ms)
        spread = statistics.median(t.spread for t in self.timed.values())
        line = (
            f"latency: {len(self.timed)} architectures timed with nothing else training, on "
            f"{', '.join(self.devices)}, {passes} passes interleaved: pass-to-pass τ (least pair) "
            f"{tau_words(self.pass_tau)}, median spread {spread:.0%}; τ(layers, latency) "
            f"{tau_words(self.layers_tau)}"
        )
        if self.unmeasured:
            line += f"; {len(self.unmeasured)} unmeasured ({next(iter(self.unmeasured.values()))})"
        return line

    def summary(self) -> dict:
        """What `words` says, as data (JSON: a τ that cannot be computed is null)."""
        return dict(
            timed=len(self.timed),
            unmeasured=len(self.unmeasured),
            devices=self.devices,
            pass_tau=_or_none(self.pass_tau),
            layers_tau=_or_none(self.layers_tau),
            words=self.words(),
        )


def _or_none(value: float) -> float | None:
    return None if math.isnan(value) else value


def run_latencies(url: str, run_name: str) -> RunLatencies:
    """The run's latency table, read."""
    timed, layers, unmeasured, device_of = {}, {}, {}, {}
    for row in sql_tables.load_latencies(url, run_name):
        key = row["spec_hash"]
        if row["ms_batch1"] is None:
            unmeasured[key] = row["unmeasured"] or "not timed"
            continue
        passes = tuple(json.loads(row["passes_ms"] or "[]")) or (row["ms_batch1"],)
        timed[key] = Timed(row["ms_batch1"], row["ms_batch"], row["batch"], passes)
        if row["layers"] is not None:
            layers[key] = row["layers"]
        device_of[key] = row["device"]
    return RunLatencies(timed, layers, device_of, unmeasured)


def tau_words(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{value:.2f}"
