"""The `search:` and `family:` sections of a space: budgets, and how the family trains."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Literal

from scalesearch.errors import SpaceError
from scalesearch.search.costs import COSTS, OBJECTIVE_DIRECTIONS
from scalesearch.train.config import ProxyConfig


@dataclass(frozen=True)
class RaceSettings:
    """How the race spends further seeds (`scalesearch.search.results.racing`): at most `trainings`
    trainings after the search, each contender raced to at most `max_seeds` seeds (at least
    `search.replicates`), `prior_sd` the seed noise assumed until a second seed measures it."""

    trainings: int = 8
    max_seeds: int = 4
    prior_sd: float = 0.02

    def __post_init__(self) -> None:
        if self.trainings < 0 or self.max_seeds < 1 or not 0 < self.prior_sd < 1:
            raise SpaceError(
                f"race needs trainings >= 0, max_seeds >= 1 and prior_sd in (0, 1), but got "
                f"trainings={self.trainings}, max_seeds={self.max_seeds}, "
                f"prior_sd={self.prior_sd}"
            )


@dataclass(frozen=True)
class SearchSettings:
    """Budgets and the sampler of the search.

    At most `batch_size` search trials train at once (more slots than that stay idle).
    `asks: rolling` asks trial n as soon as a slot frees and every trial before the last
    `batch_size` trained ones has ended (a duplicate takes no place in that lag), and samples
    and ranks it on exactly those: the same seed gives the same trials whatever the
    machine's load, and no slot waits for a batch's slowest trial.
    `asks: batch` asks a batch at a time, the next only once the last is told (the same
    trials too; slots wait). `asks: free` asks as soon as a slot frees, on whatever has
    ended: no slot waits, but a seed no longer fixes the sequence. After the search, `race`
    gives further paired seeds to the contenders only (the search frontier's and the
    default coefficients'), each at least `replicates` seeds in all, until the answer is
    separated beyond the measured noise or the race's budget is spent."""

    trials: int = 24
    max_macs: float = 1e9
    sampler: Literal["tpe", "gp", "nsga2", "random"] = "tpe"
    batch_size: int = 2
    asks: Literal["rolling", "batch", "free"] = "rolling"
    replicates: int = 1
    cpus_per_trial: float = 1.0
    gpus_per_trial: float = 0.0
    objectives: dict[str, str] = field(
        default_factory=lambda: {"accuracy": "maximize", "macs": "minimize"}
    )
    # Rung decisions: "asha" on accuracy alone, "moasha" by non-dominated sorting on accuracy
    # and the costs; "auto" takes moasha when the compared trials' costs differ (a latency
    # objective, or no equal-cost realisation), asha where equal cost holds them level.
    early_stopping: str = "auto"
    latency_batch: int = 8  # the second batch size latency is measured at (the first is 1)
    # Latency is timed when a phase has ended, the run's new architectures interleaved over
    # this many passes (0: not timed), on a node where other work uses at most
    # `latency_quiet_cpu` of the CPUs (a busier node leaves them unmeasured).
    latency_passes: int = 3
    latency_quiet_cpu: float = 0.25
    race: RaceSettings = RaceSettings()

    def __post_init__(self) -> None:
        if self.trials < 1:
            raise SpaceError(f"trials must be >= 1, but got {self.trials}")
        if self.batch_size < 1 or self.replicates < 1:
            raise SpaceError(
                f"batch_size and replicates must be >= 1, but got batch_size={self.batch_size}, "
                f"replicates={self.replicates}"
            )
        if self.max_macs <= 0:
            raise SpaceError(f"max_macs must be > 0, but got {self.max_macs}")
        for name, direction in self.objectives.items():
            if OBJECTIVE_DIRECTIONS.get(name) != direction:
                allowed = ", ".join(f"{k}: {v}" for k, v in OBJECTIVE_DIRECTIONS.items())
                raise SpaceError(
                    f"objectives must be among {{{allowed}}}, but got {name}: {direction}"
                )
        names = list(self.objectives)
        if not names or names[0] != "accuracy" or len(names) not in (2, 3):
            raise SpaceError(
                f"objectives must be accuracy first, then one or two costs ({', '.join(COSTS)}), "
                f"but got {', '.join(names) or 'none'}"
            )
        if self.early_stopping not in ("auto", "asha", "moasha"):
            raise SpaceError(
                f"early_stopping must be auto, asha or moasha, but got {self.early_stopping!r}"
            )
        if self.latency_batch < 1:
            raise SpaceError(f"latency_batch must be >= 1, but got {self.latency_batch}")
        if self.latency_passes < 0 or not 0 < self.latency_quiet_cpu <= 1:
            raise SpaceError(
                f"latency_passes must be >= 0 and latency_quiet_cpu in (0, 1], but got "
                f"{self.latency_passes} and {self.latency_quiet_cpu}"
            )

    @property
    def costs(self) -> tuple[str, ...]:
        """The cost objectives, in order (values[1:] of every complete trial)."""
        return tuple(name for name in self.objectives if name != "accuracy")

    def directions(self) -> list[str]:
        return list(self.objectives.values())


@dataclass(frozen=True)
class FamilySettings:
    """The family's φ values and how its members (and the ablation's) train.

    Members of different φ are compared only when trained under one rule, and a budget fixed
    for the smallest under-trains the largest: with `budget_exponent` k, a member's epochs
    are `epochs` × (its MACs / the base's)^k, rounded, at most `max_epochs` (k = 0: the same
    epochs for all). `epochs`, `max_train_images` and `batch_size` replace the proxy's (None
    keeps them); everything else (data, optimiser, validation images) is the proxy's.
    Each member trains with `seeds` seeds (paired: seed s trains every member with the same
    split and data order), so every point of the family frontier has an error bar. With
    `check_defaults`, the default coefficients' member at the search φ trains beside them
    (same training, same seeds): the search's pick is checked where it counts.
    """

    phi: tuple[float, ...] | None = None  # None: scaling.family_phi (older spaces)
    seeds: int = 2
    # Train the default coefficients' member at the search φ beside the family's, with the
    # family's seeds: the search's pick checked at the training that counts.
    check_defaults: bool = True
    epochs: int | None = None
    max_train_images: int | None = None
    batch_size: int | None = None
    budget_exponent: float = 0.0
    max_epochs: int = 50

    def __post_init__(self) -> None:
        if self.phi is not None and not self.phi:
            raise SpaceError("phi must list at least one phi")
        if self.seeds < 1:
            raise SpaceError(f"seeds must be >= 1, but got {self.seeds}")
        if self.epochs is not None and self.epochs < 1:
            raise SpaceError(f"epochs must be >= 1, but got {self.epochs}")
        if self.batch_size is not None and self.batch_size < 1:
            raise SpaceError(f"batch_size must be >= 1, but got {self.batch_size}")
        if self.max_train_images is not None and self.max_train_images < 1:
            raise SpaceError(f"max_train_images must be >= 1, but got {self.max_train_images}")
        if not 0 <= self.budget_exponent <= 2:
            raise SpaceError(f"budget_exponent must be in [0, 2], but got {self.budget_exponent}")
        if self.max_epochs < 1:
            raise SpaceError(f"max_epochs must be >= 1, but got {self.max_epochs}")

    @property
    def trains_as_proxy(self) -> bool:
        """Members train exactly as the search's proxy trials do."""
        kept = (self.epochs, self.max_train_images, self.batch_size)
        return all(v is None for v in kept) and not self.budget_exponent

    def training(self, proxy: ProxyConfig, cost_ratio: float) -> ProxyConfig:
        """How a member costing `cost_ratio` × the base's MACs trains."""
        epochs = self.epochs or proxy.epochs
        if self.budget_exponent:
            epochs = round(epochs * max(cost_ratio, 1e-9) ** self.budget_exponent)
        images = proxy.max_train_images if self.max_train_images is None else self.max_train_images
        return dataclasses.replace(
            proxy,
            epochs=min(self.max_epochs, max(1, epochs)),
            max_train_images=images,
            batch_size=self.batch_size or proxy.batch_size,
        )


@dataclass(frozen=True)
class BudgetSettings:
    """The family at other training budgets, each its own study (one fidelity per study).

    A budget of factor f trains the members at `phi` (None: every family φ) with f × the
    family's epochs, so f × its images seen, with `seeds` seeds (None: the family's). With
    the family itself (f = 1) these cells fit accuracy against MACs and images seen jointly
    (`scalesearch.joint_law`): whether the next compute should buy a larger φ or longer
    training. No factors: no budget phase.
    """

    factors: tuple[float, ...] = ()
    phi: tuple[float, ...] | None = None
    seeds: int | None = None

    def __post_init__(self) -> None:
        bad = [f for f in self.factors if not 0 < f <= 100 or f == 1]
        if bad:
            raise SpaceError(
                f"budget.factors must be in (0, 100] and not 1 (the family's own budget), but "
                f"got {bad[0]:g}"
            )
        if len(set(self.factors)) != len(self.factors):
            raise SpaceError(f"budget.factors must differ, but got {list(self.factors)}")
        if self.phi is not None and not self.phi:
            raise SpaceError("budget.phi must list at least one phi, or be left out")
        if self.seeds is not None and self.seeds < 1:
            raise SpaceError(f"budget.seeds must be >= 1, but got {self.seeds}")

    @staticmethod
    def training(family_training: ProxyConfig, factor: float) -> ProxyConfig:
        """A member's training at budget `factor`: its family training, `factor` × the epochs
        (at least one)."""
        return dataclasses.replace(
            family_training, epochs=max(1, round(family_training.epochs * factor))
        )
