"""The family phase: the chosen coefficients scaled to every φ, each member trained with the
family's seeds in the family's own study, beside the default coefficients' member at the
search φ (the search's pick checked at the training that counts), and the family again at
each training budget the space names (each in a study of its own).

Every training is a planned unit (`scalesearch.search.units`): claimed in the database before
it trains, so several drivers and resumed runs train each once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from optuna.trial import FrozenTrial, TrialState

from scalesearch.errors import StudyError
from scalesearch.formatting import seed_count
from scalesearch.search.arch_groups import arch_groups
from scalesearch.search.lifecycle import RunConfig
from scalesearch.search.schema import Phase, TrialRecord
from scalesearch.search.studies import RunStudies
from scalesearch.search.trial_build import default_params
from scalesearch.search.units import PlannedUnits, Unit


@dataclass(frozen=True)
class FamilySource:
    """The search trial whose coefficients the family scales, and whether its architecture
    is the default coefficients' (then there is nothing to check them against)."""

    trial: FrozenTrial
    default: bool


def family_source(run: RunStudies, number: int | None) -> FrozenTrial:
    """The search trial whose coefficients the family scales (`choose_source`'s trial)."""
    return choose_source(run, number).trial


def choose_source(run: RunStudies, number: int | None) -> FamilySource:
    """The search trial whose coefficients the family scales: `number`, or the first trial
    of the searched architecture with the best mean accuracy over its seeds (the cheaper one
    on a tie): the race's leader. Where the race gave seeds, only architectures with two or
    more compete: a single seed's luck would otherwise beat a mean of several (the winner's
    curse). A family already begun keeps its coefficients: a resume never orphans the
    members it trained (a 0.2 family, chosen by another rule, included)."""
    complete = run.trials(Phase.SEARCH, states=(TrialState.COMPLETE,))
    groups = arch_groups(run.search_trials(), run.name)
    defaults = {n for g in groups if g.default for n in g.trials}
    if number is not None:
        match = [t for t in complete if t.number == number]
        if not match:
            raise StudyError(
                f"trial {number} is not a complete search trial of this study; "
                f"`scalesearch frontier` lists the search's trials"
            )
        return FamilySource(match[0], number in defaults)
    begun = [t.params for t in run.trials(Phase.FAMILY)]
    kept = [t for t in complete if begun and t.params == begun[0]]
    if kept:  # a resumed family keeps the coefficients its trained members have
        return FamilySource(kept[0], kept[0].number in defaults)
    searched = [g for g in groups if g.phase == Phase.SEARCH]
    if not searched:
        raise StudyError("no search trial completed, so there are no coefficients to scale")
    replicated = [g for g in searched if len(g.accuracies) > 1]
    best = max(replicated or searched, key=lambda g: (g.mean, -g.macs))
    return FamilySource(run.search.trials[best.trials[0]], best.default)


def family_phase(
    run: RunStudies, config: RunConfig, driver: str, log: Callable[[str], None] = print
) -> PlannedUnits:
    """The family's members, the defaults' check and the budgets, the longest first: with
    the long trainings started at once, the short ones fill the other slots instead of one
    long training running alone at the end."""
    source = choose_source(run, config.family_from)
    units = member_units(config, source) + check_units(config, source, log)
    units += budget_units(config, source)
    units.sort(key=lambda u: -_relative_cost(config, u))
    space = config.space
    shown = ", ".join(
        f"{k}={v:.3f}" if isinstance(v, float) else f"{k}={v}"
        for k, v in source.trial.params.items()
    )
    budgets = "".join(
        f"; at {f:g}× the images seen: φ {_phis(space.budget_phi)}, in "
        f"{run.name_for(Phase.BUDGET, f)!r}"
        for f in space.budget.factors
    )
    log(
        f"[family] coefficients of trial {source.trial.number}: {shown}; φ "
        f"{_phis(space.family_phi)}, {seed_count(space.family.seeds)} each, in study "
        f"{run.name_for(Phase.FAMILY)!r}{budgets}"
    )
    return PlannedUnits(run, config.storage, driver, units)


def member_units(config: RunConfig, source: FamilySource) -> list[Unit]:
    """Each φ × seed of the family. When the family trains as the proxy does, the member at
    the search φ and the source's seed is the source trial itself (same spec, settings and
    seed: the same result): it is recorded as a family trial, not trained again."""
    record = TrialRecord.from_trial(source.trial)
    search_phi = config.space.scaling.search_phi if record.phi is None else record.phi
    source_seed = config.seed if record.seed is None else record.seed
    same_training = config.space.family.trains_as_proxy
    units = []
    for phi in config.space.family_phi:
        for seed in family_seeds(config):
            copy = same_training and phi == search_phi and seed == source_seed
            units.append(
                family_unit(source.trial, phi, seed, copy_of=source.trial if copy else None)
            )
    return units


def family_unit(
    source: FrozenTrial, phi: float, seed: int, copy_of: FrozenTrial | None = None
) -> Unit:
    """The family's member at `phi` and `seed`, scaled from `source`'s coefficients."""
    record = TrialRecord(phase=Phase.FAMILY, phi=phi, seed=seed)
    return Unit(f"family:{source.number}:{phi:g}:{seed}", dict(source.params), record, copy_of)


def check_units(
    config: RunConfig, source: FamilySource, log: Callable[[str], None] = print
) -> list[Unit]:
    """The default coefficients' member at the search φ, with the family's seeds (paired with
    the family's member there); none when the source is the defaults' own architecture."""
    space, phi = config.space, config.space.scaling.search_phi
    if not space.family.check_defaults:
        return []
    if source.default:
        log("[family] the search's pick is the default coefficients: nothing to check")
        return []
    if phi not in space.family_phi:
        log(f"[family] no check of the defaults: the family has no member at the search φ {phi:g}")
        return []
    params = default_params(space)
    return [check_unit(source.trial, params, phi, seed) for seed in family_seeds(config)]


def check_unit(source: FrozenTrial, defaults: dict, phi: float, seed: int) -> Unit:
    """The default coefficients' member at `phi` and `seed`, beside `source`'s family."""
    record = TrialRecord(phase=Phase.CHECK, phi=phi, seed=seed, default_coefficients=True)
    return Unit(f"check:{source.number}:{phi:g}:{seed}", defaults, record)


def budget_units(config: RunConfig, source: FamilySource) -> list[Unit]:
    """The family at each budget factor: its φ values × its seeds."""
    space = config.space
    seeds = family_seeds(config, space.budget.seeds)
    return [
        budget_unit(source.trial, factor, phi, seed)
        for factor in space.budget.factors
        for phi in space.budget_phi
        for seed in seeds
    ]


def budget_unit(source: FrozenTrial, factor: float, phi: float, seed: int) -> Unit:
    """The family's member at `phi` and `seed` trained on `factor` × its images seen."""
    record = TrialRecord(phase=Phase.BUDGET, phi=phi, seed=seed, budget_factor=factor)
    return Unit(f"budget:{source.number}:{factor:g}:{phi:g}:{seed}", dict(source.params), record)


def family_seeds(config: RunConfig, count: int | None = None) -> list[int]:
    """The seeds the family's trainings pair on: the run's seed and the next ones."""
    return [config.seed + k for k in range(count or config.space.family.seeds)]


def _relative_cost(config: RunConfig, unit: Unit) -> float:
    """A unit's training cost relative to the base's (growth^φ × its epochs' factor)."""
    growth = config.space.scaling.constraint.target
    return growth ** float(unit.record.phi or 0.0) * (unit.record.budget_factor or 1.0)


def _phis(values) -> str:
    return ", ".join(f"{p:g}" for p in values)
