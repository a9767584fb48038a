"""`scalesearch run`'s flags are named once: each is a RunConfig field (or one of the proxy
settings it overrides) under the same name, and reaches the config as given."""

from __future__ import annotations

import dataclasses
import inspect
from pathlib import Path

from scalesearch.cli.study_commands import RUN_LOCATION, run
from scalesearch.search.config import RunConfig, config_from_flags
from scalesearch.search.space import load_space

PROXY_OVERRIDES = ("epochs", "dataset")
GIVEN = {
    "trials": 3,
    "time_budget_s": 60.0,
    "resume": False,
    "join": True,
    "dataset": "digits",
    "data_dir": Path("/data"),
    "seed": 5,
    "max_concurrent": 1,
    "epochs": 4,
    "address": "10.0.0.1:6380",
    "family_from": 2,
    "family": False,
    "replicates": 3,
    "warm_start": "earlier",
    "warm_storage": "sqlite:///earlier.db",
    "warm_top": 2,
}


def test_every_run_flag_is_a_config_field_or_a_proxy_override() -> None:
    flags = [p for p in inspect.signature(run).parameters if p not in RUN_LOCATION]
    fields = {f.name for f in dataclasses.fields(RunConfig)}
    assert set(flags) <= fields | set(PROXY_OVERRIDES)
    assert set(flags) == set(GIVEN)  # the table below covers every flag


def test_every_flag_reaches_the_config_as_given(tmp_path) -> None:
    config = config_from_flags(
        load_space("cmt_compound"), tmp_path, storage="sqlite:///x.db", study_name="x", **GIVEN
    )
    for name, value in GIVEN.items():
        if name in PROXY_OVERRIDES:
            assert getattr(config.proxy, name) == value, name
        elif name == "data_dir":
            assert config.data_dir == "/data"
        else:
            assert getattr(config, name) == value, name
    assert config.proxy.seed == 5  # the seed fixes the proxy's training too
