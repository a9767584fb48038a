"""The search's samplers: Optuna's, every setting given, and for rolling asks wrapped so that
trial n sees exactly the history the driver's gate guarantees (`lagged_sampler`)."""

from __future__ import annotations

import zlib

import optuna

from scalesearch.search.config import RunConfig
from scalesearch.search.run.ask_policy import search_sampler as ask_sampler
from scalesearch.search.space import SearchSpace


def make_sampler(name: str, seed: int | None) -> optuna.samplers.BaseSampler:
    """The search's sampler, every setting given (Optuna 5 changed the defaults under us).

    - "tpe" (default): multivariate TPE, as 0.2 used it; with the constant liar (Optuna 5's
      default, off in 4), which counts the running trials of a batch as bad results, so the
      second trial of a batch is not asked next to the first. 8 random start-up trials of
      the 12 a default search trains: on Fashion-MNIST at equal cost random finds a top-10%
      point in a median of 4 (bench/search_efficiency.py), so the model has little to add.
    - "gp": Gaussian-process Bayesian optimisation, which learns an observation-noise term
      (proxy accuracies are noisy) and, with running trials, acquires in batch (qLogEHVI);
      for continuous coefficients. Same start-up.
    - "nsga2": NSGA-II with a population of 8 (Optuna's 50 exceeds a whole search).
    - "random".

    Feasibility (the MACs budget, the equal-cost tolerance) reaches every sampler through the
    trials' own constraints (`Trial.set_constraint`), not a sampler-level function.
    """
    if name == "nsga2":
        return optuna.samplers.NSGAIISampler(seed=seed, population_size=8)
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if name == "gp":
        return optuna.samplers.GPSampler(
            seed=seed, n_startup_trials=8, deterministic_objective=False
        )
    return optuna.samplers.TPESampler(
        seed=seed, multivariate=True, constant_liar=True, n_startup_trials=8
    )


def search_sampler(space: SearchSpace, seed: int | None) -> optuna.samplers.BaseSampler:
    """The space's sampler, as its ask mode shows it the study: under rolling asks, for trial
    n, only the trials before the last `batch_size` trained ones (`LaggedSampler`), the
    history the driver's gate guarantees."""
    search = space.search
    return ask_sampler(search.asks, search.batch_size, make_sampler(search.sampler, seed))


def sampler_seed(config: RunConfig, study: optuna.Study, driver: str) -> int:
    """The user's seed for a fresh run, so it is reproducible. A resumed or joining driver
    mixes in the study's size and its own name: the same seed would replay the random
    start-up points already tried (or being tried by the other drivers)."""
    tried = len(study.get_trials(deepcopy=False))
    if tried == 0 and not config.join:
        return config.seed
    return zlib.crc32(f"{config.seed}:{driver}:{tried}".encode())
