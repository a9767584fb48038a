"""What the report shows, as plain data read from the study and the final runs (tested).

`scalesearch.cli.report` renders it; nothing here imports plotly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import optuna
from optuna.trial import TrialState

from scalesearch.arch.cost import count_cost
from scalesearch.errors import ReportError
from scalesearch.search import records
from scalesearch.search import storage as st
from scalesearch.search.frontier import frontier
from scalesearch.search.replicates import noise_verdict
from scalesearch.search.schema import Phase, TrialRecord, phase_of
from scalesearch.search.space import Coefficients
from scalesearch.stats import binomial_se


# -- data ---------------------------------------------------------------------------------
def trial_points(study: optuna.Study, front: set[int]) -> list[dict]:
    """One row per complete trial that trained (duplicates took a twin's result), with its
    standard error, coefficients, φ and frontier membership."""
    rows = []
    for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        record = TrialRecord.from_trial(t)
        if record.duplicate_of is not None:
            continue
        rows.append(
            dict(
                trial=t.number,
                phase=record.phase.value,
                phi=float(record.phi or 0.0),
                accuracy=t.values[0],
                accuracy_se=binomial_se(t.values[0], record.val_images),
                macs=t.values[1],
                params=int(record.params or 0),
                alpha=t.params.get("alpha"),
                beta=t.params.get("beta"),
                gamma=record.gamma,
                on_frontier=t.number in front,
            )
        )
    return rows


def family_rows(points: list[dict]) -> list[dict]:
    """The family's complete members in φ order (one per φ)."""
    by_phi = {p["phi"]: p for p in points if p["phase"] == "family"}
    return [by_phi[phi] for phi in sorted(by_phi)]


@dataclass(frozen=True)
class PowerLaw:
    """error = a · MACs^b, fitted in log-log space, with the residual scatter for bands."""

    a: float
    b: float
    log_sigma: float  # residual standard deviation of log(error)
    points: int
    log_macs_mean: float
    log_macs_ss: float  # Σ (log MACs − mean)²

    def predict(self, macs: float) -> float:
        return self.a * macs**self.b

    def band(self, macs: float, z: float = 1.96) -> tuple[float, float]:
        """A 95% confidence band on the mean prediction (wide with few points)."""
        x = math.log(macs)
        spread = self.log_sigma * math.sqrt(
            1 / self.points + (x - self.log_macs_mean) ** 2 / max(self.log_macs_ss, 1e-12)
        )
        centre = math.log(self.predict(macs))
        return math.exp(centre - z * spread), math.exp(centre + z * spread)


def fit_power_law(macs: list[float], error: list[float]) -> PowerLaw:
    """Least squares on log(error) = log(a) + b·log(MACs). Needs two or more points."""
    if len(macs) < 2:
        raise ReportError("a scaling law needs at least two family members")
    x, y = np.log(np.asarray(macs, float)), np.log(np.clip(np.asarray(error, float), 1e-6, None))
    b, log_a = np.polyfit(x, y, 1)
    residual = y - (log_a + b * x)
    dof = max(len(x) - 2, 1)
    return PowerLaw(
        float(math.exp(log_a)),
        float(b),
        float(math.sqrt((residual**2).sum() / dof)),
        len(x),
        float(x.mean()),
        float(((x - x.mean()) ** 2).sum()),
    )


def next_member(study: optuna.Study, family: list[dict]) -> dict | None:
    """The next φ after the family's largest: its MACs, counted from the stored space."""
    space = st.stored_space(study)
    if not family or space is None:
        return None
    last = family[-1]
    phi = last["phi"] + 1
    spec = space.member(phi, Coefficients(last["alpha"], last["beta"], last["gamma"]))
    return {"phi": phi, "macs": count_cost(spec).macs}


def importances(study: optuna.Study) -> dict[str, float]:
    """Optuna's fANOVA importances of the parameters for accuracy (empty if too few trials)."""
    complete = [
        t
        for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        if phase_of(t) == Phase.SEARCH
    ]
    if len(complete) < 3:
        return {}
    try:
        return optuna.importance.get_param_importances(
            study,
            target=lambda t: t.values[0],
            evaluator=optuna.importance.FanovaImportanceEvaluator(seed=0),
        )
    except (ValueError, RuntimeError):
        return {}


def fidelity(points: list[dict], finals: list[dict]) -> dict | None:
    """Proxy vs final accuracy for trials with a completed final run, with Kendall τ."""
    from scipy.stats import kendalltau

    proxy = {p["trial"]: p["accuracy"] for p in points}
    latest = {r["trial"]: r for r in finals if r["status"] == "completed" and r["trial"] in proxy}
    pairs = [(n, proxy[n], r["test_accuracy"]) for n, r in sorted(latest.items())]
    if not pairs:
        return None
    tau = (
        float(kendalltau([p[1] for p in pairs], [p[2] for p in pairs]).statistic)
        if len(pairs) > 1
        else float("nan")
    )
    return {"pairs": pairs, "tau": tau}


def summary(study: optuna.Study, storage: str) -> dict:
    space = st.stored_space(study)
    return {
        "study": study.study_name,
        "storage": storage,
        "space": st.space_name(study) or "?",
        "trials": st.trials_by_state(study),
        "budget": st.search_budget(study),
        "max_macs": space.search.max_macs if space else None,
    }


def build_report(storage: str, name: str) -> dict:
    """Everything the page shows, as plain data."""
    study = st.load_study(storage, name)
    front = frontier(study)
    points = trial_points(study, {p.trial for p in front})
    if not points:
        counts = st.trials_by_state(study)
        raise ReportError(
            f"study {name!r} has no complete trial yet ({counts or 'no trials'}); run or resume "
            f"the search first"
        )
    family = family_rows(points)
    law = None
    if len(family) >= 2:
        law = fit_power_law([p["macs"] for p in family], [1 - p["accuracy"] for p in family])
    finals = records.load_final_runs(storage, name)
    return dict(
        points=points,
        family=family,
        law=law,
        next=next_member(study, family) if law else None,
        importances=importances(study),
        finals=finals,
        fidelity=fidelity(points, finals),
        summary=summary(study, storage),
        frontier=[p.to_dict() for p in front],
        noise=_noise(study),
    )


def _noise(study: optuna.Study) -> dict:
    """The measured seed noise and, in words, what it allows one to claim."""
    verdict = noise_verdict(study)
    return {"seed_noise": verdict.noise, "words": verdict.words}
