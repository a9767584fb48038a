"""A scaling law that is checked before it is believed.

A law fitted through three points always fits, so a fit is not evidence. Before it predicts
the next member, `check_law` asks two things of a family's error rate against MACs (whether
the family gains at all, within its noise, is `scalesearch.verdict`'s question, asked first):

1. which form: with three points, a power law, error = a·MACs^(−b) (a line in log-log);
   with four or more, also the saturating form error = a·MACs^(−b) + c (Zhai et al. 2022,
   c the irreducible error), the one with the smaller leave-one-out error chosen;
2. does it predict what it has not seen? Fitted without the largest member, it predicts that
   member; the check passes when the measured error lies inside the 95% bootstrap band.

The band is a parametric bootstrap: each point is redrawn from its measured error and its
standard error (or the fit's residual spread, whichever is larger), and the law refitted.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

FORMS = ("power", "saturating")
BOOTSTRAP = 200  # redraws: the 2.5% and 97.5% percentiles to about ±1 point each


@dataclass(frozen=True)
class Law:
    """error = a · (MACs / scale)^(−b) + c (c = 0 for the power law)."""

    form: str
    a: float
    b: float
    c: float
    scale: float  # MACs are divided by it so that a stays near the errors' size

    def predict(self, macs: float | np.ndarray) -> np.ndarray:
        return self.a * (np.asarray(macs, float) / self.scale) ** (-self.b) + self.c

    def formula(self) -> str:
        text = f"error = {self.a:.3g}·(MACs/{self.scale:.3g})^−{self.b:.3f}"
        return text + (f" + {self.c:.3g}" if self.form == "saturating" else "")


def fit_law(form: str, macs: Sequence[float], error: Sequence[float]) -> Law:
    """Least squares in log error (relative errors weigh alike at every size)."""
    x = np.asarray(macs, float)
    y = np.clip(np.asarray(error, float), 1e-6, None)
    scale = float(x.min())
    if form == "power":
        slope, log_a = np.polyfit(np.log(x / scale), np.log(y), 1)
        return Law("power", float(math.exp(log_a)), float(-slope), 0.0, scale)
    from scipy.optimize import OptimizeWarning, curve_fit

    def model(m, log_a, b, c):
        return np.log(np.exp(log_a) * m ** (-b) + c)

    start = fit_law("power", macs, error)
    ceiling = float(y.min()) * 0.999
    with warnings.catch_warnings():  # four points, three parameters: no covariance, fine
        warnings.simplefilter("ignore", OptimizeWarning)
        params, _ = curve_fit(
            model,
            x / scale,
            np.log(y),
            p0=(math.log(max(start.a, 1e-6)), max(start.b, 1e-3), ceiling / 2),
            bounds=((-20, 0.0, 0.0), (5, 5.0, ceiling)),
            maxfev=20000,
        )
    return Law("saturating", float(math.exp(params[0])), float(params[1]), float(params[2]), scale)


def choose_form(macs: Sequence[float], error: Sequence[float]) -> str:
    """The power law with three points; with four or more, the form with the smaller mean
    squared leave-one-out error in log error."""
    if len(macs) < 4:
        return "power"
    scores = {}
    for form in FORMS:
        misses = []
        for i in range(len(macs)):
            rest = [k for k in range(len(macs)) if k != i]
            law = fit_law(form, [macs[k] for k in rest], [error[k] for k in rest])
            misses.append(math.log(float(law.predict(macs[i])) / max(error[i], 1e-6)) ** 2)
        scores[form] = sum(misses) / len(misses)
    return min(FORMS, key=lambda f: (scores[f], FORMS.index(f)))


def bootstrap_band(
    form: str,
    macs: Sequence[float],
    error: Sequence[float],
    se: Sequence[float],
    at: float,
    seed: int = 0,
) -> tuple[float, float]:
    """95% band of the law's prediction at `at` MACs (see the module docstring)."""
    rng = np.random.default_rng(seed)
    law = fit_law(form, macs, error)
    residual = np.asarray(error, float) - law.predict(macs)
    dof = max(len(macs) - (3 if form == "saturating" else 2), 1)
    spread = math.sqrt(float((residual**2).sum()) / dof)
    sigma = np.maximum(np.nan_to_num(np.asarray(se, float)), spread)
    predictions = []
    for _ in range(BOOTSTRAP):
        drawn = np.clip(np.asarray(error, float) + rng.normal(0.0, sigma), 1e-4, 1.0)
        try:
            predictions.append(float(fit_law(form, macs, drawn).predict(at)))
        except RuntimeError:  # the saturating fit did not converge on this draw
            continue
    low, high = np.percentile(predictions, [2.5, 97.5])
    return float(low), float(high)


@dataclass(frozen=True)
class LawCheck:
    """What the family's law is, whether it may be believed, and, if so, what it predicts."""

    points: int
    law: Law | None
    held_out: dict | None  # macs, measured, predicted, band, inside
    next_prediction: dict | None  # macs, error, band: only when every check passed
    words: str

    @property
    def passed(self) -> bool:
        return self.next_prediction is not None


def check_law(
    macs: Sequence[float],
    error: Sequence[float],
    se: Sequence[float],
    next_macs: float | None = None,
) -> LawCheck:
    """Every check of the module docstring, and the next member's prediction if they pass.

    Args:
        macs, error, se: the members (any order): counted MACs, error rate, its standard error.
        next_macs: the next member's MACs, to predict when the law is believed.
    """
    order = sorted(range(len(macs)), key=lambda i: macs[i])
    x = [float(macs[i]) for i in order]
    y = [float(error[i]) for i in order]
    s = [float(se[i]) for i in order]
    n = len(x)
    if n < 3:
        words = (
            f"No scaling law: {n} member(s), and a law needs three (two to fit, one to check). "
            f"Add family φ values."
        )
        return LawCheck(n, None, None, None, words)
    form = choose_form(x, y)
    law = fit_law(form, x, y)
    held_form = choose_form(x[:-1], y[:-1])
    held_law = fit_law(held_form, x[:-1], y[:-1])
    predicted = float(held_law.predict(x[-1]))
    band = bootstrap_band(held_form, x[:-1], y[:-1], s[:-1], x[-1])
    inside = band[0] <= y[-1] <= band[1]
    held_out = {
        "macs": x[-1],
        "measured": y[-1],
        "predicted": predicted,
        "band": band,
        "inside": inside,
        "form": held_form,
    }
    if not inside:
        words = (
            f"No prediction: fitted without the largest member, the law predicts its error as "
            f"{predicted:.2%} (95% band {band[0]:.2%}–{band[1]:.2%}) but it measured "
            f"{y[-1]:.2%}. Train a larger member or more seeds, then report again."
        )
        return LawCheck(n, law, held_out, None, words)
    words = (
        f"The law ({form}, {n} members) passed its check: fitted without the largest member, "
        f"it predicted that member's error as {predicted:.2%} (95% band {band[0]:.2%}–"
        f"{band[1]:.2%}; measured {y[-1]:.2%})."
    )
    nxt = None
    if next_macs is not None:
        next_band = bootstrap_band(form, x, y, s, next_macs)
        nxt = {"macs": next_macs, "error": float(law.predict(next_macs)), "band": next_band}
        words += (
            f" The next member, at {next_macs / 1e6:.1f} MMACs, should reach "
            f"{1 - nxt['error']:.2%} accuracy (95% band {1 - next_band[1]:.2%}–"
            f"{1 - next_band[0]:.2%})."
        )
    return LawCheck(n, law, held_out, nxt, words)
