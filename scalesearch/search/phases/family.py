"""The family phase: the chosen coefficients scaled to every φ, each member trained with the
family's seeds in the family's own study, beside the default coefficients' member at the
search φ (the search's pick checked at the training that counts), and the family again at
each training budget the space names (each in a study of its own).

Every training is a planned unit (`scalesearch.search.phases.units`): claimed in the database before
it trains, so several drivers and resumed runs train each once.
"""

from __future__ import annotations

from collections.abc import Callable

from optuna.trial import FrozenTrial

from scalesearch.formatting import seed_count
from scalesearch.search.config import RunConfig
from scalesearch.search.phases.units import PlannedUnits, Unit
from scalesearch.search.results.leader import FamilySource, choose_source
from scalesearch.search.store.schema import Phase, TrialRecord
from scalesearch.search.store.studies import RunStudies


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
    params = space.default_params()
    return [check_unit(params, phi, seed) for seed in family_seeds(config)]


def early_check_units(config: RunConfig) -> list[Unit]:
    """The defaults' check, for a slot the race leaves idle: what it trains (the defaults'
    member at the search φ, with the family's seeds) does not depend on what the race picks.
    Where the race then picks the defaults' architecture, the family's member there is this
    very training and takes its result as a twin: nothing is trained in vain."""
    space, phi = config.space, config.space.scaling.search_phi
    if not (config.family and space.family.check_defaults and phi in space.family_phi):
        return []
    params = space.default_params()
    return [check_unit(params, phi, seed) for seed in family_seeds(config)]


def check_unit(defaults: dict, phi: float, seed: int) -> Unit:
    """The default coefficients' member at `phi` and `seed` (whichever trial the family
    scales: the key is the same before the race has picked one)."""
    record = TrialRecord(phase=Phase.CHECK, phi=phi, seed=seed, default_coefficients=True)
    return Unit(f"check:{phi:g}:{seed}", defaults, record)


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
