"""A run's life before its first trial: check every input, then create or join the study.

Validate, then act. `check_run` reads only (flags against the study's state, the storage,
the space the study belongs to, the dataset, the cluster address) and raises a one-line
error before anything is written; only then does `open_study` create the study or add this
driver's budget to it. A failed start therefore leaves the study exactly as it was.
"""

from __future__ import annotations

import dataclasses
import os
import socket
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna

from scalesearch.errors import ClusterError, ConfigError, StudyError, Unwritable
from scalesearch.redact import shown
from scalesearch.search import storage
from scalesearch.search.lagged_sampler import LaggedSampler
from scalesearch.search.space import SearchSpace
from scalesearch.search.studies import RunStudies
from scalesearch.search.warm_start import WarmStart, enqueue, warm_points
from scalesearch.train.config import ProxyConfig
from scalesearch.train.splits import Dataset


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
    space = storage.stored_space(run.search)
    if space is None:
        raise ConfigError(
            f"study {run.name!r} holds no search space: was it made by scalesearch run?"
        )
    proxy = storage.stored_run_proxy(run.search) or space.proxy
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


@dataclass(frozen=True)
class Preflight:
    """What `check_run` read, for the run to use rather than read again: the dataset (loaded
    once per run; the trials share it) and the warm-start points."""

    data: Dataset
    warm: WarmStart | None

    @property
    def num_classes(self) -> int:
        return self.data.num_classes


def check_run(config: RunConfig) -> Preflight:
    """Every check a run needs, without writing anything.

    Raises:
        ScaleSearchError subclasses naming the problem and the fix.
    """
    from scalesearch.train.data import load_dataset

    exists = storage.study_exists(config.storage, config.study_name)
    if config.resume and not exists:
        raise StudyError(
            f"--resume: no study {config.study_name!r} at {shown(config.storage)}; drop --resume to "
            f"start one"
        )
    if exists and not (config.resume or config.join):
        raise StudyError(
            f"study {config.study_name!r} already exists at {shown(config.storage)}; --resume continues "
            f"it, --join adds this run's trials to it, or --study NAME starts another"
        )
    if exists:
        _check_same_space(storage.load_study(config.storage, config.study_name), config.space)
    warm = None
    if config.warm_start is not None:
        if exists:
            raise StudyError(
                f"--warm-start seeds a new study, but {config.study_name!r} exists; drop "
                f"--warm-start to continue it, or give --study NAME"
            )
        warm = warm_points(config.warm_url(), config.warm_start, config.space.name, config.warm_top)
    data = load_dataset(
        config.proxy.dataset,
        config.data_dir,
        resolution=config.space.base.resolution,
        seed=config.seed,
        max_images=config.proxy.images_needed,
    )
    if config.address:
        check_reachable(config.address)
    check_writable(config)
    return Preflight(data, warm)


def check_writable(config: RunConfig) -> None:
    """The run folder and an SQLite study's folder can be written (a read-only file system,
    a folder not ours): said before Ray starts or anything is written.

    Raises:
        Unwritable: naming the folder and the cause.
    """
    sqlite = storage.sqlite_path(config.storage)
    for folder in (config.run_dir, *([Path(sqlite).parent] if sqlite else [])):
        existing = next((p for p in (folder, *folder.parents) if p.exists()), None)
        if existing is not None and not os.access(existing, os.W_OK):
            read_only = os.statvfs(existing).f_flag & os.ST_RDONLY
            cause = "the file system is read-only" if read_only else "permission denied"
            raise Unwritable(f"{folder}: {cause}; give a folder this run may write (--run-dir)")


def open_study(config: RunConfig, driver: str, warm: WarmStart | None = None) -> RunStudies:
    """Creates or loads the run's search study, binds it to the space (a new one keeps each
    fidelity in a study of its own), adds this driver's budget, enqueues the warm start and
    seeds the sampler. Call after `check_run`."""
    config.run_dir.mkdir(parents=True, exist_ok=True)
    study = storage.create_or_load_study(
        storage.open_storage(config.storage),
        config.study_name,
        search_sampler(config.space, config.seed),
        config.space.search.objectives,
    )
    if storage.space_name(study) is None:
        storage.store_space(study, config.space)
        storage.store_run_proxy(study, config.proxy)
        storage.mark_split(study)
        if warm is not None:
            enqueue(study, warm)
    study.sampler = search_sampler(config.space, sampler_seed(config, study, driver))
    if not config.resume:
        storage.add_budget(study, driver, config.trials)
    return RunStudies(config.storage, study)


def search_sampler(space: SearchSpace, seed: int | None) -> optuna.samplers.BaseSampler:
    """The space's sampler; under rolling asks it sees, for trial n, only the trials before
    the last `batch_size` trained ones (`LaggedSampler`): the history the driver's gate
    guarantees."""
    sampler = storage.make_sampler(space.search.sampler, seed)
    if space.search.asks == "rolling":
        return LaggedSampler(sampler, space.search.batch_size)
    return sampler


def sampler_seed(config: RunConfig, study: optuna.Study, driver: str) -> int:
    """The user's seed for a fresh run, so it is reproducible. A resumed or joining driver
    mixes in the study's size and its own name: the same seed would replay the random
    start-up points already tried (or being tried by the other drivers)."""
    tried = len(study.get_trials(deepcopy=False))
    if tried == 0 and not config.join:
        return config.seed
    return zlib.crc32(f"{config.seed}:{driver}:{tried}".encode())


def driver_id() -> str:
    """Names this driver process in the study (host and pid)."""
    return f"{socket.gethostname()}:{os.getpid()}"


def check_reachable(address: str) -> None:
    """Fails in a second, with the fix, where ray.init would retry for a minute."""
    if address == "auto":
        return
    netloc = address.split("://", 1)[-1]
    host, _, port = netloc.rpartition(":")
    try:
        socket.create_connection((host or "127.0.0.1", int(port)), timeout=5).close()
    except (OSError, ValueError) as err:
        raise ClusterError(
            f"--address {address}: no Ray cluster answers there ({err}); start one with "
            f"`ray start --head --port=PORT` and pass HEAD_IP:PORT"
        ) from None


def _check_same_space(study: optuna.Study, space: SearchSpace) -> None:
    """A study belongs to one space: resuming it with another would mix schemas. One made
    elsewhere (no stored space) must at least have the space's objectives."""
    stored = storage.space_name(study)
    if stored is not None and stored != space.name:
        raise StudyError(
            f"study {study.study_name!r} belongs to space {stored!r}, not {space.name!r}; "
            f"use another --study"
        )
    wanted = space.search.directions()
    have = [d.name.lower() for d in study.directions]
    if stored is None and have != wanted:
        raise StudyError(
            f"study {study.study_name!r} has {len(have)} objectives ({', '.join(have)}) but the "
            f"space asks for {', '.join(space.search.objectives)}; use another --study"
        )


def with_study_objectives(config: RunConfig, study: optuna.Study) -> RunConfig:
    """A resumed or joined study keeps the objectives it was made with (its trials' values
    are on those axes), whatever the space file asks for now: a 0.2 study, made with
    accuracy and MACs, resumes on them."""
    stored = storage.stored_space(study)
    if stored is None or stored.search.objectives == config.space.search.objectives:
        return config
    search = dataclasses.replace(config.space.search, objectives=stored.search.objectives)
    return dataclasses.replace(config, space=dataclasses.replace(config.space, search=search))
