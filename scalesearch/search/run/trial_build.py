"""From an asked Optuna trial to what trains: the realised spec, its record, its Tune config.

`draw` reads the trial from Optuna (its enqueued record, its sampled point); `build_trial`
is pure from there: the driver writes the record and tells the study. A trial is refused before training (`prune_reason`) when no rounding realises it
at equal cost, or its spec is over the MACs budget. How a twin — an earlier trial that
trained the same spec with the same proxy settings and seed, found by `trial_lookups` — is
copied is here too, so that no architecture is trained twice.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass

from optuna.trial import FrozenTrial, Trial, TrialState

from scalesearch.arch.cost import ModelCost, count_params, meta_model
from scalesearch.arch.equal_cost import base_macs, count_runtime
from scalesearch.decode import encode
from scalesearch.search.costs import RUNTIME_COUNTS
from scalesearch.search.run.outcome import Verdict
from scalesearch.search.run.trainable import TrialConfig
from scalesearch.search.space import Coefficients, SearchSpace
from scalesearch.search.store.schema import (
    COST_TARGET,
    MACS_BUDGET,
    Phase,
    TrialRecord,
    enqueued_phase,
    training_keys,
)
from scalesearch.train.config import ProxyConfig


def sample_point(trial: Trial, space: SearchSpace) -> tuple[Coefficients, dict[str, str]]:
    """The free parameters of a trial: α and β in their ranges, γ solved, part choices.

    The parameter names ("alpha", "beta", "stage{i}.{part}") are the study's schema.
    """
    s = space.scaling
    alpha = trial.suggest_float("alpha", s.alpha.low, s.alpha.high)
    beta = trial.suggest_float("beta", s.beta.low, s.beta.high)
    gamma = s.constraint.solve_gamma(alpha, beta)
    choices = {
        f"stage{i}.{part}": trial.suggest_categorical(f"stage{i}.{part}", list(options))
        for i, stage in enumerate(space.stage_choices)
        for part, options in stage.items()
    }
    return Coefficients(alpha, beta, gamma), choices


@dataclass(frozen=True)
class BuiltTrial:
    """A trial's record and what it trains; why it may not train (`prune_reason`), and its
    feasibility as Optuna 5 records it: constraint values, feasible when <= 0."""

    record: TrialRecord
    config: TrialConfig
    prune_reason: str | None = None
    constraints: dict[str, float] = dataclasses.field(default_factory=dict)


@dataclass(frozen=True)
class Drawn:
    """What an asked trial is, as Optuna holds it: the record it was enqueued with, its phase
    and its point. Everything after it (`build_trial`) is pure, so it may run off the
    driver's path (`prefetch`)."""

    given: TrialRecord
    phase: Phase
    coefficients: Coefficients
    choices: dict[str, str]


def draw(trial: Trial, space: SearchSpace, phase: Phase) -> Drawn:
    """Reads an asked trial and samples its point (`phase`: the driver's, unless the trial
    was enqueued with its own)."""
    given = TrialRecord.from_trial(trial)  # what an enqueued trial came with
    return Drawn(given, enqueued_phase(trial) or phase, *sample_point(trial, space))


def build_trial(
    space: SearchSpace,
    drawn: Drawn,
    proxy: ProxyConfig,
    data_dir: str | None,
    run_seed: int,
    version: str,
    driver: str,
) -> BuiltTrial:
    """The realised spec of a drawn trial at its φ (the search φ unless enqueued with one),
    trained with its own seed (a replicate's) or the run's; a family or ablation member under
    the space's `family:` settings, an ablation member by its strategy."""
    given, phase = drawn.given, drawn.phase
    phi = space.scaling.search_phi if given.phi is None else float(given.phi)
    seed = run_seed if given.seed is None else int(given.seed)
    strategy = given.strategy
    member = space.realize_strategy(strategy or "compound", phi, drawn.coefficients, drawn.choices)
    # The member's MACs are counted already (exactly: realisation's linear count); only its
    # parameters are counted here, on the meta device (milliseconds, not half a second).
    spec = member.spec
    cost = ModelCost(count_params(meta_model(spec)), member.macs, spec.resolution, ())
    if phase.trains_like_family:
        proxy = space.family.training(proxy, cost.macs / base_macs(space.base))
    if phase == Phase.BUDGET:
        proxy = space.budget.training(proxy, float(given.budget_factor or 1.0))
    proxy = dataclasses.replace(proxy, seed=seed)
    train_key, arch_key = training_keys(spec.spec_hash(), proxy.key_json(), seed)
    alpha, beta, gamma = member.effective
    counts = {}
    if set(space.search.costs) & set(RUNTIME_COUNTS):  # from realisation's counts (no pass)
        counts = count_runtime(spec).to_dict()
    record = TrialRecord(
        phase=phase,
        phi=phi,
        gamma=drawn.coefficients.gamma,
        spec=spec.to_json(),
        spec_hash=spec.spec_hash(),
        params=cost.params,
        macs=cost.macs,
        resolution=spec.resolution,
        target_macs=member.target_macs,
        cost_ratio=member.cost_ratio,
        effective_alpha=alpha,
        effective_beta=beta,
        effective_gamma=gamma,
        version=version,
        driver=driver,
        seed=seed,
        train_key=train_key,
        arch_key=arch_key,
        strategy=strategy,
        epochs=proxy.epochs,
        budget_factor=given.budget_factor,
        **counts,
    )
    reason = None
    # The equal-cost tolerance holds in every phase, the MACs budget in the search's.
    excess = member.cost_excess
    constraints = {COST_TARGET: min(excess, 0.0) if member.within_tolerance else excess}
    if phase == Phase.SEARCH:
        constraints[MACS_BUDGET] = cost.macs / space.search.max_macs - 1
    if not member.within_tolerance:
        reason = member.miss_reason()
    elif phase == Phase.SEARCH and cost.macs > space.search.max_macs:
        reason = f"over the MACs budget: {cost.macs:,} > {space.search.max_macs:,.0f}"
    config = TrialConfig(
        spec=spec.to_json(),
        proxy=json.dumps(encode(proxy)),
        data_dir=data_dir,
        seed=seed,
        macs=cost.macs,
        # Timed in the slot only where a tell needs it (a latency objective); otherwise
        # quietly once the phase has ended (`quiet_latency`).
        latency_batch=space.search.latency_batch if "latency" in space.search.costs else None,
    )
    return BuiltTrial(record, config, reason, constraints)


LATENCY_FIELDS = ("latency_ms", "latency_batch_ms", "latency_batch", "latency_device")


def twin_verdict(
    twin: FrozenTrial, study: str | None = None, in_flight: bool = False
) -> tuple[Verdict, TrialRecord]:
    """How a duplicate ends, and what it copies from its twin (of `study` where that is
    another study): a complete twin's result; a pruned twin's reason; a twin still training
    makes it pruned (it took no slot). `in_flight`: count the twin as still training whatever
    its state (under rolling asks, one of the trials a new one may not see yet)."""
    copied = TrialRecord(duplicate_of=twin.number, duplicate_study=study)
    source = TrialRecord.from_trial(twin)
    where = f"trial {twin.number}" + (f" of {study}" if study else "")
    if twin.state == TrialState.COMPLETE and not in_flight:
        copied = dataclasses.replace(
            copied,
            val_accuracies=source.val_accuracies,
            val_images=source.val_images,
            images_seen=source.images_seen,
            **{k: getattr(source, k) for k in LATENCY_FIELDS},
        )
        return Verdict(TrialState.COMPLETE, accuracy=twin.values[0]), copied
    if twin.state == TrialState.PRUNED and not in_flight:
        why = source.stop_reason or "pruned"
        return Verdict(TrialState.PRUNED, reason=f"duplicate of {where}: {why}"), copied
    reason = f"duplicate of {where}, which is still training"
    return Verdict(TrialState.PRUNED, reason=reason), copied
