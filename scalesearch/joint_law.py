"""Accuracy against MACs and images seen, jointly: where the next training compute goes.

A family trained at one budget says whether more MACs pay at that budget; it cannot say
whether the same compute would buy more as longer training (Hoffmann et al. 2022; Zhai et al.
2022). With the family at a second budget (its own study), the cells (MACs N, images seen D,
error) fit one law of both, checked on a held-out cell before it is believed:

- **local** (the default layout): log error = k − a·log N − b·log D, a power law in each.
  Two budgets give each axis two or three points, which fix one slope per axis and nothing
  more: a saturating term per axis (a floor, a bend) is not identified by them, and the
  question asked is local (the next doubling from the trained cells), where the first-order
  expansion of any smooth law in log–log is what the data determine.
- **saturating**: error = E + A·N^(−a) + B·D^(−b) (the additive form of Hoffmann et al.,
  E the irreducible error), fitted where the cells allow it (three or more values on each
  axis, seven or more cells) and chosen over the local form by leave-one-out error.

The check holds out the cell of the largest training compute that the rest still fit
without it, and passes when its measured error lies inside the 95% band of the prediction
(a parametric bootstrap of the fit, plus the held-out cell's own noise). Training compute is
6 · MACs · images seen (FLOPs: two per multiply-add, forward and a backward of twice the
cost). The decision compares the two ways to double it from the operating point (the
family's largest member at its own budget): twice the MACs at the same images, or twice the
images at the same MACs, each predicted with its band; "better" only where the band of the
difference excludes zero.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

FORMS = ("local", "saturating")
BOOTSTRAP = 300  # redraws: each 2.5% and 97.5% percentile to well under a point
FLOPS_PER_MAC_IMAGE = 6  # training compute: 2 FLOPs per MAC, forward + backward (3 passes)


@dataclass(frozen=True)
class Cell:
    """One trained cell: a member at φ, at a budget factor, its mean error over its seeds."""

    phi: float
    factor: float
    macs: float
    images: float  # images seen in training, repeats included
    error: float
    se: float
    seeds: int

    @property
    def compute(self) -> float:
        return FLOPS_PER_MAC_IMAGE * self.macs * self.images


@dataclass(frozen=True)
class JointLaw:
    """A fitted law: `params` in the form's order (local: k, a, b; saturating: E, A, a, B, b),
    MACs and images divided by `scale` so that the parameters stay near one."""

    form: str
    params: tuple[float, ...]
    scale: tuple[float, float]

    def predict(self, macs, images) -> np.ndarray:
        n = np.asarray(macs, float) / self.scale[0]
        d = np.asarray(images, float) / self.scale[1]
        if self.form == "local":
            k, a, b = self.params
            return np.exp(k - a * np.log(n) - b * np.log(d))
        e, big_a, a, big_b, b = self.params
        return e + big_a * n ** (-a) + big_b * d ** (-b)

    def formula(self) -> str:
        n, d = f"(MACs/{self.scale[0]:.3g})", f"(images/{self.scale[1]:.3g})"
        if self.form == "local":
            k, a, b = self.params
            return f"error = {math.exp(k):.3g}·{n}^−{a:.3f}·{d}^−{b:.3f}"
        e, big_a, a, big_b, b = self.params
        return f"error = {e:.3g} + {big_a:.3g}·{n}^−{a:.3f} + {big_b:.3g}·{d}^−{b:.3f}"


def identified(form: str, cells: Sequence[Cell]) -> bool:
    """Whether `cells` determine the form with a residual left to judge it by."""
    n_values, d_values = len({c.macs for c in cells}), len({c.images for c in cells})
    if form == "saturating":
        return n_values >= 3 and d_values >= 3 and len(cells) >= 7
    if n_values < 2 or d_values < 2 or len(cells) < 4:
        return False
    design = _design([c.macs for c in cells], [c.images for c in cells])
    return int(np.linalg.matrix_rank(design)) == 3


def fit(form: str, cells: Sequence[Cell], errors: Sequence[float] | None = None) -> JointLaw:
    """Least squares in log error (relative errors weigh alike), on `errors` where given
    (a bootstrap's redraw) else the cells' own."""
    macs = np.array([c.macs for c in cells])
    images = np.array([c.images for c in cells])
    y = np.clip(np.array(errors if errors is not None else [c.error for c in cells]), 1e-6, None)
    scale = (float(macs.min()), float(images.min()))
    (k, a, b), *_ = np.linalg.lstsq(_design(macs, images, scale), np.log(y), rcond=None)
    local = JointLaw("local", (float(k), float(-a), float(-b)), scale)
    if form == "local":
        return local
    return _fit_saturating(macs / scale[0], images / scale[1], y, local)


def _design(macs, images, scale: tuple[float, float] | None = None) -> np.ndarray:
    macs, images = np.asarray(macs, float), np.asarray(images, float)
    scale = scale or (float(macs.min()), float(images.min()))
    return np.column_stack([np.ones(len(macs)), np.log(macs / scale[0]), np.log(images / scale[1])])


def _fit_saturating(n: np.ndarray, d: np.ndarray, y: np.ndarray, start: JointLaw) -> JointLaw:
    from scipy.optimize import OptimizeWarning, curve_fit

    def model(x, e, log_a, a, log_b, b):
        return np.log(e + np.exp(log_a) * x[0] ** (-a) + np.exp(log_b) * x[1] ** (-b))

    ceiling = float(y.min()) * 0.999
    k, a, b = start.params
    p0 = (ceiling / 2, k - 0.7, max(a, 1e-3), k - 0.7, max(b, 1e-3))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", OptimizeWarning)
        params, _ = curve_fit(
            model,
            np.vstack([n, d]),
            np.log(y),
            p0=p0,
            bounds=((0.0, -20, 0.0, -20, 0.0), (ceiling, 5, 5.0, 5, 5.0)),
            maxfev=20000,
        )
    e, log_a, a, log_b, b = (float(p) for p in params)
    return JointLaw("saturating", (e, math.exp(log_a), a, math.exp(log_b), b), start.scale)


def choose_form(cells: Sequence[Cell]) -> str:
    """The local form, or the saturating one where every leave-one-out subset identifies it
    and its leave-one-out error in log error is the smaller."""
    if not all(identified("saturating", _without(cells, i)) for i in range(len(cells))):
        return "local"
    scores = {}
    for form in FORMS:
        misses = []
        for i, cell in enumerate(cells):
            try:
                law = fit(form, _without(cells, i))
            except RuntimeError:  # a saturating fit that did not converge: it loses
                misses.append(math.inf)
                continue
            predicted = float(law.predict(cell.macs, cell.images))
            misses.append(math.log(max(predicted, 1e-6) / max(cell.error, 1e-6)) ** 2)
        scores[form] = sum(misses) / len(misses)
    return min(FORMS, key=lambda f: (scores[f], FORMS.index(f)))


def _without(cells: Sequence[Cell], i: int) -> list[Cell]:
    return [c for k, c in enumerate(cells) if k != i]


def refits(form: str, cells: Sequence[Cell], seed: int = 0) -> list[JointLaw]:
    """The law refitted on redrawn errors (a parametric bootstrap): each cell redrawn from its
    error and the larger of its standard error and the fit's residual spread."""
    rng = np.random.default_rng(seed)
    law = fit(form, cells)
    errors = np.array([c.error for c in cells])
    residual = errors - law.predict([c.macs for c in cells], [c.images for c in cells])
    dof = max(len(cells) - (3 if form == "local" else 5), 1)
    spread = math.sqrt(float((residual**2).sum()) / dof)
    sigma = np.maximum(np.nan_to_num(np.array([c.se for c in cells])), spread)
    laws = []
    for _ in range(BOOTSTRAP):
        drawn = np.clip(errors + rng.normal(0.0, sigma), 1e-4, 1.0)
        try:
            laws.append(fit(form, cells, drawn))
        except RuntimeError:  # the saturating fit did not converge on this draw
            continue
    return laws


def bootstrap(
    form: str, cells: Sequence[Cell], measure: Callable[[JointLaw], float], seed: int = 0
) -> np.ndarray:
    """`measure` of each bootstrap refit (`refits`)."""
    return np.array([measure(law) for law in refits(form, cells, seed)])


def band(values: np.ndarray) -> tuple[float, float]:
    low, high = np.percentile(values, [2.5, 97.5])
    return float(low), float(high)


@dataclass(frozen=True)
class HeldOut:
    """The check: `cell` predicted by the law fitted without it."""

    cell: Cell
    predicted: float  # error
    band: tuple[float, float]  # 95%, of what a measurement of the cell would read
    inside: bool


@dataclass(frozen=True)
class JointCheck:
    form: str
    law: JointLaw
    cells: tuple[Cell, ...]
    held_out: HeldOut

    @property
    def passed(self) -> bool:
        return self.held_out.inside


def check(cells: Sequence[Cell], seed: int = 0) -> JointCheck | None:
    """The law of `cells` and its held-out check; None where the cells identify no form
    even with every cell (too few budgets or members)."""
    cells = tuple(cells)
    if not identified("local", cells):
        return None
    held = _held_out_index(cells)
    if held is None:
        return None
    rest = _without(cells, held)
    target = cells[held]
    form = choose_form(rest)
    noise = np.random.default_rng(seed + 1)

    def measured(law: JointLaw) -> float:  # what the held-out cell would measure
        value = float(law.predict(target.macs, target.images)) + noise.normal(0, target.se or 0)
        return min(1.0, max(0.0, value))

    low, high = band(bootstrap(form, rest, measured, seed))
    predicted = float(fit(form, rest).predict(target.macs, target.images))
    held_out = HeldOut(target, predicted, (low, high), low <= target.error <= high)
    final = choose_form(cells)
    return JointCheck(final, fit(final, cells), cells, held_out)


def _held_out_index(cells: Sequence[Cell]) -> int | None:
    """The cell of the largest compute whose removal leaves the local form identified."""
    order = sorted(range(len(cells)), key=lambda i: (cells[i].compute, cells[i].images))
    for i in reversed(order):
        if identified("local", _without(cells, i)):
            return i
    return None


@dataclass(frozen=True)
class Option:
    """One way to spend a compute: a member of `macs` trained on `images`, its predicted
    accuracy and 95% band, and its gain over the operating point with that gain's band."""

    name: str  # "size" or "training"
    macs: float
    images: float
    accuracy: float
    accuracy_band: tuple[float, float]
    gain: float
    gain_band: tuple[float, float]

    @property
    def gains(self) -> bool:
        return self.gain_band[0] > 0


@dataclass(frozen=True)
class Decision:
    """Where a compute (`multiple` × the operating point's) goes: `kind` is "size" or
    "training" (it gains, and beyond the other), "either" (a gain, but the two are not told
    apart) or "neither" (no gain beyond the noise)."""

    at: Cell
    multiple: float
    size: Option
    training: Option
    difference: float  # size − training accuracy
    difference_band: tuple[float, float]
    kind: str


def decide(joint: JointCheck, at: Cell, multiple: float = 2.0, seed: int = 0) -> Decision:
    """Spend `multiple` × `at`'s training compute on MACs or on images seen."""
    targets = {"size": (at.macs * multiple, at.images), "training": (at.macs, at.images * multiple)}

    def errors(law: JointLaw) -> np.ndarray:
        now = float(law.predict(at.macs, at.images))
        errors = np.array([now] + [float(law.predict(*targets[k])) for k in targets])
        return np.clip(errors, 0.0, 1.0)

    laws = refits(joint.form, joint.cells, seed)
    draws = 1 - np.stack([errors(law) for law in laws] or [errors(joint.law)])
    point = 1 - errors(joint.law)
    options = {
        name: Option(
            name,
            *targets[name],
            float(point[i]),
            band(draws[:, i]),
            float(point[i] - point[0]),
            band(draws[:, i] - draws[:, 0]),
        )
        for i, name in enumerate(targets, start=1)
    }
    size, training = options["size"], options["training"]
    difference_band = band(draws[:, 1] - draws[:, 2])
    return Decision(
        at,
        multiple,
        size,
        training,
        size.accuracy - training.accuracy,
        difference_band,
        _kind(size, training, difference_band),
    )


def _kind(size: Option, training: Option, difference_band: tuple[float, float]) -> str:
    """ "size" or "training" where that one gains and beats the other beyond the noise,
    "either" where something gains but the two are not told apart, else "neither"."""
    if not size.gains and not training.gains:
        return "neither"
    if size.gains and difference_band[0] > 0:
        return "size"
    if training.gains and difference_band[1] < 0:
        return "training"
    return "either"
