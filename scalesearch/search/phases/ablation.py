"""The papers' ablation as trials of the run's ablation study: strategies at equal cost.

At each φ, five strategies grow the same base to the same counted MACs (the base's × c^φ):
the searched coefficients, the space's default ones (the papers'), and depth, width or input
size alone (`scalesearch.arch.strategies`). Each member trains under the family's settings
with K seeds; seeds pair the strategies (seed s trains every strategy with the same split
and data order), so a strategy's difference from the defaults is measured per seed and its
interval is a paired Student-t interval over the seeds.

Trials are claimed before they are asked (`sql_tables.claim`), so several drivers and resumed
runs train each strategy × φ × seed once; a member whose spec, settings and seed were
trained already (the searched member is often a family member) takes that result.
"""

from __future__ import annotations

from collections.abc import Callable

from optuna.trial import Trial

from scalesearch.formatting import seed_count
from scalesearch.search.config import RunConfig
from scalesearch.search.phases.units import PlannedUnits, Unit
from scalesearch.search.results.ablation_table import STRATEGIES
from scalesearch.search.results.leader import family_source
from scalesearch.search.store.schema import Phase, TrialRecord
from scalesearch.search.store.studies import RunStudies


class AblationMembers:
    """Serves the ablation trials still to train (None when none is left)."""

    def __init__(
        self,
        run: RunStudies,
        config: RunConfig,
        driver: str,
        phis: tuple[float, ...],
        seeds: int,
        log: Callable[[str], None] = print,
    ) -> None:
        self.source = family_source(run, config.family_from)
        searched = dict(self.source.params)
        defaults = config.space.default_params()
        for phi in phis:  # a φ no strategy can realise is refused before anything is written
            config.space.realize(phi, _coefficients(config.space, searched))
            config.space.realize(phi)
        number = self.source.number
        units = [
            ablation_unit(
                number, strategy, defaults if strategy == "default" else searched, phi, seed
            )
            for phi in phis
            for seed in range(config.seed, config.seed + seeds)
            for strategy in STRATEGIES
        ]
        log(
            f"[ablation] coefficients of trial {number} against the defaults and "
            f"single-dimension scaling: {len(STRATEGIES)} strategies × φ "
            f"{', '.join(f'{p:g}' for p in phis)} × {seed_count(seeds)} = {len(units)} members"
        )
        self.units = PlannedUnits(run, config.storage, driver, units)

    def remaining(self) -> int:
        """Members not yet finished or running (in this run, by any driver)."""
        return self.units.remaining()

    def __call__(self) -> Trial | None:
        return self.units()


def ablation_unit(source: int, strategy: str, params: dict, phi: float, seed: int) -> Unit:
    """One strategy at `phi` and `seed`, ablating search trial `source`'s coefficients."""
    record = TrialRecord(
        phase=Phase.ABLATION, phi=phi, seed=seed, strategy=strategy, ablation_source=source
    )
    return Unit(f"ablation:{source}:{strategy}:{phi:g}:{seed}", params, record)


def _coefficients(space, params: dict):
    from scalesearch.search.space import Coefficients

    alpha, beta = params["alpha"], params["beta"]
    return Coefficients(alpha, beta, space.scaling.constraint.solve_gamma(alpha, beta))
