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
from dataclasses import dataclass
from pathlib import Path

import optuna

from scalesearch.errors import ClusterError, StudyError, Unwritable
from scalesearch.redact import shown
from scalesearch.search.config import RunConfig
from scalesearch.search.phases.warm_start import WarmStart, enqueue, warm_points
from scalesearch.search.run.samplers import sampler_seed, search_sampler
from scalesearch.search.space import SearchSpace
from scalesearch.search.store import run_attributes, storage
from scalesearch.search.store.studies import RunStudies
from scalesearch.train.splits import Dataset


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
    if run_attributes.space_name(study) is None:
        run_attributes.bind_run(study, config.space, config.proxy)
        if warm is not None:
            enqueue(study, warm)
    study.sampler = search_sampler(config.space, sampler_seed(config, study, driver))
    if not config.resume:
        run_attributes.add_budget(study, driver, config.trials)
    return RunStudies(config.storage, study)


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
    stored = run_attributes.space_name(study)
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
    stored = run_attributes.stored_space(study)
    if stored is None or stored.search.objectives == config.space.search.objectives:
        return config
    search = dataclasses.replace(config.space.search, objectives=stored.search.objectives)
    return dataclasses.replace(config, space=dataclasses.replace(config.space, search=search))
