"""What the report shows, as plain data read from the study and the final runs (tested).

`scalesearch.cli.report` renders it; nothing here imports plotly.
"""

from __future__ import annotations

import math

import optuna
from optuna.trial import TrialState

from scalesearch.arch.cost import count_cost
from scalesearch.errors import ReportError
from scalesearch.law import LawCheck, check_law
from scalesearch.numbers import trial_counts
from scalesearch.search import records
from scalesearch.search import storage as st
from scalesearch.search.ablation import AblationCell, ablation_table, ablation_verdict
from scalesearch.search.frontier import frontier
from scalesearch.search.replicates import noise_verdict
from scalesearch.search.schema import Phase, TrialRecord, phase_of
from scalesearch.search.space import Coefficients
from scalesearch.stats import binomial_se, format_accuracy


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
                macs=record.macs if record.macs is not None else t.values[1],
                params=int(record.params or 0),
                latency_ms=record.latency_ms,
                spec_hash=record.spec_hash,
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


def law_members(family: list[dict], ablation: list[AblationCell]) -> list[dict]:
    """The points the law is fitted on, each with its error's standard error: the family's
    members, and the ablation's searched members (both train under the family's settings).
    Where the ablation trained a family member's architecture with more seeds (its seed 0 is
    the family member itself), the mean over those seeds stands for it; where it trained one
    at a φ the family lacks, it is added. A standard error is the larger of the validation
    set's and the seed noise of the family's training (pooled over the ablation), over √n."""
    noise = family_seed_noise(ablation)
    searched = {
        c.spec_hash or f"cell:{c.phi}": c
        for c in ablation
        if c.strategy == "searched" and c.accuracies
    }
    points = []
    for p in family:
        cell = searched.pop(p["spec_hash"], None) if p.get("spec_hash") else None
        if cell is not None and len(cell.accuracies) > 1:
            points.append((cell.phi, cell.macs, cell.mean, len(cell.accuracies), p["accuracy_se"]))
        else:
            points.append((p["phi"], p["macs"], p["accuracy"], 1, p["accuracy_se"]))
    have = {p[0] for p in points}
    for c in searched.values():
        if c.phi not in have:
            points.append((c.phi, c.macs, c.mean, len(c.accuracies), math.nan))
    members = []
    for phi, macs, accuracy, n, binomial in sorted(points, key=lambda p: p[1]):
        spread = max(_zero_nan(binomial), _zero_nan(noise))
        se = spread / math.sqrt(n) if spread > 0 else math.nan
        members.append({"phi": phi, "macs": macs, "error": 1 - accuracy, "se": se, "seeds": n})
    return members


def family_seed_noise(ablation: list[AblationCell]) -> float:
    """The pooled sd of one accuracy over seeds under the family's training (NaN without an
    ablation of two or more seeds)."""
    replicated = [c for c in ablation if len(c.accuracies) > 1]
    dof = sum(len(c.accuracies) - 1 for c in replicated)
    if not dof:
        return math.nan
    return math.sqrt(sum((len(c.accuracies) - 1) * c.sd**2 for c in replicated) / dof)


def _zero_nan(value: float) -> float:
    return 0.0 if math.isnan(value) else value


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
    """How much each parameter matters for reaching the top accuracies of the search
    (PED-ANOVA, Optuna 5's default evaluator; empty with fewer than 3 search trials).

    PED-ANOVA asks which parameter values the best trials share (the top quantile against
    all). It wants at least 5 trials in that quantile, so the quantile is 5 trials' share of
    the search (at least Optuna's 10%, at most half). fANOVA, 0.2's choice, fits a random
    forest to 16 noisy points; PED-ANOVA's question is the one a search answers. Only the
    search's trials count (a study made by 0.2 also holds its family's, trained longer).
    """
    complete = [
        t
        for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        if phase_of(t) == Phase.SEARCH
    ]
    if len(complete) < 3:
        return {}
    # Error rate, minimised, in a study of its own: PED-ANOVA reads low values as good.
    search = optuna.create_study(storage=optuna.storages.InMemoryStorage())
    search.add_trials(
        optuna.trial.create_trial(
            params=t.params, distributions=t.distributions, value=1 - t.values[0]
        )
        for t in complete
    )
    evaluator = optuna.importance.PedAnovaImportanceEvaluator(
        target_quantile=min(0.5, max(0.1, 5 / len(complete)))
    )
    try:
        return optuna.importance.get_param_importances(search, evaluator=evaluator)
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
        "objectives": list(space.search.objectives) if space else ["accuracy", "macs"],
    }


def at_a_glance(
    study: optuna.Study, front, fidelity_: dict | None, law, verdict
) -> list[tuple[str, str]]:
    """The summary box: the answer in words, one (label, sentence) per question."""
    comparison = verdict.comparison
    best = comparison.best if comparison else None
    if best is None:
        searched = [p for p in front if p.phase == Phase.SEARCH.value]
        top = max(searched, key=lambda p: p.accuracy, default=None)
        coefficients = (
            "none on the frontier yet"
            if top is None
            else _coefficients(
                top.coefficients,
                f"trial {top.trial}, {format_accuracy(top.accuracy, top.accuracy_se)}, "
                f"{top.seeds} seed{'s' if top.seeds > 1 else ''}",
            )
        )
    else:
        trial = study.trials[best.trials[0]]
        record = TrialRecord.from_trial(trial)
        se = best.se(verdict.noise)
        coefficients = _coefficients(
            {**trial.params, "gamma": record.gamma},
            f"trial {best.trials[0]}, {format_accuracy(best.mean, se)} over {len(best.accuracies)} seeds",
        )
    if comparison is None:
        gain = verdict.words
    else:
        z = comparison.difference / comparison.se if comparison.se > 0 else float("inf")
        beyond = "beyond" if abs(z) >= 2 else "within"
        gain = (
            f"{100 * comparison.difference:+.2f} ± {100 * comparison.se:.2f} points over the "
            f"default coefficients: {beyond} the seed noise"
            + ("" if beyond == "beyond" else "; no claim of better is warranted")
        )
    if fidelity_ is None or len(fidelity_["pairs"]) < 3:
        pairs = 0 if fidelity_ is None else len(fidelity_["pairs"])
        proxy = (
            f"not measured: {pairs} frontier model(s) trained for real, 3 or more needed "
            f"(scalesearch train --pareto 3)"
        )
    else:
        proxy = f"Kendall τ {fidelity_['tau']:.2f} between proxy and final accuracy over {len(fidelity_['pairs'])} models"
    if law is None:
        law_words = "no family trained, so no law"
    elif law.passed:
        law_words = "passed its checks (monotone family, held-out member inside its band)"
    else:
        law_words = "did not pass its checks: " + law.words.split(". ")[0].rstrip(".")
    return [
        ("best coefficients", coefficients),
        ("gain over the defaults", gain),
        ("proxy fidelity", proxy),
        ("scaling law", law_words),
    ]


def _coefficients(values: dict, how: str) -> str:
    shown = ", ".join(f"{k} {values[k]:.3f}" for k in ("alpha", "beta", "gamma") if values.get(k))
    return f"{shown} ({how})"


def build_report(storage: str, name: str) -> dict:
    """Everything the page shows, as plain data."""
    study = st.load_study(storage, name)
    front = frontier(study)
    points = trial_points(study, {p.trial for p in front})
    if not points:
        counts = st.trials_by_state(study)
        raise ReportError(
            f"study {name!r} has no complete trial yet ({trial_counts(counts)}); run or resume "
            f"the search first"
        )
    family = family_rows(points)
    ablation = ablation_table(study)
    members = law_members(family, ablation)
    nxt = next_member(study, family)
    law = None
    if members:
        law = check_law(
            [m["macs"] for m in members],
            [m["error"] for m in members],
            [m["se"] for m in members],
            next_macs=nxt["macs"] if nxt else None,
        )
    finals = records.load_final_runs(storage, name)
    seeds = noise_verdict(study)
    noise = {"seed_noise": seeds.noise, "words": seeds.words}
    measured = fidelity(points, finals)
    return dict(
        points=points,
        family=family,
        law=law,
        law_members=members,
        next=nxt,
        ablation=[c.to_dict() for c in ablation],
        verdict=_verdict(ablation, noise, law),
        importances=importances(study),
        finals=finals,
        fidelity=measured,
        glance=at_a_glance(study, front, measured, law, seeds),
        summary=summary(study, storage),
        frontier=[p.to_dict() for p in front],
        noise=noise,
    )


def _verdict(ablation: list[AblationCell], noise: dict, law: LawCheck | None) -> list[str]:
    """The page's opening words: the ablation's answer, the noise, the law's checks."""
    lines = ablation_verdict(ablation) or [
        "No ablation was trained, so nothing says whether the searched coefficients beat the "
        "defaults or single-dimension scaling at equal cost: run scalesearch ablate --phi 1 2."
    ]
    family_noise = family_seed_noise(ablation)
    if not math.isnan(family_noise):
        lines.append(
            f"Under the family's training, one accuracy varies by {100 * family_noise:.2f} "
            f"points between seeds (pooled over the ablation's strategies)."
        )
    lines.append(noise["words"])
    if law is not None:
        lines.append(law.words)
    return lines
