"""Small statistics every report of an accuracy needs: its standard error, its spread.

An accuracy measured on n images is a binomial proportion. Its standard error is taken from
the Wilson score interval, half-width over z: √(p(1−p)/n + z²/4n²) / (1 + z²/n). The Wald
√(p(1−p)/n) under-covers at the 93–99% accuracies the laptop spaces reach and is zero at
100%, where the Wilson interval keeps its width; at 2,400 images and 93% the two differ in
the third digit. Seeds add the noise of initialisation and data order on top; replicates
measure that (`mean_sd`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

Z95 = 1.959964  # the normal quantile of a two-sided 95% interval


def binomial_se(accuracy: float, n: int | None) -> float:
    """Standard error of an accuracy measured on n images, from the Wilson score interval
    (its 95% half-width over z; NaN without n)."""
    if not n:
        return float("nan")
    p, z2 = min(max(accuracy, 0.0), 1.0), Z95**2
    return math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n)


def mean_sd(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (0 for a single value)."""
    mean = sum(values) / len(values)
    if len(values) < 2:
        return mean, 0.0
    return mean, math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))


def format_accuracy(accuracy: float, se: float) -> str:
    """93.25% ± 0.51 (the error in percentage points; omitted when unknown)."""
    if math.isnan(se):
        return f"{accuracy:.2%}"
    return f"{accuracy:.2%} ± {100 * se:.2f}"


def paired_interval(differences: Sequence[float], level: float = 0.95) -> tuple[float, float]:
    """Mean of paired differences and the half-width of its Student-t interval (NaN for
    fewer than two pairs: one pair says nothing about its own spread)."""
    from scipy.stats import t

    mean, sd = mean_sd(differences)
    n = len(differences)
    if n < 2:
        return mean, float("nan")
    return mean, float(t.ppf((1 + level) / 2, n - 1)) * sd / math.sqrt(n)


MOST_SEEDS = 32  # past this, a difference is too small to chase with seeds


def seeds_to_settle(
    mean: float, se: float, seeds: int, z: float = 2.0, most: int = MOST_SEEDS
) -> int | None:
    """Seeds in all at which a measured difference (`mean`, with standard error `se` over
    `seeds` seeds) would lie `z` standard errors from zero, were it the truth: the standard
    error shrinks as 1/√seeds. None where that takes more than `most` seeds (the difference
    is too small to matter at this noise) or the difference is exactly zero."""
    if mean == 0 or not math.isfinite(se):
        return None
    needed = max(seeds + 1, math.ceil(seeds * (z * se / abs(mean)) ** 2))
    return needed if needed <= most else None
