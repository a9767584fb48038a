"""Shared fixtures: a small search space written as a real YAML file, a local Ray."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import write_space


@pytest.fixture(scope="session")
def tiny_space(tmp_path_factory) -> Path:
    return write_space(tmp_path_factory.mktemp("spaces"), "tiny", {}, trials=4)


@pytest.fixture(scope="module")
def local_ray():
    """One local Ray for a module's tests (run_search leaves a running Ray alone)."""
    import ray

    ray.init(
        address="local",
        num_cpus=2,
        include_dashboard=False,
        log_to_driver=False,
        logging_level="ERROR",
    )
    yield
    ray.shutdown()


def pytest_collection_modifyitems(config, items) -> None:
    """The files with Ray or other real processes (marked `ray` or `slow`) first, each file's
    tests in their order: under two workers (`-n 2 --dist loadfile`) the long files then
    start at once and the short ones fill in behind them, instead of one long file running
    alone at the end."""
    heavy = {
        item.path
        for item in items
        if item.get_closest_marker("ray") or item.get_closest_marker("slow")
    }
    items.sort(key=lambda item: item.path not in heavy)  # stable: files stay together
