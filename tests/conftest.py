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
