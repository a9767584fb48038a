"""Numbers as people read them: 200 M MACs, 0.61 M params, 4.57 G MACs, 3.14 ms."""

from __future__ import annotations

import math

PREFIXES = (("E", 1e18), ("P", 1e15), ("T", 1e12), ("G", 1e9), ("M", 1e6))


def human(value: float, unit: str = "") -> str:
    """A count with a metric prefix and three significant figures: "200 M", "0.612 M params".

    From 100,000 on a count is given in M (0.612 M reads beside other models' 26.3 M), then
    G and T; below, it stays whole with thousands separators (12,480).
    """
    suffix = f" {unit}" if unit else ""
    if not math.isfinite(value):
        return f"{value}{suffix}"
    for prefix, scale in PREFIXES:
        if abs(value) >= scale or (prefix == "M" and abs(value) >= 1e5):
            scaled = value / scale
            digits = max(0, 2 - math.floor(math.log10(abs(scaled))))
            return f"{scaled:.{digits}f} {prefix}{suffix}"
    return f"{value:,.0f}{suffix}" if float(value).is_integer() else f"{value:.3g}{suffix}"


def milliseconds(value: float) -> str:
    """3.14 ms, 25.5 ms, 123 ms: three significant figures at most."""
    return f"{value:.0f} ms" if value >= 100 else f"{value:.3g} ms"


def trial_counts(counts: dict[str, int]) -> str:
    """{"pruned": 6, "complete": 12} → "12 complete, 6 pruned" (or "no trials")."""
    return ", ".join(f"{n:,} {state}" for state, n in sorted(counts.items()) if n) or "no trials"


def seed_count(n: int) -> str:
    """ "1 seed", "2 seeds": how many seeds a number rests on, in words."""
    return f"{n} seed{'s' if n != 1 else ''}"


def percent_band(band: tuple[float, float]) -> str:
    """A 95% band of accuracies: "83.10–85.02%"."""
    return f"{100 * band[0]:.2f}–{100 * band[1]:.2f}%"


def points_band(band: tuple[float, float]) -> str:
    """A 95% band of differences, in points: "+0.31 to +2.09"."""
    return f"{100 * band[0]:+.2f} to {100 * band[1]:+.2f}"
