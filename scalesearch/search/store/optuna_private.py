"""Optuna below its public surface, in one place: every call here has a canary test
(`tests/test_optuna_private.py`) that fails loudly on an Optuna that changed it, and
`tests/test_layout.py` finds any other module that reaches past Optuna's public API.
"""

from __future__ import annotations

import copy
import functools
import json
from collections.abc import Callable, Container

import numpy as np
import optuna
from optuna.trial import BaseTrial, FrozenTrial, TrialState


def storage_of(study: optuna.Study) -> optuna.storages.BaseStorage:
    """The storage a study lives in (its run's other studies are opened in it)."""
    return study._storage


def set_study_system_attr(study: optuna.Study, key: str, value: str) -> None:
    """A study system attribute (Optuna deprecated its public setter; optuna-dashboard reads
    some, e.g. a finished trial's artifacts)."""
    study._storage.set_study_system_attr(study._study_id, key, value)


def _rdb_backend(storage) -> optuna.storages.RDBStorage | None:
    """The RDB storage under Optuna's cache, if the study lives in one."""
    backend = getattr(storage, "_backend", storage)
    return backend if isinstance(backend, optuna.storages.RDBStorage) else None


def _transaction(backend: optuna.storages.RDBStorage):
    """One committed session of the RDB storage, as its own setters open one per call."""
    from optuna.storages._rdb.storage import _create_scoped_session

    return _create_scoped_session(backend.scoped_session, True)


def set_study_system_attrs(study: optuna.Study, attrs: dict) -> None:
    """Several study system attributes in one transaction of an RDB storage (the
    dashboard's notes on thousands of trials were a commit each); one by one elsewhere."""
    from optuna.storages._rdb import models

    backend = _rdb_backend(study._storage)
    if backend is None:
        for key, value in attrs.items():
            study._storage.set_study_system_attr(study._study_id, key, value)
        return
    with _transaction(backend) as session:
        model = models.StudyModel.find_or_raise_by_id(study._study_id, session)
        for key, value in attrs.items():
            row = models.StudySystemAttributeModel.find_by_study_and_key(model, key, session)
            if row is None:
                session.add(
                    models.StudySystemAttributeModel(
                        study_id=study._study_id, key=key, value_json=json.dumps(value)
                    )
                )
            else:
                row.value_json = json.dumps(value)


def study_system_attrs(study: optuna.Study) -> dict:
    """A study's system attributes, all at once (Optuna 5 has no public getter; the
    dashboard keeps its notes there)."""
    return study._storage.get_study_system_attrs(study._study_id)


def set_trial_attrs(
    trial: optuna.Trial, attrs: dict, constraints: dict[str, float] | None = None
) -> None:
    """Several user attributes of a live trial, and its constraints (what
    `Trial.set_constraint` stores), in one transaction of its RDB storage: one setter each is
    a commit each (30 attributes made a trial's record the largest part of an ask on SQLite;
    a constraint is a read and a commit); one by one on any other storage."""
    from optuna.storages._rdb import models
    from optuna.study._constrained_optimization import _CONSTRAINTS_KEY

    constraints = {k: float(v) for k, v in (constraints or {}).items()}
    backend = _rdb_backend(trial.study._storage)
    if backend is None:
        for key, value in attrs.items():
            trial.set_user_attr(key, value)
        for key, value in constraints.items():
            trial.set_constraint(key, value)
        return
    system = {f"{_CONSTRAINTS_KEY}:{key}": value for key, value in constraints.items()}
    with _transaction(backend) as session:
        row = models.TrialModel.find_or_raise_by_id(trial._trial_id, session)
        backend.check_trial_is_updatable(trial._trial_id, row.state)  # a finished trial is final
        _upsert(backend, session, models.TrialUserAttributeModel, trial._trial_id, attrs)
        _upsert(backend, session, models.TrialSystemAttributeModel, trial._trial_id, system)
    # What `Trial.set_user_attr` and `Trial.set_constraint` keep:
    trial._cached_frozen_trial.user_attrs.update(attrs)
    trial._cached_frozen_trial.system_attrs.update(system)


def _upsert(
    backend: optuna.storages.RDBStorage, session, table, trial_id: int, attrs: dict
) -> None:
    """A trial's attribute rows written (new or replaced) in one statement on SQLite and
    PostgreSQL: Optuna's own setter reads the trial again before each row, so a 30-field
    record was 60 round trips to the database. Row by row, through it, elsewhere."""
    import sqlite3

    from sqlalchemy.dialects import postgresql, sqlite

    if not attrs:
        return
    dialects = {"postgresql": postgresql.insert}
    if sqlite3.sqlite_version_info >= (3, 24, 0):  # upsert, as Optuna requires for its own
        dialects["sqlite"] = sqlite.insert
    insert = dialects.get(backend.engine.name)
    if insert is None:
        for key, value in attrs.items():
            backend._set_trial_attr_without_commit(session, table, trial_id, key, value)
        return
    rows = [dict(trial_id=trial_id, key=k, value_json=json.dumps(v)) for k, v in attrs.items()]
    statement = insert(table).values(rows)
    session.execute(
        statement.on_conflict_do_update(
            index_elements=[table.trial_id, table.key],
            set_=dict(value_json=statement.excluded.value_json),
        )
    )


def live_trial(study: optuna.Study, trial: FrozenTrial) -> optuna.Trial:
    """A finished trial as a `Trial` object (what optuna-dashboard's notes take)."""
    return optuna.Trial(study, trial._trial_id)


def trial_id(trial: BaseTrial) -> int:
    """The storage's id of a trial (Optuna exposes only the per-study number)."""
    return trial._trial_id


def trial_state(trial: BaseTrial) -> TrialState:
    """A live trial's state as its storage has it now (an `optuna.Trial` keeps none)."""
    return trial.study._storage.get_trial(trial._trial_id).state


def compute_hypervolume(losses: np.ndarray, reference: np.ndarray) -> float:
    """Optuna's exact hypervolume of points to minimise (no public API for it)."""
    from optuna._hypervolume import compute_hypervolume as hv

    return float(hv(losses, reference))


def record_heartbeat(study: optuna.Study, trial: int) -> None:
    """Marks a running trial (by storage id) alive: a trial that never beat is never found
    stale, so a driver beats as soon as it asks."""
    study._storage.record_heartbeat(trial)


def study_view(study: optuna.Study, shown: Callable[[FrozenTrial], FrozenTrial]) -> optuna.Study:
    """The study (same storage, same name) as a sampler sees it: every trial passed through
    `shown` before a state filter applies. Samplers read a study's history through
    `Study._get_trials`, which the view replaces on a shallow copy."""
    view = copy.copy(study)

    def get_trials(
        deepcopy: bool = True,
        states: Container[TrialState] | None = None,
        use_cache: bool = False,
    ) -> list[FrozenTrial]:
        trials = study._get_trials(deepcopy=deepcopy, states=None, use_cache=use_cache)
        seen = [shown(t) for t in trials]
        return [t for t in seen if states is None or t.state in states]

    view._get_trials = get_trials  # type: ignore[method-assign]
    return view


def as_running(trial: FrozenTrial) -> FrozenTrial:
    """A copy of a finished trial shown as still running: no values, no end."""
    running = copy.copy(trial)
    running.state, running.datetime_complete = TrialState.RUNNING, None
    running._values = None  # FrozenTrial has no setter that allows "no values"
    return running


_IDS_A_QUERY = 2000  # under every dialect's limit on bound parameters


def read_trials_in_bulk(storage: optuna.storages.RDBStorage) -> optuna.storages.RDBStorage:
    """`storage` reading trials with SQLAlchemy Core, not its ORM: Optuna's reader makes an
    ORM object of every attribute row (a 5,000-trial study is ≈ 200,000 rows: 8 s on this
    machine, at every command's first look and every driver's start). The rows are the same
    tables' (Optuna's models name them) and each trial is built by Optuna's own builder."""
    storage._get_trials = functools.partial(_bulk_trials, storage)  # type: ignore[method-assign]
    return storage


def _bulk_trials(
    backend: optuna.storages.RDBStorage,
    study_id: int,
    states: Container[TrialState] | None,
    included_trial_ids: set[int],
    trial_id_greater_than: int,
) -> list[FrozenTrial]:
    """What `RDBStorage._get_trials` returns (the same filter: the trials of `study_id` in
    `states` whose id is in `included_trial_ids` or above `trial_id_greater_than`)."""
    import sqlalchemy as sa
    from optuna.storages._rdb import models

    included = {i for i in included_trial_ids if i <= trial_id_greater_than}
    trials = models.TrialModel.__table__
    where = [trials.c.study_id == study_id]
    if states is not None:
        where.append(trials.c.state.in_(list(states)))
    if trial_id_greater_than > -1:
        newer = trials.c.trial_id > trial_id_greater_than
        where.append(sa.or_(trials.c.trial_id.in_(included), newer) if included else newer)
    children = {
        "params": (models.TrialParamModel, "param_id"),
        "values": (models.TrialValueModel, "objective"),
        "user_attributes": (models.TrialUserAttributeModel, "trial_id"),
        "system_attributes": (models.TrialSystemAttributeModel, "trial_id"),
        "intermediate_values": (models.TrialIntermediateValueModel, "step"),
    }
    with backend.engine.connect() as connection:
        rows = connection.execute(sa.select(trials).where(*where).order_by(trials.c.trial_id)).all()
        if not rows:
            study = models.StudyModel.__table__
            exists = sa.select(study.c.study_id).where(study.c.study_id == study_id)
            if connection.execute(exists).first() is None:
                raise KeyError(f"No study with study_id {study_id} exists.")
            return []
        found = {row.trial_id: _TrialRows(row) for row in rows}
        ids = list(found)
        # By the ids themselves, in chunks, as Optuna's loader asks: with a sub-select of
        # the trials instead, PostgreSQL scanned every study's attribute rows (reading two
        # running trials took 39 ms beside 19 other runs, 4 ms alone; by ids, 6 ms).
        for start in range(0, len(ids), _IDS_A_QUERY):
            chunk = ids[start : start + _IDS_A_QUERY]
            for field, (model, order) in children.items():
                table = model.__table__
                query = sa.select(table).where(table.c.trial_id.in_(chunk)).order_by(table.c[order])
                for child in connection.execute(query):
                    getattr(found[child.trial_id], field).append(child)
    build = backend._build_frozen_trial_from_trial_model
    return [build(t) for t in found.values()]  # type: ignore[arg-type]


class _TrialRows:
    """A trial's rows in the shape Optuna's builder reads from its ORM model; its datetimes
    converted by the model's own properties (stored naive UTC, shown naive local)."""

    def __init__(self, row) -> None:
        from optuna.storages._rdb import models

        self.trial_id, self.number, self.state = row.trial_id, row.number, row.state
        self._datetime_start_utc = row.datetime_start
        self._datetime_complete_utc = row.datetime_complete
        self.datetime_start = models.TrialModel.datetime_start.fget(self)
        self.datetime_complete = models.TrialModel.datetime_complete.fget(self)
        self.params: list = []
        self.values: list = []
        self.user_attributes: list = []
        self.system_attributes: list = []
        self.intermediate_values: list = []
