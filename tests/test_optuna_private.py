"""Canaries: one test per entry point of `store.optuna_private`, the one module that uses
Optuna below its public surface. An Optuna that renames or changes what these calls rely on
fails here, loudly, instead of silently changing what a run does (rolling asks' lagged
history above all, which exists to keep a seed's trials the same under any load)."""

from __future__ import annotations

import contextlib

import numpy as np
import optuna
import pytest
from optuna.trial import TrialState

from scalesearch.search.store import optuna_private as door
from scalesearch.search.store import storage as st
from tests.helpers import postgres_database


@pytest.fixture
def study(tmp_path) -> optuna.Study:
    made = st.create_or_load_study(
        st.open_storage(st.default_storage(tmp_path)), "canary", optuna.samplers.RandomSampler(0)
    )
    for x in (0.1, 0.2, 0.3):
        trial = made.ask()
        trial.suggest_float("x", 0, 1)
        made.tell(trial, [x, 1 - x])
    return made


def test_storage_of_is_the_study_s_storage(study) -> None:
    storage = door.storage_of(study)
    assert isinstance(storage, optuna.storages.BaseStorage)
    assert storage.get_study_id_from_name("canary") is not None


def test_trial_id_live_trial_and_trial_state_agree(study) -> None:
    frozen = study.trials[1]
    live = door.live_trial(study, frozen)
    assert isinstance(live, optuna.Trial) and door.trial_id(live) == door.trial_id(frozen)
    assert door.trial_state(live) == TrialState.COMPLETE
    running = study.ask()
    assert door.trial_state(running) == TrialState.RUNNING


def test_a_study_system_attribute_is_written_and_read(study) -> None:
    door.set_study_system_attr(study, "dashboard:probe", "yes")
    storage = door.storage_of(study)
    attrs = storage.get_study_system_attrs(storage.get_study_id_from_name("canary"))
    assert attrs["dashboard:probe"] == "yes"
    assert door.study_system_attrs(study)["dashboard:probe"] == "yes"
    door.set_study_system_attrs(study, {"dashboard:probe": "again", "dashboard:n": 2})
    assert storage.get_study_system_attrs(storage.get_study_id_from_name("canary")) == {
        **attrs,
        "dashboard:probe": "again",
        "dashboard:n": 2,
    }


@pytest.mark.parametrize("where", ["sqlite", "postgresql", "memory"])
def test_user_attributes_and_constraints_written_together_read_back_as_optuna_s_own(
    tmp_path, where
) -> None:
    """What one transaction writes reads back as Optuna's own setters would have written it,
    written again replaces, and a finished trial refuses a write as Optuna's setters do."""
    with contextlib.ExitStack() as stack:
        if where == "memory":
            study = optuna.create_study(directions=["maximize", "minimize"])
        else:
            url = (
                st.default_storage(tmp_path)
                if where == "sqlite"
                else stack.enter_context(postgres_database())
            )
            study = st.create_or_load_study(
                st.open_storage(url), "c", optuna.samplers.RandomSampler()
            )
        attrs = {"spec": '{"a": 1}', "macs": 5, "accuracies": [0.5, 0.75], "ok": None}
        constraints = {"cost_target": -0.25, "macs_budget": 1}
        theirs = study.ask()
        for key, value in attrs.items():
            theirs.set_user_attr(key, value)
        for key, value in constraints.items():
            theirs.set_constraint(key, value)
        ours = study.ask()
        door.set_trial_attrs(ours, attrs, constraints)
        assert ours.user_attrs == theirs.user_attrs
        live = [study._storage.get_trial(door.trial_id(t)) for t in (theirs, ours)]
        assert live[1].system_attrs == live[0].system_attrs
        door.set_trial_attrs(ours, {"macs": 6})  # written again: the new value
        for trial in (theirs, ours):
            study.tell(trial, [0.5, 0.5])
        stored = {t.number: t for t in study.get_trials()}
        assert stored[1].user_attrs == {**attrs, "macs": 6}
        assert stored[1].system_attrs == stored[0].system_attrs  # what samplers read
        assert (
            stored[1].constraints
            == stored[0].constraints
            == {
                "cost_target": -0.25,
                "macs_budget": 1.0,
            }
        )
        with pytest.raises(RuntimeError):  # as Optuna's own setter: a finished trial is final
            door.set_trial_attrs(ours, {"macs": 7})


def test_the_hypervolume_of_two_points(study) -> None:
    losses = np.array([[0.2, 0.6], [0.5, 0.3]])
    # Reference (1, 1): 0.8·0.4 + 0.5·0.7 − 0.5·0.4 = 0.47
    assert door.compute_hypervolume(losses, np.ones(2)) == pytest.approx(0.47)


def test_a_heartbeat_is_recorded(study) -> None:
    running = study.ask()
    door.record_heartbeat(study, door.trial_id(running))  # raises if the method moved
    assert door.trial_state(running) == TrialState.RUNNING


def test_a_study_view_shows_samplers_what_it_says(study) -> None:
    """Samplers read history through `Study._get_trials`; the view must reach them."""
    view = door.study_view(study, lambda t: door.as_running(t) if t.number == 2 else t)
    states = [t.state for t in view.get_trials(deepcopy=False)]
    assert states == [TrialState.COMPLETE, TrialState.COMPLETE, TrialState.RUNNING]
    assert len(view.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))) == 2
    assert [t.state for t in study.get_trials(deepcopy=False)] == [TrialState.COMPLETE] * 3
    # What a sampler is given: TPE's own reading of the study goes through the view.
    seen = view._get_trials(deepcopy=False, states=(TrialState.COMPLETE,), use_cache=True)
    assert [t.number for t in seen] == [0, 1]


def test_as_running_has_no_values_and_no_end(study) -> None:
    running = door.as_running(study.trials[0])
    assert running.state == TrialState.RUNNING and running.values is None
    assert running.datetime_complete is None
    assert study.trials[0].values == [0.1, 0.9]  # the stored trial is untouched


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_bulk_reads_build_the_trials_optuna_s_own_reader_builds(tmp_path, kind) -> None:
    """Every state, parameter kind, infinite and NaN value and attribute, read whole, by
    state and by the cache's "unfinished or newer" filter, equal what Optuna reads."""
    with contextlib.ExitStack() as stack:
        url = (
            st.default_storage(tmp_path)
            if kind == "sqlite"
            else stack.enter_context(postgres_database())
        )
        bulk = st.open_storage(url)
        made = optuna.create_study(storage=bulk, study_name="canary")
        pair = st.create_or_load_study(bulk, "pair", optuna.samplers.RandomSampler(0))
        pair.optimize(lambda t: (t.suggest_float("x", 0, 1), -float("inf")), n_trials=2)
        for i in range(6):
            trial = made.ask()
            trial.suggest_float("x", 0, 1)
            trial.suggest_int("n", 1, 9, log=True)
            trial.suggest_categorical("part", ["conv", "attn", None])
            trial.set_user_attr("record", {"phase": "search", "accs": [0.5, i / 10]})
            trial.report(float("nan") if i == 2 else i / 10, step=i)
            if i < 4:
                made.tell(trial, [float("inf"), 0.2, -float("inf"), 1.0][i])
            elif i == 4:
                made.tell(trial, state=TrialState.PRUNED)
        made.enqueue_trial({"x": 0.5})
        failed = made.ask()
        made.tell(failed, state=TrialState.FAIL)
        plain = optuna.storages.RDBStorage(url)
        study_id = plain.get_study_id_from_name("canary")
        pair_id = plain.get_study_id_from_name("pair")
        assert bulk._get_trials(pair_id, None, set(), -1) == plain._get_trials(
            pair_id, None, set(), -1
        )
        for states, included, above in [
            (None, set(), -1),
            ((TrialState.COMPLETE, TrialState.RUNNING), set(), -1),
            (None, {2, 5}, 3),
        ]:
            ours = bulk._get_trials(study_id, states, included, above)
            theirs = plain._get_trials(study_id, states, included, above)
            assert [repr(t) for t in ours] == [repr(t) for t in theirs] and theirs  # NaN != NaN
            assert [t._trial_id for t in ours] == [t._trial_id for t in theirs]
        with pytest.raises(KeyError):
            bulk._get_trials(study_id + 99, None, set(), -1)
        plain.engine.dispose()
        bulk.engine.dispose()
