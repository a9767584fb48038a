"""DeepSpeed configuration: the built-in one, a user's file checked for typos, "auto" filled.

Plain JSON work, kept apart from `scalesearch.train.deepspeed_trainer` (the only DeepSpeed import) so the
CLI can check a config before anything heavy is imported.
"""

from __future__ import annotations

import copy
import difflib
import json
from pathlib import Path

from scalesearch.errors import TrainConfigError

# The configuration used without --deepspeed-config (launch/deepspeed/zero1_cpu.json).
DEFAULT_CONFIG: dict = {
    "train_micro_batch_size_per_gpu": 64,
    "gradient_accumulation_steps": 1,
    "gradient_clipping": 1.0,
    "optimizer": {
        "type": "AdamW",
        "params": {"lr": 2e-3, "weight_decay": 0.05, "torch_adam": True},
    },
    "scheduler": {
        "type": "WarmupCosineLR",
        "params": {"total_num_steps": "auto", "warmup_num_steps": "auto"},
    },
    "zero_optimization": {"stage": 1},
    "steps_per_print": 1_000_000,
}
# Top-level keys DeepSpeed reads: a near miss of one ("optimiser") is a typo that DeepSpeed
# would silently ignore, so it is an error here.
KNOWN_KEYS = (
    "train_batch_size",
    "train_micro_batch_size_per_gpu",
    "gradient_accumulation_steps",
    "optimizer",
    "scheduler",
    "fp16",
    "bf16",
    "amp",
    "torch_autocast",
    "zero_optimization",
    "gradient_clipping",
    "steps_per_print",
    "wall_clock_breakdown",
    "prescale_gradients",
    "gradient_predivide_factor",
    "communication_data_type",
    "zero_allow_untested_optimizer",
    "activation_checkpointing",
    "checkpoint",
    "data_types",
    "flops_profiler",
    "tensorboard",
    "wandb",
    "csv_monitor",
    "comms_logger",
    "dump_state",
    "sparse_gradients",
    "seed",
    "memory_breakdown",
    "elasticity",
    "compile",
    "data_efficiency",
    "aio",
)
WARMUP_FRACTION = 0.05  # of all steps, where the config says "auto"


def load_deepspeed_config(path: str | Path | None) -> dict:
    """The DeepSpeed config from a JSON file (the built-in one when None), checked for typos."""
    if path is None:
        return copy.deepcopy(DEFAULT_CONFIG)
    path = Path(path)
    if not path.is_file():
        raise TrainConfigError(
            f"--deepspeed-config {path}: no such file (examples: launch/deepspeed/)"
        )
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise TrainConfigError(f"--deepspeed-config {path}: not valid JSON ({err})") from None
    except UnicodeDecodeError:
        raise TrainConfigError(
            f"--deepspeed-config {path}: not UTF-8 text; a DeepSpeed config is a JSON file"
        ) from None
    except OSError as err:
        raise TrainConfigError(
            f"--deepspeed-config {path}: cannot be read ({err.strerror})"
        ) from None
    if not isinstance(config, dict):
        raise TrainConfigError(f"--deepspeed-config {path}: must hold a JSON object")
    for key in config:
        if key not in KNOWN_KEYS:
            near = difflib.get_close_matches(key, KNOWN_KEYS, n=1, cutoff=0.75)
            if near:
                raise TrainConfigError(
                    f"--deepspeed-config {path}: unknown key {key!r}; did you mean {near[0]!r}?"
                )
    return config


def fill_auto(config: dict, steps_per_epoch: int, epochs: int) -> dict:
    """Replaces "auto" scheduler lengths with this run's step counts."""
    config = copy.deepcopy(config)
    params = config.get("scheduler", {}).get("params", {})
    total = steps_per_epoch * epochs
    for key, value in (
        ("total_num_steps", total),
        ("warmup_num_steps", max(1, int(WARMUP_FRACTION * total))),
    ):
        if params.get(key) == "auto":
            params[key] = value
    return config
