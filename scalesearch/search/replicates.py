"""Replicates: the same architecture trained with other seeds, and what they measure.

One proxy accuracy mixes the architecture's worth with the seed's luck (the split, the
initialisation, the data order). The replicate phase trains the frontier's architectures and
the space's default coefficients with K seeds in all; `arch_groups` then averages each
architecture's seeds, `seed_noise` pools their spread, and `compare_to_defaults` says whether
the best coefficients beat the defaults by more than that noise.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable
from dataclasses import dataclass

import optuna
from optuna.trial import FrozenTrial, Trial, TrialState

from scalesearch.search import records
from scalesearch.search.lifecycle import RunConfig
from scalesearch.search.schema import Phase, TrialRecord, phase_of, taken
from scalesearch.search.trial_build import default_params
from scalesearch.stats import binomial_se, mean_sd

SEED_NOISE = "seed_noise_sd"  # study attribute: pooled sd of one proxy accuracy over seeds


@dataclass(frozen=True)
class ArchGroup:
    """Every complete training of one architecture (same spec and proxy settings)."""

    trials: tuple[int, ...]  # the first is the one that represents it
    accuracies: tuple[float, ...]
    macs: int
    params: dict
    phase: Phase
    phi: float
    default: bool  # it trains the space's default coefficients
    val_images: int | None
    params_count: int | None = None
    latency_ms: float | None = None  # median over its trainings (batch 1), where measured

    def cost(self, name: str) -> float | None:
        """A cost objective of the architecture: "macs", "params" or "latency"."""
        return {"macs": self.macs, "params": self.params_count, "latency": self.latency_ms}[name]

    @property
    def mean(self) -> float:
        return mean_sd(self.accuracies)[0]

    @property
    def sd(self) -> float:
        return mean_sd(self.accuracies)[1]

    def se(self, noise: float | None) -> float:
        """Of the mean. With the study's pooled seed noise measured: noise / √n (two seeds
        say little about their own spread, and one seed carries the whole seed noise);
        without it, the binomial error of the validation set, which is a lower bound."""
        if noise is not None:
            return noise / math.sqrt(len(self.accuracies))
        return binomial_se(self.mean, self.val_images)


def arch_groups(study: optuna.Study) -> list[ArchGroup]:
    """Complete trainings grouped by architecture; duplicates and family copies (which
    trained nothing) are left out."""
    grouped: dict[str, list[FrozenTrial]] = {}
    # The default coefficients may realise an architecture the search trained already: their
    # replicate is then a duplicate, and its flag marks the architecture it took.
    default_keys = set()
    for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        record = TrialRecord.from_trial(t)
        if record.default_coefficients and record.arch_key:
            default_keys.add(record.arch_key)
        if record.duplicate_of is not None or record.copied_from is not None:
            continue
        grouped.setdefault(record.arch_key or f"trial:{t.number}", []).append(t)
    groups = []
    for trials in grouped.values():
        trials.sort(key=lambda t: t.number)
        first = TrialRecord.from_trial(trials[0])
        groups.append(
            ArchGroup(
                trials=tuple(t.number for t in trials),
                accuracies=tuple(t.values[0] for t in trials),
                # From the record, not values[1]: a study's second objective may be latency.
                macs=int(first.macs if first.macs is not None else trials[0].values[1]),
                params=dict(trials[0].params),
                phase=first.phase,
                phi=float(first.phi or 0.0),
                default=any(TrialRecord.from_trial(t).default_coefficients for t in trials)
                or first.arch_key in default_keys,
                val_images=first.val_images,
                params_count=first.params,
                latency_ms=_median([t.user_attrs.get("latency_ms") for t in trials]),
            )
        )
    return sorted(groups, key=lambda g: g.trials[0])


def _median(values: list[float | None]) -> float | None:
    measured = sorted(v for v in values if v is not None)
    return statistics.median(measured) if measured else None


def seed_noise(groups: list[ArchGroup]) -> float | None:
    """The pooled standard deviation of one proxy accuracy over seeds (None without
    replicates). Of the proxy trainings only (search and replicates): the family and the
    ablation may train longer, so their seeds vary by another amount."""
    groups = [g for g in groups if g.phase in (Phase.SEARCH, Phase.REPLICATE)]
    dof = sum(len(g.accuracies) - 1 for g in groups)
    if dof == 0:
        return None
    return math.sqrt(sum((len(g.accuracies) - 1) * g.sd**2 for g in groups) / dof)


@dataclass(frozen=True)
class Comparison:
    best: ArchGroup
    default: ArchGroup
    difference: float  # best mean − default mean
    se: float  # of the difference, from the pooled seed noise
    words: str


def compare_to_defaults(groups: list[ArchGroup], noise: float | None) -> Comparison | None:
    """The most accurate replicated search architecture against the default coefficients'."""
    defaults = [g for g in groups if g.default]
    replicated = [
        g
        for g in groups
        if not g.default and len(g.accuracies) > 1 and g.phase in (Phase.SEARCH, Phase.REPLICATE)
    ]
    if not defaults or not replicated or noise is None:
        return None
    default, best = defaults[0], max(replicated, key=lambda g: g.mean)
    difference = best.mean - default.mean
    se = noise * math.sqrt(1 / len(best.accuracies) + 1 / len(default.accuracies))
    z = difference / se if se > 0 else math.inf
    verdict = "beyond" if abs(z) >= 2 else "within"
    direction = "beat" if difference > 0 else "trail"
    words = (
        f"The best searched coefficients (trial {best.trials[0]}: {best.mean:.2%} over "
        f"{len(best.accuracies)} seeds) {direction} the default coefficients ({default.mean:.2%} "
        f"over {len(default.accuracies)} seeds) by {100 * abs(difference):.2f} ± "
        f"{100 * se:.2f} points: {abs(z):.1f} standard errors, {verdict} the measured seed "
        f"noise (one accuracy varies by {100 * noise:.2f} points between seeds)."
    )
    if verdict == "within":
        words += " No claim of better is warranted."
    if default.phase == Phase.SEARCH:
        words += (
            f" (Search trial {default.trials[0]} realised the default coefficients' own "
            f"architecture.)"
        )
    return Comparison(best, default, difference, se, words)


@dataclass(frozen=True)
class NoiseVerdict:
    """The study's measured seed noise (None without replicates) and what it allows."""

    noise: float | None
    comparison: Comparison | None

    @property
    def words(self) -> str:
        if self.noise is None:
            return (
                "No replicates were trained, so the seed noise is unmeasured: differences "
                "between trials may be luck. Run with --replicates 2 or more."
            )
        if self.comparison is None:
            return (
                f"Seed noise: one proxy accuracy varies by {100 * self.noise:.2f} points "
                f"between seeds; the default coefficients and a replicated search architecture "
                f"other than theirs are both needed to compare them."
            )
        return self.comparison.words


def noise_verdict(study: optuna.Study) -> NoiseVerdict:
    groups = arch_groups(study)
    noise = seed_noise(groups)
    return NoiseVerdict(noise, compare_to_defaults(groups, noise))


class ReplicateMembers:
    """Serves the replicate trials still to train: each frontier architecture with the seeds
    it lacks, and the default coefficients with all K; claimed so no driver repeats one.

    The plan is the frontier when the phase starts. Replicating moves means (a lucky first
    seed falls back), so the frontier may then hold architectures it did not plan: the
    search runs the phase again, a few rounds, until every frontier point is replicated."""

    def __init__(
        self,
        study: optuna.Study,
        config: RunConfig,
        driver: str,
        replicates: int,
        log: Callable[[str], None] = print,
    ) -> None:
        from scalesearch.search.frontier import frontier

        self.study, self.config, self.driver = study, config, driver
        seeds = [config.seed + i for i in range(replicates)]
        front = [p for p in frontier(study) if p.phase == Phase.SEARCH.value]
        self.plan: list[tuple[str, dict, int, int | None]] = []
        for point in front:
            trial = study.trials[point.trial]
            done = TrialRecord.from_trial(trial).seed
            self.plan += [
                (f"{point.trial}", dict(trial.params), s, point.trial) for s in seeds if s != done
            ]
        defaults = default_params(config.space)
        self.plan += [("default", defaults, s, None) for s in seeds]
        log(
            f"[replicate] {len(front)} frontier architecture(s) and the default coefficients, "
            f"{replicates} seeds in all: {len(self.plan)} trainings"
        )

    def remaining(self) -> int:
        """Planned trainings not yet finished or running (by any driver)."""
        trials = self._trials()
        return sum(not taken(self._mine(trials, label, seed)) for label, _, seed, _ in self.plan)

    def _trials(self) -> list[FrozenTrial]:
        return [t for t in self.study.get_trials(deepcopy=False) if phase_of(t) == Phase.REPLICATE]

    @staticmethod
    def _mine(trials: list[FrozenTrial], label: str, seed: int) -> list[FrozenTrial]:
        attrs = [(t, t.user_attrs) for t in trials]
        return [t for t, a in attrs if a.get("replicate_label") == label and a.get("seed") == seed]

    def __call__(self) -> Trial | None:
        trials = self._trials()
        for label, params, seed, source in self.plan:
            mine = self._mine(trials, label, seed)
            if taken(mine):
                continue
            key = f"replicate:{label}:{seed}:{len(mine)}"
            if not records.claim(self.config.storage, self.config.study_name, key, self.driver):
                continue
            attrs = {"phase": Phase.REPLICATE.value, "seed": seed, "replicate_label": label}
            if source is None:
                attrs["default_coefficients"] = True
            else:
                attrs["replicate_of"] = source
            self.study.enqueue_trial(params, user_attrs=attrs, skip_if_exists=False)
            return self.study.ask()
        return None
