"""The studies of one run, one per fidelity: the search's, the family's, the ablation's.

One fidelity per axis: a value on an Optuna objective axis must be comparable with every
other value on that axis, and optuna-dashboard draws one Pareto front per study. Search trials
and their replicates train under the proxy; family and ablation members under the family's
settings (longer); final runs under `train`'s (longer still). So a run keeps them apart, in
one storage:

- `NAME`: the search and its replicates, accuracy against the search's costs at the search φ
  (at equal MACs, what still varies: runtime);
- `NAME.family`: the family, accuracy against MACs across φ: the frontier of the scaled
  models, each member trained alike;
- `NAME.family` also holds the default coefficients' member at the search φ, trained beside
  the family's (phase "check": same training and seeds, kept off the family's frontier);
- `NAME.ablation`: the ablation's strategies at equal cost (the family's training, but a
  controlled experiment, not candidates: kept off the family's frontier);
- `NAME.budget3x` (one per factor): the family at f × its images seen, accuracy against MACs
  at that budget;
- final runs: rows of `scalesearch_final_runs`, never an objective.

The search study names its phase studies and each phase study its run (study attributes), so
the dashboard's user and any script can go from one to the others. A study written by 0.2
holds every phase in one study; it keeps that layout when resumed (new trials go where its
old ones are), and readers filter every phase by its trials' phase, so both layouts read alike.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import optuna
from optuna.trial import FrozenTrial, TrialState

from scalesearch.search.store import optuna_private, run_attributes, storage
from scalesearch.search.store.schema import Phase, TrialRecord, finished, phase_of

PHASE_SUFFIX = {Phase.FAMILY: ".family", Phase.CHECK: ".family", Phase.ABLATION: ".ablation"}
BUDGET_KEY = "budget"  # + "3x": a budget study's key among the search study's phase studies
# Family and ablation members differ in MACs by design: accuracy against MACs is their axis.
MEMBER_OBJECTIVES = {"accuracy": "maximize", "macs": "minimize"}
SEARCH_PHASES = (Phase.SEARCH, Phase.REPLICATE)


@dataclass
class _Tally:
    """A phase's trials by state; kept, over a study's first `end` trials, all finished (a
    finished trial never changes), so the next count reads only the trials after them."""

    done: int = 0
    running: int = 0
    failed: int = 0
    end: int = 0

    def plus(self, other: _Tally) -> _Tally:
        return _Tally(
            self.done + other.done, self.running + other.running, self.failed + other.failed
        )

    def counted(self, trials: list[FrozenTrial], phase: Phase, factor: float | None) -> _Tally:
        """This phase's counts over `trials` (a study's, by number), this tally extended."""
        for trial in storage.settled_from(trials, self.end):
            self.add(trial, phase, factor)
            self.end += 1
        now = _Tally(self.done, self.running, self.failed)
        for t in trials[self.end :]:
            now.add(t, phase, factor)
        return now

    def add(self, trial: FrozenTrial, phase: Phase, factor: float | None) -> None:
        record = TrialRecord.from_trial(trial)
        if record.phase != phase or record.duplicate_of is not None:
            return
        if phase == Phase.BUDGET and record.budget_factor != factor:
            return
        self.done += finished(trial)
        self.running += trial.state == TrialState.RUNNING
        self.failed += trial.state == TrialState.FAIL


@dataclass
class RunStudies:
    """A run's studies in one storage, opened as they are needed."""

    url: str
    search: optuna.Study
    _opened: dict[str, optuna.Study] = field(default_factory=dict)
    _tallies: dict[tuple, _Tally] = field(default_factory=dict)
    _split: bool = False

    @property
    def name(self) -> str:
        return self.search.study_name

    @property
    def split(self) -> bool:
        """Whether the run keeps each fidelity in a study of its own. A driver asks at every
        ask; a layout once split stays split, so that answer is kept (a driver that loaded
        the study before its creator marked it asks again)."""
        if not self._split:
            self._split = run_attributes.is_split(self.search)
        return self._split

    def name_for(self, phase: Phase, factor: float | None = None) -> str:
        """The study a phase's trials live in (a budget's: of its `factor`)."""
        if phase in SEARCH_PHASES or not self.split:
            return self.name
        if phase == Phase.BUDGET:
            return f"{self.name}.{budget_key(factor)}"
        return self.name + PHASE_SUFFIX[phase]

    def study_for(
        self, phase: Phase, create: bool = False, factor: float | None = None
    ) -> optuna.Study | None:
        """The phase's study; made (with accuracy and MACs as objectives) when `create`,
        else None while it does not exist yet."""
        name = self.name_for(phase, factor)
        if name == self.name:
            return self.search
        if name not in self._opened:
            if self._exists(name):
                opened = optuna_private.storage_of(self.search)
                self._opened[name] = optuna.load_study(study_name=name, storage=opened)
            elif create:
                key = budget_key(factor) if phase == Phase.BUDGET else phase.value
                self._opened[name] = self._create(key, name)
            else:
                return None
        return self._opened[name]

    def _exists(self, name: str) -> bool:
        """Asked of the run's open storage: a storage opened per look (engine, schema
        check) cost 40 ms, and a driver looks for the phases not made yet at every ask."""
        try:
            optuna_private.storage_of(self.search).get_study_id_from_name(name)
        except KeyError:
            return False
        return True

    def _create(self, key: str, name: str) -> optuna.Study:
        study = storage.create_or_load_study(
            optuna_private.storage_of(self.search),
            name,
            optuna.samplers.RandomSampler(),  # every member is enqueued: nothing is sampled
            MEMBER_OBJECTIVES,
        )
        run_attributes.copy_run_attrs(self.search, study)
        run_attributes.link_phase_study(self.search, study, key)
        return study

    def trials(self, phase: Phase, states=None, factor: float | None = None) -> list[FrozenTrial]:
        """The phase's trials, from its study (only that phase's, in a 0.2 study); a budget's
        of its `factor`, or of every budget without one."""
        if phase == Phase.BUDGET and factor is None:
            return [t for f in self.budget_factors() for t in self.trials(phase, states, f)]
        study = self.study_for(phase, factor=factor)
        if study is None:
            return []
        found = study.get_trials(deepcopy=False, states=states)
        if phase != Phase.BUDGET:
            return [t for t in found if phase_of(t) == phase]
        records = [(t, TrialRecord.from_trial(t)) for t in found]
        return [t for t, r in records if r.phase == phase and r.budget_factor == factor]

    def budget_factors(self) -> list[float]:
        """The factors of the run's budget studies, in order (or of its budget trials, in a
        0.2 study)."""
        if not self.split:
            found = {
                TrialRecord.from_trial(t).budget_factor
                for t in self.search.get_trials(deepcopy=False)
            }
            return sorted(f for f in found if f is not None)
        keys = run_attributes.phase_studies(self.search)
        return sorted(float(k[len(BUDGET_KEY) : -1]) for k in keys if k.startswith(BUDGET_KEY))

    def search_trials(self, states=None) -> list[FrozenTrial]:
        """The search's trials and their replicates: one fidelity, the proxy's."""
        return [*self.trials(Phase.SEARCH, states), *self.trials(Phase.REPLICATE, states)]

    def phase_counts(self, phase: Phase) -> tuple[int, int, int]:
        """(finished, running, failed) trials of a phase, whichever driver ran them; a
        duplicate (it took a twin's result) is no architecture trained. A driver asks at
        every ask: the trials of a study's finished first part are counted once."""
        totals = _Tally()
        factors = self.budget_factors() if phase == Phase.BUDGET else [None]
        for factor in factors:
            study = self.study_for(phase, factor=factor)
            if study is not None:
                kept = self._kept(study, phase, factor)
                totals = totals.plus(kept.counted(study.get_trials(deepcopy=False), phase, factor))
        return totals.done, totals.running, totals.failed

    def search_places_before(self, number: int) -> int:
        """Search trials numbered below `number`, a trial still running, that hold a place in
        the budget (finished or running, whichever driver asked them). The finished prefix
        `phase_counts` keeps ends at or before a running trial, so it is reused as it is."""
        trials = self.search.get_trials(deepcopy=False)[:number]
        now = self._kept(self.search, Phase.SEARCH, None).counted(trials, Phase.SEARCH, None)
        return now.done + now.running

    def _kept(self, study: optuna.Study, phase: Phase, factor: float | None) -> _Tally:
        """The tally kept over `study`'s finished first trials of `phase` (and `factor`)."""
        return self._tallies.setdefault((study.study_name, phase, factor), _Tally())

    def search_budget(self, default: int) -> int:
        """The search's budget, read each time: a driver that joins later adds its own."""
        return run_attributes.search_budget(self.search) or default

    def counts(self) -> dict[str, int]:
        """Trials by state ("complete", "pruned", ...) over the run's studies."""
        counts: dict[str, int] = {}
        for study in self.studies():
            for state, n in storage.trials_by_state(study).items():
                counts[state] = counts.get(state, 0) + n
        return counts

    def studies(self) -> list[optuna.Study]:
        """Every study of the run that exists."""
        found = [self.search]
        candidates = [self.study_for(phase) for phase in PHASE_SUFFIX]
        candidates += [self.study_for(Phase.BUDGET, factor=f) for f in self.budget_factors()]
        for study in candidates:
            if study is not None and study not in found:
                found.append(study)
        return found


def budget_key(factor: float | None) -> str:
    """A budget study's key (and its name's suffix): "budget3x" for factor 3."""
    if factor is None:
        raise ValueError("a budget study needs its factor")
    return f"{BUDGET_KEY}{factor:g}x"


def open_run(url: str, name: str) -> RunStudies:
    """The run of study `name`: itself, or the run a phase study (NAME.family) belongs to."""
    study = storage.load_study(url, name)
    run = run_attributes.run_of(study)
    return RunStudies(url, study if run is None else storage.load_study(url, run))
