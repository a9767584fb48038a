"""More seeds of trained trials, each recorded as its phase records one (`scalesearch retrain`).

A trial's exact network is its stored parameters (coefficients and, in spaces that let them
vary, per-stage block choices) at its φ: rebuilt from a space by hand it may differ. Here a
trial at another seed is its phase's own unit at that seed: a search trial's is a race
training of its architecture (it joins the race's paired seeds), a family member's a family
member, and so on, claimed and keyed as the phase does, so nothing trains twice.
"""

from __future__ import annotations

from collections.abc import Sequence

from optuna.trial import FrozenTrial, TrialState

from scalesearch.errors import StudyError
from scalesearch.search.phases.ablation import ablation_unit
from scalesearch.search.phases.family import budget_unit, check_unit, family_unit
from scalesearch.search.phases.race import race_unit
from scalesearch.search.results.arch_groups import arch_groups
from scalesearch.search.results.leader import choose_source
from scalesearch.search.space import SearchSpace
from scalesearch.search.store.schema import Phase, TrialRecord
from scalesearch.search.store.storage import trial_numbered
from scalesearch.search.store.studies import RunStudies


def seed_units(
    run: RunStudies, space: SearchSpace, chosen: Sequence[FrozenTrial], seeds: Sequence[int]
) -> list:
    """Each chosen trial's unit at each seed (those trained already are skipped when served)."""
    for trial in chosen:
        if trial.state != TrialState.COMPLETE:
            raise StudyError(
                f"trial {trial.number} is {trial.state.name.lower()}: only a complete trial "
                f"is trained again with more seeds"
            )
    return [unit_at(run, space, trial, seed) for trial in chosen for seed in seeds]


def unit_at(run: RunStudies, space: SearchSpace, trial: FrozenTrial, seed: int):
    """The unit that trains `trial`'s network under its phase's training at `seed`."""
    record = TrialRecord.from_trial(trial)
    phase, phi = record.phase, float(record.phi or 0.0)
    if phase in (Phase.SEARCH, Phase.REPLICATE):
        return _race_unit(run, space, trial, record, seed)
    if phase == Phase.ABLATION:
        return ablation_unit(
            int(record.ablation_source or 0), str(record.strategy), dict(trial.params), phi, seed
        )
    if phase == Phase.CHECK:
        return check_unit(dict(trial.params), phi, seed)
    source = choose_source(run, None).trial
    if phase == Phase.BUDGET:
        return budget_unit(source, float(record.budget_factor or 1.0), phi, seed)
    return family_unit(source, phi, seed)


def _race_unit(run: RunStudies, space: SearchSpace, trial: FrozenTrial, record, seed: int):
    """A search trial's architecture at another seed: a race training of it."""
    number = trial.number if record.duplicate_of is None else record.duplicate_of
    group = next(
        (g for g in arch_groups(run.search_trials(), run.name) if number in g.trials), None
    )
    if group is None:
        raise StudyError(f"trial {trial.number} has no complete training to repeat")
    if group.default:
        return race_unit("default", space.default_params(), seed, None)
    first = group.trials[0]
    return race_unit(str(first), dict(trial_numbered(run.search, first).params), seed, first)
