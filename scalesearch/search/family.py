"""The family phase: the chosen coefficients scaled to every φ, each member trained once.

Several drivers may share a study: each member is claimed in the database before it is
trained (`records.claim`), so no member is trained twice. A member whose trial failed (a
killed driver, an interrupt) can be claimed again: its claim key counts the failed attempts.
"""

from __future__ import annotations

from collections.abc import Callable

import optuna
from optuna.trial import FrozenTrial, Trial, TrialState

from scalesearch.errors import StudyError
from scalesearch.search import records
from scalesearch.search.lifecycle import RunConfig
from scalesearch.search.replicates import arch_groups
from scalesearch.search.schema import Phase, TrialRecord, phase_of, taken


def family_source(study: optuna.Study, number: int | None) -> FrozenTrial:
    """The search trial whose coefficients the family scales: `number`, or the first trial
    of the searched architecture with the best mean accuracy over its seeds (the cheaper one
    on a tie). Where replicates were trained, only replicated architectures compete: a
    single seed's luck would otherwise beat a mean of several (the winner's curse)."""
    if number is not None:
        match = [
            t
            for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
            if t.number == number and phase_of(t) == Phase.SEARCH
        ]
        if not match:
            raise StudyError(
                f"trial {number} is not a complete search trial of this study; "
                f"`scalesearch frontier` lists the search's trials"
            )
        return match[0]
    searched = [g for g in arch_groups(study) if g.phase == Phase.SEARCH]
    if not searched:
        raise StudyError("no search trial completed, so there are no coefficients to scale")
    replicated = [g for g in searched if len(g.accuracies) > 1]
    searched = replicated or searched
    best = max(searched, key=lambda g: (g.mean, -g.macs))
    return study.trials[best.trials[0]]


class FamilyMembers:
    """Serves the members still to train, one `Trial` per call (None when none is left).

    When the family trains as the proxy does, the member at the search φ is the source trial
    itself (same spec, same seed, so the same result): it is recorded as a family trial, not
    trained again. Under its own `family:` settings every member trains.
    """

    def __init__(
        self,
        study: optuna.Study,
        config: RunConfig,
        driver: str,
        log: Callable[[str], None] = print,
    ) -> None:
        self.study, self.config, self.driver = study, config, driver
        self.source = family_source(study, config.family_from)
        self.params = dict(self.source.params)
        source_phi = TrialRecord.from_trial(self.source).phi
        self.search_phi = config.space.scaling.search_phi if source_phi is None else source_phi
        phis = ", ".join(f"{p:g}" for p in config.space.family_phi)
        shown = ", ".join(
            f"{k}={v:.3f}" if isinstance(v, float) else f"{k}={v}" for k, v in self.params.items()
        )
        log(f"[family] coefficients of trial {self.source.number}: {shown}; phi {phis}")

    def __call__(self) -> Trial | None:
        members = [
            t
            for t in self.study.get_trials(deepcopy=False)
            if phase_of(t) == Phase.FAMILY and t.params == self.params
        ]
        # The largest member first: the longest training then starts at once and the smaller
        # ones share the other slots, instead of leaving it to run alone at the end.
        for phi in sorted(self.config.space.family_phi, reverse=True):
            if not self._claim(phi, members):
                continue
            if phi == self.search_phi and self.config.space.family.trains_as_proxy:
                self._copy_source()
                continue
            self.study.enqueue_trial(
                self.params,
                user_attrs={"phase": Phase.FAMILY.value, "phi": phi},
                skip_if_exists=False,
            )
            # ask() takes the oldest enqueued member: maybe another driver's, which is as
            # good, since that driver's ask() then takes this one.
            return self.study.ask()
        return None

    def _claim(self, phi: float, members: list[FrozenTrial]) -> bool:
        at_phi = [t for t in members if TrialRecord.from_trial(t).phi == phi]
        if taken(at_phi):
            return False
        key = f"family:{self.source.number}:{phi:g}:{len(at_phi)}"  # len: failed attempts
        return records.claim(self.config.storage, self.config.study_name, key, self.driver)

    def _copy_source(self) -> None:
        source = self.source
        attrs = {
            **source.user_attrs,
            **TrialRecord(
                phase=Phase.FAMILY, copied_from=source.number, driver=self.driver
            ).to_attrs(),
        }
        self.study.add_trial(
            optuna.trial.create_trial(
                params=source.params,
                distributions=source.distributions,
                values=source.values,
                user_attrs=attrs,
            )
        )
