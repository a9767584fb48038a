"""The race phase: the search's architectures race for further seeds, round by round.

The rules are `scalesearch.search.results.racing`'s (pure); here the search study's trainings become
candidates (an architecture and its accuracy at each seed; its costs: the search's other than
MACs, which equal cost holds level), each round's trainings are served to the executor as
replicate trials (claimed, so no driver repeats one), and the result is said in words: the
leader, what is tied with it, what was ruled out, and the leader against the defaults, paired.
The space's default coefficients always race: their first training is planned with the first
round where the search did not realise their architecture.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from optuna.trial import Trial, TrialState

from scalesearch.formatting import seed_count
from scalesearch.search.config import RunConfig
from scalesearch.search.costs import varying
from scalesearch.search.phases.units import PlannedUnits, Unit
from scalesearch.search.results.arch_groups import ArchGroup, arch_groups
from scalesearch.search.results.racing import (
    Candidate,
    Difference,
    RaceState,
    estimate_noise,
    next_round,
    race_state,
)
from scalesearch.search.space import SearchSpace
from scalesearch.search.store.schema import Phase, TrialRecord
from scalesearch.search.store.storage import trial_numbered
from scalesearch.search.store.studies import RunStudies
from scalesearch.stats import format_accuracy


@dataclass(frozen=True)
class RaceResult:
    state: RaceState
    groups: dict[str, ArchGroup]  # by candidate key
    versus_defaults: Difference | None  # leader − defaults, paired where seeds match
    trainings: int  # the race's trainings so far

    @property
    def leader(self) -> ArchGroup:
        return self.groups[self.state.leader.key]


def candidates(run: RunStudies, space: SearchSpace) -> tuple[list[Candidate], dict]:
    """The search's architectures as candidates (costs: the search's other than MACs)."""
    costs = varying(space.search.costs)
    found, groups = [], {}
    for g in arch_groups(run.search_trials(), run.name):
        key = f"{g.study}#{g.trials[0]}"
        values = tuple(g.cost(c) for c in costs)
        if None in values:
            continue  # a cost not measured cannot be raced on
        seeds = {
            s if s is not None else i: a for i, (s, a) in enumerate(zip(g.seeds, g.accuracies))
        }
        found.append(Candidate(key, seeds, values, g.default))
        groups[key] = g
    return found, groups


def race_result(run: RunStudies, space: SearchSpace) -> RaceResult | None:
    """Where the race stands (None before any search trial completed)."""
    found, groups = candidates(run, space)
    if not found:
        return None
    state = race_state(found, estimate_noise(found, space.search.race.prior_sd))
    default = next((c for c in found if c.default), None)
    versus = None
    if default is not None and default is not state.leader:
        from scalesearch.search.results.racing import difference

        versus = difference(state.leader, default, state.noise)
    raced = len(
        [t for t in run.trials(Phase.REPLICATE) if TrialRecord.from_trial(t).duplicate_of is None]
    )
    return RaceResult(state, groups, versus, raced)


def race_words(result: RaceResult | None) -> str:
    """The race's answer: the leader, its ties, the ruled out, the leader against the defaults."""
    if result is None:
        return "No search trial completed: nothing raced."
    state, noise = result.state, result.state.noise

    def shown(c: Candidate) -> str:
        g = result.groups[c.key]
        name = f"trial {g.trials[0]}" + (", the default coefficients" if c.default else "")
        return f"{name} ({format_accuracy(g.mean, g.se(noise.sd if noise.measured else None))}, {seed_count(c.seeds)})"

    ties = [shown(c) for c in state.contenders[1:]]
    words = f"Race leader: {shown(state.leader)}"
    words += (
        f"; tied with it within the noise: {', '.join(ties)}"
        if ties
        else "; nothing is tied with it"
    )
    words += f"; {len(state.ruled_out)} ruled out beyond the noise" if state.ruled_out else ""
    if not noise.measured:
        words += (
            ". The seed noise is not measured yet (no architecture has two seeds): no claim is made"
        )
    else:
        words += f". One accuracy varies by {100 * noise.sd:.2f} points between seeds (paired correlation {noise.rho:.2f})"
    if result.versus_defaults is not None and noise.measured:
        d = result.versus_defaults
        low, high = d.interval()
        verdict = (
            "beyond the noise: better"
            if low > 0
            else ("beyond the noise: worse" if high < 0 else "within the noise: tied")
        )
        how = f"paired over {seed_count(d.paired)}" if d.paired else "unpaired"
        words += (f"; leader − default coefficients = {100 * d.mean:+.2f} points "
                  f"(95% {100 * low:+.2f} to {100 * high:+.2f}, {how}): {verdict}")  # fmt: skip
    elif state.leader.default:
        words += "; the default coefficients lead"
    return words + f" ({result.trainings} race trainings)."


class RaceRound:
    """Serves one round's trainings (None when none is left): each contender's next seed."""

    def __init__(
        self, run: RunStudies, config: RunConfig, driver: str, log: Callable[[str], None]
    ) -> None:
        race, space = config.space.search.race, config.space
        seeds = [config.seed + i for i in range(race.max_seeds)]
        result = race_result(run, space)
        left = race.trainings - (result.trainings if result else 0)
        plan: list[tuple[str, dict, int, int | None]] = []
        if result is not None and left > 0:
            min_seeds = max(1, config.replicates)
            for candidate, seed in next_round(result.state, seeds, min_seeds, race.max_seeds, left):
                group = result.groups[candidate.key]
                label = "default" if group.default and candidate.default else str(group.trials[0])
                params = (
                    space.default_params()
                    if label == "default"
                    else dict(trial_numbered(run.search, group.trials[0]).params)
                )
                plan.append((label, params, seed, None if label == "default" else group.trials[0]))
            if not any(c.default for c in result.state.contenders) and not any(
                g.default for g in result.groups.values()
            ):
                plan.insert(0, ("default", space.default_params(), config.seed, None))
                plan = plan[:left]
        if result is not None:
            log(f"[race] {race_words(result)}")
        log(f"[race] this round: {len(plan)} training(s), {max(0, left)} left in the race's budget")
        self.units = PlannedUnits(
            run, config.storage, driver, [race_unit(*planned) for planned in plan]
        )

    def remaining(self) -> int:
        return self.units.remaining()

    def __call__(self) -> Trial | None:
        return self.units()


def race_unit(label: str, params: dict, seed: int, source: int | None) -> Unit:
    """One race training: the architecture of trial `source` (or the defaults') at `seed`."""
    record = TrialRecord(
        phase=Phase.REPLICATE,
        seed=seed,
        replicate_label=label,
        default_coefficients=True if source is None else None,
        replicate_of=source,
    )
    return Unit(f"replicate:{label}:{seed}", params, record)


class RaceRounds:
    """Serves the whole race to one executor run, round after round: a round's trainings,
    then nothing while any of them (this driver's or another's) still trains, then the next
    round, planned on every result; None for good once a round plans nothing or `rounds`
    were played. One Tune run for the race keeps its workers: a run per round restarted
    them (actor, imports) every round, ten seconds a slot on a 2-core machine."""

    def __init__(
        self, run: RunStudies, config: RunConfig, driver: str, log: Callable[[str], None]
    ) -> None:
        self.run, self.config, self.driver, self.log = run, config, driver, log
        self.rounds_left = config.space.search.race.trainings + 2  # each trains, or ends it
        self.round: RaceRound | None = None
        self.over = False

    def __call__(self) -> Trial | None:
        while not self.over:
            if self.round is not None:
                trial = self.round()
                if trial is not None or self._training():
                    return trial  # None: this round's last trainings still run
            if self.rounds_left == 0:
                self.over = True
                break
            self.rounds_left -= 1
            self.round = RaceRound(self.run, self.config, self.driver, self.log)
            self.over = not self.round.remaining()
        return None

    def _training(self) -> bool:
        """A race training is under way or claimed and queued (by any driver)."""
        live = (TrialState.RUNNING, TrialState.WAITING)
        return any(t.state in live for t in self.run.trials(Phase.REPLICATE))
