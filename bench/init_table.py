"""Initialisation of every preset against the official codes' rules: before (v0) and now.

Prints, per preset and parameter role, the measured std over the official rule's expected
std (pooled over the role's tensors, seeded build): 1.00 is the official init. Roles whose
official value is a constant (norms, zero biases) print the largest deviation from it.

    python bench/init_table.py
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.official_init

from scalesearch.arch.model import build_model  # noqa: E402
from scalesearch.arch.presets import PRESETS  # noqa: E402
from tests.official_init import group_ratios  # noqa: E402


def main() -> None:
    print(f"{'preset':8} {'role':24} {'values':>11} {'v0 (0.1)':>9} {'now':>7}")
    for name in PRESETS:
        scheme = "cvt" if name.startswith("cvt") else "cmt"
        measured = {}
        for init in ("v0", scheme):
            torch.manual_seed(0)
            model = build_model(PRESETS[name].replace(init=init))
            measured[init] = group_ratios(model, scheme)
            del model
        for role, (now, mean_z, count) in sorted(measured[scheme].items()):
            before = measured["v0"][role][0]
            constant = mean_z == 0.0 and now < 1e-12
            unit = "Δ" if constant else "×"
            print(f"{name:8} {role:24} {count:>11,} {before:>8.2f}{unit} {now:>6.2f}{unit}")


if __name__ == "__main__":
    main()
