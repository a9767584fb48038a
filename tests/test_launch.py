"""The launch/ files are real configs: Ray's own schema accepts the cluster YAML."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

LAUNCH = Path(__file__).resolve().parents[1] / "launch"


def test_cluster_yaml_passes_ray_s_schema() -> None:
    from ray.autoscaler._private.util import prepare_config, validate_config

    config = prepare_config(yaml.safe_load((LAUNCH / "ray-cluster.yaml").read_text()))
    validate_config(config)  # raises on a wrong key or type
    setup = " ".join(config["setup_commands"])
    assert "-c ~/scalesearch/constraints.txt" in setup  # the torch pin on every node
    assert "6379" not in " ".join(config["head_start_ray_commands"])


def test_cluster_yaml_schema_rejects_a_typo() -> None:
    from jsonschema import ValidationError
    from ray.autoscaler._private.util import prepare_config, validate_config

    config = prepare_config(yaml.safe_load((LAUNCH / "ray-cluster.yaml").read_text()))
    config["max_worker"] = 3
    with pytest.raises(ValidationError):
        validate_config(config)


def test_slurm_script_is_valid_bash() -> None:
    subprocess.run(["bash", "-n", str(LAUNCH / "slurm.sbatch")], check=True)
