"""How a run runs: `RunConfig` (the `scalesearch run` flags, resolved and checked at once)
and the configs of the commands that add to an existing run (`ablate`, `retrain`).

Every flag's range is checked here, in `RunConfig.__post_init__`; what needs the storage,
the dataset or the cluster (`run.lifecycle.check_run`) is checked before a run starts.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scalesearch.errors import ConfigError, StudyError
from scalesearch.search.space import SearchSpace
from scalesearch.search.store import run_attributes, storage
from scalesearch.search.store.studies import RunStudies
from scalesearch.train.config import ProxyConfig


@dataclass(frozen=True)
class RunConfig:
    """How to run a search (the `scalesearch run` flags, resolved and checked)."""

    space: SearchSpace
    storage: str
    study_name: str
    run_dir: Path
    trials: int
    proxy: ProxyConfig
    data_dir: str | None = None
    time_budget_s: float | None = None
    address: str | None = None
    max_concurrent: int | None = None
    seed: int = 0
    family_from: int | None = None
    family: bool = True
    replicates: int = 1  # seeds in all, at least, for each contender of the race
    resume: bool = False  # continue to the study's budget instead of adding `trials` to it
    join: bool = False  # share the study with other drivers running at the same time
    warm_start: str | None = None  # an earlier study of the space whose best points go first
    warm_storage: str | None = None  # where it lives (default: beside this run's)
    warm_top: int | None = None  # its K most accurate search trials instead of its frontier

    def __post_init__(self) -> None:
        if self.trials < 1:
            raise ConfigError(f"--trials must be >= 1, but got {self.trials}")
        if self.time_budget_s is not None and not self.time_budget_s > 0:
            raise ConfigError(f"--time-budget must be > 0 seconds, but got {self.time_budget_s}")
        if self.max_concurrent is not None and self.max_concurrent < 1:
            raise ConfigError(f"--max-concurrent must be >= 1, but got {self.max_concurrent}")
        if self.replicates < 1:
            raise ConfigError(f"--replicates must be >= 1, but got {self.replicates}")
        if self.seed < 0:
            raise ConfigError(f"--seed must be >= 0, but got {self.seed}")
        if self.resume and self.join:
            raise ConfigError(
                "choose one of --resume (continue to the budget) and --join (add to it)"
            )
        if self.warm_top is not None and self.warm_top < 1:
            raise ConfigError(f"--warm-top must be >= 1, but got {self.warm_top}")
        if self.warm_top is not None and self.warm_start is None:
            raise ConfigError("--warm-top needs --warm-start STUDY")

    def warm_url(self) -> str:
        """The warm-start study's storage: given, this run's if it holds it, else its own
        default SQLite file beside this run's folder."""
        if self.warm_storage:
            return self.warm_storage
        if storage.study_exists(self.storage, self.warm_start):
            return self.storage
        return storage.default_storage(self.run_dir.parent / self.warm_start)


def config_from_flags(space: SearchSpace, run_dir: Path, **flags: Any) -> RunConfig:
    """RunConfig from CLI flags, with the space's own settings as defaults.

    `trials=None` takes the space's budget; `epochs` and `dataset` override the proxy's.
    """
    if flags.get("resume") and flags.get("trials") is not None:
        raise StudyError(
            "--resume continues to the study's budget; to add trials, use --join --trials N"
        )
    given = {k: flags.pop(k, None) for k in ("epochs", "dataset")}
    overrides = {k: v for k, v in given.items() if v is not None}
    proxy = dataclasses.replace(space.proxy, seed=flags.get("seed", 0), **overrides)
    if flags.get("trials") is None:
        flags["trials"] = space.search.trials
    if flags.get("replicates") is None:
        flags["replicates"] = space.search.replicates
    if flags.get("data_dir") is not None:
        flags["data_dir"] = str(flags["data_dir"])
    return RunConfig(space=space, run_dir=run_dir, proxy=proxy, **flags)


def resume_config(
    run: RunStudies,
    run_dir: Path,
    seed: int | None = None,
    dataset: str | None = None,
    **flags: Any,
) -> RunConfig:
    """How phases added to an existing run train (`ablate`, `retrain`): with the space the
    run stored and its proxy settings (its dataset above all); `seed` the first of their
    seeds (the run's own by default). The search budget is not touched (--resume adds none).

    Raises:
        ConfigError: the study holds no space (it was not made by `scalesearch run`).
    """
    space = run_attributes.stored_space(run.search)
    if space is None:
        raise ConfigError(
            f"study {run.name!r} holds no search space: was it made by scalesearch run?"
        )
    proxy = run_attributes.stored_run_proxy(run.search) or space.proxy
    seed = proxy.seed if seed is None else seed
    proxy = dataclasses.replace(proxy, seed=seed, dataset=dataset or proxy.dataset)
    return RunConfig(
        space=space,
        storage=run.url,
        study_name=run.name,
        run_dir=run_dir / run.name,
        trials=1,
        proxy=proxy,
        seed=seed,
        resume=True,
        **flags,
    )
