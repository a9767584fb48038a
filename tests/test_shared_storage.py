"""A command on one run reads that run's studies only: in a storage shared by many runs (a
cluster's PostgreSQL), `frontier`, `report` (with the dashboard's notes) and a check that a
study exists load the trials of the run they name, counted trial by trial as the database
returns them, the same with one other study beside it or ten."""

from __future__ import annotations

from collections import Counter

import optuna
import pytest

from scalesearch.cli.main import main
from scalesearch.search.run import samplers
from scalesearch.search.space import load_space
from scalesearch.search.store import optuna_private, run_attributes
from scalesearch.search.store import storage as st
from scalesearch.search.store.schema import Phase
from scalesearch.search.store.studies import RunStudies

UNIT = optuna.distributions.FloatDistribution(1.0, 1.6)
SPACE = load_space("cmt_compound")


def _trial(accuracy: float, cost: float, **attrs) -> optuna.trial.FrozenTrial:
    return optuna.trial.create_trial(
        params={"alpha": 1.2, "beta": 1.3},
        distributions={"alpha": UNIT, "beta": UNIT},
        values=[accuracy, cost],
        user_attrs={"val_images": 2400, "macs": 39e6, "params": 1000, "layers": 100, **attrs},
    )


def _storage(tmp_path, others: int) -> str:
    """Run "mine" (a search and its family) beside `others` runs of 40 trials each."""
    url = st.default_storage(tmp_path)
    storage = st.open_storage(url)
    search = st.create_or_load_study(
        storage, "mine", samplers.make_sampler("random", 0), SPACE.search.objectives
    )
    run_attributes.store_space(search, SPACE)
    run_attributes.mark_split(search)
    for i in range(4):
        search.add_trial(_trial(0.7 + 0.01 * i, 100 + i, phase="search", phi=1.0, arch_key=f"a{i}"))
    family = RunStudies(url, search).study_for(Phase.FAMILY, create=True)
    for phi in (0.0, 1.0, 2.0):
        for seed in (0, 1):
            macs = 15.6e6 * 2.5**phi
            family.add_trial(_trial(0.7 + 0.02 * phi + 0.003 * seed, macs, phase="family",
                                    phi=phi, seed=seed, arch_key=f"f{phi}", macs=macs))  # fmt: skip
    for k in range(others):
        other = st.create_or_load_study(storage, f"other{k}", samplers.make_sampler("random", 0))
        other.add_trials([_trial(0.5, 1e6, phase="search") for _ in range(40)])
    return url


@pytest.fixture
def loaded(monkeypatch) -> Counter:
    """Trials the database returns, by study id (every storage the commands open reads
    them through `optuna_private`'s bulk reader)."""
    counts: Counter = Counter()
    real = optuna_private._bulk_trials

    def counting(backend, study_id, *args, **kwargs):
        trials = real(backend, study_id, *args, **kwargs)
        counts[study_id] += len(trials)
        return trials

    monkeypatch.setattr(optuna_private, "_bulk_trials", counting)
    return counts


def _ids(url: str, names: list[str]) -> set[int]:
    storage = st.open_storage(url)
    return {storage.get_study_id_from_name(n) for n in names}


@pytest.mark.parametrize("others", [1, 10])
def test_a_command_on_one_run_reads_only_its_studies(tmp_path, loaded, capsys, others) -> None:
    url = _storage(tmp_path, others)
    mine = _ids(url, ["mine", "mine.family"])
    for command in (
        ["frontier", "--storage", url, "--study", "mine"],
        ["report", "--storage", url, "--study", "mine", "-o", str(tmp_path / "r.html")],
        ["plan", "--storage", url, "--study", "mine", "--compute", "2x"],
    ):
        loaded.clear()
        assert main(command) == 0, capsys.readouterr()
        assert set(loaded) <= mine, (command, loaded)
        assert sum(loaded.values()) > 0
    assert st.study_exists(url, "other0") and not st.study_exists(url, "absent")
    loaded.clear()
    assert run_attributes.run_names(url)[0] == "mine" and not loaded  # names, no trials


def test_an_unknown_study_names_the_others_without_reading_their_trials(
    tmp_path, loaded, capsys
) -> None:
    url = _storage(tmp_path, 3)
    loaded.clear()
    assert main(["frontier", "--storage", url, "--study", "nope"]) == 2
    assert "studies there: mine, mine.family, other0" in capsys.readouterr().err
    assert not loaded


def _open_or_say_why(url: str) -> str:
    try:
        st.open_storage(url)
    except Exception as err:  # noqa: BLE001 - the test shows what each process met
        return f"{type(err).__name__}: {err}"
    return "opened"


def test_processes_that_open_a_fresh_sqlite_storage_at_once_all_open_it(tmp_path) -> None:
    """A `report` started beside a run's first moments (or drivers started together) all
    create the same tables; those that lose the race try again instead of failing with
    "cannot connect (table ... already exists)"."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(6, mp_context=multiprocessing.get_context("fork")) as pool:
        for round_ in range(4):
            url = st.default_storage(tmp_path / str(round_))
            (tmp_path / str(round_)).mkdir()
            assert list(pool.map(_open_or_say_why, [url] * 6)) == ["opened"] * 6
