"""What the report shows, as typed records read from the run's studies and its final runs.

`scalesearch.report.figures` draws it, `scalesearch.report.words` puts it in words;
nothing here imports plotly. Each list keeps to one fidelity: the search's points (proxy
training), the family's members (the family's training), the ablation's cells, the final
runs (test accuracy).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import optuna
from optuna.trial import TrialState

from scalesearch.arch.cost import count_cost
from scalesearch.errors import ReportError
from scalesearch.formatting import trial_counts
from scalesearch.redact import shown, storage_flag
from scalesearch.search.phases.race import RaceResult, race_result
from scalesearch.search.results.ablation_table import AblationCell, ablation_table
from scalesearch.search.results.arch_groups import arch_groups
from scalesearch.search.results.budget import BudgetAnswer, budget_answer
from scalesearch.search.results.defaults_check import DefaultsCheck, defaults_check, why_unchecked
from scalesearch.search.results.frontier import FrontierPoint, family_frontier, search_frontier
from scalesearch.search.results.latencies import RunLatencies, run_latencies
from scalesearch.search.results.noise import family_seed_noise
from scalesearch.search.space import Coefficients
from scalesearch.search.store import run_attributes, sql_tables
from scalesearch.search.store.schema import Phase, TrialRecord, cost_value, trained
from scalesearch.search.store.studies import RunStudies, open_run
from scalesearch.stats import binomial_se
from scalesearch.verdict import Member, ScalingVerdict, scaling_verdict


@dataclass(frozen=True)
class TrialPoint:
    """One complete trial that trained, with its binomial error and frontier membership."""

    study: str
    trial: int
    phase: str
    phi: float
    accuracy: float
    accuracy_se: float
    macs: float
    params: int
    latency_ms: float | None  # batch 1, timed quietly (`results.latencies`); None: not
    costs: dict[str, float | None]  # its study's cost objectives
    spec_hash: str | None
    alpha: float | None
    beta: float | None
    gamma: float | None
    on_frontier: bool


@dataclass(frozen=True)
class Summary:
    study: str
    storage: str  # shown: no password
    storage_flag: str  # for commands to run again: `--storage '...'` or the variable
    space: str
    trials: dict[str, int]
    budget: int | None
    max_macs: float | None
    objectives: list[str]
    made_by: str  # the version and layout of the study, as it records them


@dataclass(frozen=True)
class Fidelity:
    """Proxy (search study) against final (test) accuracy for trials trained for real."""

    pairs: list[tuple[int, float, float]]  # trial, proxy accuracy, final test accuracy
    tau: float


@dataclass(frozen=True)
class ReportData:
    summary: Summary
    search_points: list[TrialPoint]
    family_points: list[TrialPoint]
    search_frontier: list[FrontierPoint]
    family_frontier: list[FrontierPoint]
    members: list[Member]  # the family as the scaling verdict sees it
    family_noise: float  # sd of one accuracy over seeds under the family's training (or NaN)
    scaling: ScalingVerdict
    next: dict | None  # phi and macs of the next member
    ablation: list[AblationCell]
    race: RaceResult | None  # where the search's race stands (paired, against the noise)
    finals: list[dict]
    fidelity: Fidelity | None
    importances: dict[str, float]
    check: DefaultsCheck | None  # the search's pick against the defaults, family's training
    unchecked: str | None  # why there is no check, where there is none
    budget: BudgetAnswer  # where the next compute goes (the family at its budgets)
    latency: RunLatencies  # the run's quiet timings and how repeatable they were


def trial_points(
    trials, study: str, costs: tuple[str, ...], front: set[int], latency: RunLatencies
) -> list[TrialPoint]:
    """One point per complete trial that trained (duplicates took a twin's result)."""
    points = []
    for t in trials:
        if t.state != TrialState.COMPLETE or not trained(t):
            continue
        record = TrialRecord.from_trial(t)
        points.append(
            TrialPoint(
                study=study,
                trial=t.number,
                phase=record.phase.value,
                phi=float(record.phi or 0.0),
                accuracy=t.values[0],
                accuracy_se=binomial_se(t.values[0], record.val_images),
                macs=record.macs if record.macs is not None else t.values[1],
                params=int(record.params or 0),
                latency_ms=latency.ms(record.spec_hash),
                costs={c: cost_value(t, c) for c in costs},
                spec_hash=record.spec_hash,
                alpha=t.params.get("alpha"),
                beta=t.params.get("beta"),
                gamma=record.gamma,
                on_frontier=t.number in front,
            )
        )
    return points


def family_members(run: RunStudies, ablation: list[AblationCell]) -> list[Member]:
    """The family's members, each its mean over its seeds, with the standard error of that
    mean: the larger of the validation set's binomial error and the family's seed noise
    (pooled over its replicated members and the ablation's cells: one training rule), over
    √seeds. Where the ablation trained a member's spec at a φ the family lacks, it is added."""
    groups = arch_groups(run.trials(Phase.FAMILY), run.name_for(Phase.FAMILY))
    noise = family_seed_noise(run, ablation)
    rows = [
        (g.phi, g.macs, g.mean, len(g.accuracies), binomial_se(g.mean, g.val_images))
        for g in groups
    ]
    have = {r[0] for r in rows}
    for c in ablation:
        if c.strategy == "searched" and c.accuracies and c.phi not in have:
            rows.append((c.phi, c.macs, c.mean, len(c.accuracies), math.nan))
    members = []
    for phi, macs, accuracy, n, binomial in sorted(rows, key=lambda r: r[1]):
        spread = max(_zero_nan(binomial), _zero_nan(noise))
        members.append(
            Member(phi, macs, accuracy, spread / math.sqrt(n) if spread else math.nan, n)
        )
    return members


def _zero_nan(value: float) -> float:
    return 0.0 if math.isnan(value) else value


def next_member(run: RunStudies, members: list[Member]) -> dict | None:
    """The next φ after the family's largest: its MACs, counted from the stored space."""
    space = run_attributes.stored_space(run.search)
    family = [t for t in run.trials(Phase.FAMILY, states=(TrialState.COMPLETE,)) if trained(t)]
    if not members or not family or space is None:
        return None
    last = max(family, key=lambda t: TrialRecord.from_trial(t).phi or 0.0)
    record = TrialRecord.from_trial(last)
    if record.gamma is None or "alpha" not in last.params:  # a family made elsewhere
        return None
    phi = (record.phi or 0.0) + 1
    coefficients = Coefficients(last.params["alpha"], last.params["beta"], record.gamma)
    return {"phi": phi, "macs": count_cost(space.member(phi, coefficients)).macs}


def importances(run: RunStudies) -> dict[str, float]:
    """How much each parameter matters for reaching the top accuracies of the search
    (PED-ANOVA, Optuna 5's default evaluator; empty with fewer than 3 search trials).

    PED-ANOVA asks which parameter values the best trials share (the top quantile against
    all). It wants at least 5 trials in that quantile, so the quantile is 5 trials' share of
    the search (at least Optuna's 10%, at most half). fANOVA, 0.2's choice, fits a random
    forest to 16 noisy points; PED-ANOVA's question is the one a search answers.
    """
    complete = run.trials(Phase.SEARCH, states=(TrialState.COMPLETE,))
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
        with warnings.catch_warnings():  # few trials: the quantiles may select one set
            warnings.filterwarnings("ignore", message="Target and region quantiles")
            return optuna.importance.get_param_importances(search, evaluator=evaluator)
    except (ValueError, RuntimeError):
        return {}


def fidelity(points: list[TrialPoint], finals: list[dict], study: str) -> Fidelity | None:
    """Proxy vs final accuracy for the search's trials with a completed final run."""
    from scipy.stats import kendalltau

    proxy = {p.trial: p.accuracy for p in points}
    done = [r for r in finals if r["status"] == "completed" and r["study"] == study]
    latest = {r["trial"]: r for r in done if r["trial"] in proxy}
    pairs = [(n, proxy[n], r["test_accuracy"]) for n, r in sorted(latest.items())]
    if not pairs:
        return None
    tau = (
        float(kendalltau([p[1] for p in pairs], [p[2] for p in pairs]).statistic)
        if len(pairs) > 1
        else math.nan
    )
    return Fidelity(pairs, tau)


def summary(run: RunStudies) -> Summary:
    space = run_attributes.stored_space(run.search)
    return Summary(
        study=run.name,
        storage=shown(run.url),
        storage_flag=storage_flag(run.url),
        space=run_attributes.space_name(run.search) or "?",
        trials=run.counts(),
        budget=run_attributes.search_budget(run.search),
        max_macs=space.search.max_macs if space else None,
        objectives=list(space.search.objectives) if space else ["accuracy", "macs"],
        made_by=_made_by(run),
    )


def _made_by(run: RunStudies) -> str:
    """ "scalesearch 0.4.0, a study per fidelity" (a study before 0.4 did not record it)."""
    layout = "a study per fidelity" if run.split else "every phase in one study (0.2)"
    version = run_attributes.made_by(run.search)
    return f"scalesearch {version}, {layout}" if version else f"before 0.4, {layout}"


def build_report(storage: str, name: str) -> ReportData:
    """Everything the page shows."""
    return report_of(open_run(storage, name))


def report_of(run: RunStudies) -> ReportData:
    """Everything the page shows, from a run already open (its trials read once: a
    5,000-trial study takes seconds to read)."""
    storage = run.url
    search_front, family_front = search_frontier(run), family_frontier(run)
    space = run_attributes.stored_space(run.search)
    costs = space.search.costs if space else ("macs",)
    latency = run_latencies(storage, run.name)
    search_points = trial_points(
        run.search_trials(), run.name, costs, {p.trial for p in search_front}, latency
    )
    family_study = run.name_for(Phase.FAMILY)
    family_points = trial_points(
        run.trials(Phase.FAMILY), family_study, ("macs",), {p.trial for p in family_front}, latency
    )
    if not search_points and not family_points:
        raise ReportError(
            f"study {run.name!r} has no complete trial yet ({trial_counts(summary(run).trials)}); "
            f"run or resume the search first"
        )
    ablation = ablation_table(run)
    members = family_members(run, ablation)
    nxt = next_member(run, members)
    finals = [r for s in run.studies() for r in sql_tables.load_final_runs(storage, s.study_name)]
    noise = family_seed_noise(run, ablation)
    check = defaults_check(run)
    unchecked = None if check is not None else why_unchecked(run)
    return ReportData(
        summary=summary(run),
        search_points=search_points,
        family_points=sorted(family_points, key=lambda p: (p.phi, p.trial)),
        search_frontier=search_front,
        family_frontier=family_front,
        members=members,
        family_noise=noise,
        scaling=scaling_verdict(members, nxt["macs"] if nxt else None),
        next=nxt,
        ablation=ablation,
        race=race_result(run, space) if space else None,
        finals=finals,
        fidelity=fidelity(search_points, finals, run.name),
        importances=importances(run),
        check=check,
        unchecked=unchecked,
        budget=budget_answer(run, noise),
        latency=latency,
    )
