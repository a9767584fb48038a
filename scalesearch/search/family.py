"""The family phase: the chosen coefficients scaled to every φ, each member trained with the
family's seeds, in the family's own study (`RunStudies.study_for(Phase.FAMILY)`).

Several drivers may share a run: each member × seed is claimed in the database before it is
trained (`sql_tables.claim`), so none is trained twice. One whose trial failed (a killed
driver, an interrupt) can be claimed again: its claim key counts the failed attempts.
"""

from __future__ import annotations

from collections.abc import Callable

from optuna.trial import FrozenTrial, Trial, TrialState

from scalesearch.errors import StudyError
from scalesearch.search import storage
from scalesearch.search.arch_groups import arch_groups
from scalesearch.search.lifecycle import RunConfig
from scalesearch.search.schema import Phase, TrialRecord, claim_next_try, copied_trial
from scalesearch.search.studies import RunStudies


def family_source(run: RunStudies, number: int | None) -> FrozenTrial:
    """The search trial whose coefficients the family scales: `number`, or the first trial
    of the searched architecture with the best mean accuracy over its seeds (the cheaper one
    on a tie): the race's leader. Where the race gave seeds, only architectures with two or
    more compete: a single seed's luck would otherwise beat a mean of several (the winner's
    curse). A family already begun keeps its coefficients: a resume never orphans the
    members it trained (a 0.2 family, chosen by another rule, included)."""
    complete = run.trials(Phase.SEARCH, states=(TrialState.COMPLETE,))
    if number is not None:
        match = [t for t in complete if t.number == number]
        if not match:
            raise StudyError(
                f"trial {number} is not a complete search trial of this study; "
                f"`scalesearch frontier` lists the search's trials"
            )
        return match[0]
    begun = [t.params for t in run.trials(Phase.FAMILY)]
    kept = [t for t in complete if begun and t.params == begun[0]]
    if kept:  # a resumed family keeps the coefficients its trained members have
        return kept[0]
    searched = [g for g in arch_groups(run.search_trials(), run.name) if g.phase == Phase.SEARCH]
    if not searched:
        raise StudyError("no search trial completed, so there are no coefficients to scale")
    replicated = [g for g in searched if len(g.accuracies) > 1]
    searched = replicated or searched
    best = max(searched, key=lambda g: (g.mean, -g.macs))
    return run.search.trials[best.trials[0]]


class FamilyMembers:
    """Serves the members still to train, one `Trial` per call (None when none is left).

    When the family trains as the proxy does, the member at the search φ and the source's
    seed is the source trial itself (same spec, settings and seed: the same result): it is
    recorded as a family trial, not trained again.
    """

    def __init__(
        self,
        run: RunStudies,
        config: RunConfig,
        driver: str,
        log: Callable[[str], None] = print,
    ) -> None:
        self.run, self.config, self.driver = run, config, driver
        self.source = family_source(run, config.family_from)
        self.params = dict(self.source.params)
        record = TrialRecord.from_trial(self.source)
        self.search_phi = config.space.scaling.search_phi if record.phi is None else record.phi
        self.source_seed = config.seed if record.seed is None else record.seed
        self.seeds = [config.seed + k for k in range(config.space.family.seeds)]
        phis = ", ".join(f"{p:g}" for p in config.space.family_phi)
        shown = ", ".join(
            f"{k}={v:.3f}" if isinstance(v, float) else f"{k}={v}" for k, v in self.params.items()
        )
        log(
            f"[family] coefficients of trial {self.source.number}: {shown}; phi {phis}, "
            f"{len(self.seeds)} seed(s) each, in study {run.name_for(Phase.FAMILY)!r}"
        )

    def __call__(self) -> Trial | None:
        study = self.run.study_for(Phase.FAMILY, create=True)
        records = [
            (t, TrialRecord.from_trial(t))
            for t in self.run.trials(Phase.FAMILY)
            if t.params == self.params
        ]
        # The largest member first: the longest training then starts at once and the smaller
        # ones share the other slots, instead of leaving it to run alone at the end.
        for phi in sorted(self.config.space.family_phi, reverse=True):
            for seed in self.seeds:
                mine = [t for t, r in records if r.phi == phi and r.seed == seed]
                unit = f"family:{self.source.number}:{phi:g}:{seed}"
                if not claim_next_try(
                    self.config.storage, self.config.study_name, unit, mine, self.driver
                ):
                    continue
                if self._is_source(phi, seed):
                    copy = copied_trial(
                        self.source, self._copy_record(), storage.study_costs(study)
                    )
                    study.add_trial(copy)
                    continue
                TrialRecord(phase=Phase.FAMILY, phi=phi, seed=seed).enqueue(study, self.params)
                # ask() takes the oldest enqueued member: maybe another driver's, which is as
                # good, since that driver's ask() then takes this one.
                return study.ask()
        return None

    def _is_source(self, phi: float, seed: int) -> bool:
        same_training = self.config.space.family.trains_as_proxy
        return same_training and phi == self.search_phi and seed == self.source_seed

    def _copy_record(self) -> TrialRecord:
        return TrialRecord(phase=Phase.FAMILY, copied_from=self.source.number, driver=self.driver)
