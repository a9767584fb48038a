"""`scalesearch describe` as a user runs it."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from scalesearch.arch.presets import PRESETS
from scalesearch.cli.main import main


def test_describe_json_has_the_contract_fields(capsys) -> None:
    assert main(["describe", "cvt-13", "--json"]) == 0
    desc = json.loads(capsys.readouterr().out)
    assert desc["name"] == "cvt-13"
    assert desc["params"] == 19_997_480
    assert desc["macs"] == 4_566_089_216
    assert desc["resolution"] == 224 and desc["num_classes"] == 1000
    assert [s["dim"] for s in desc["stages"]] == [64, 192, 384]
    assert [s["tokens"] for s in desc["stages"]] == [56 * 56, 28 * 28, 14 * 14]
    assert sum(s["params"] for s in desc["stages"]) < desc["params"]  # the head is extra
    assert desc["spec"] == json.loads(PRESETS["cvt-13"].to_json())


def test_describe_overrides(capsys) -> None:
    assert main(["describe", "cmt-ti", "--resolution", "192", "--num-classes", "10", "--json"]) == 0
    desc = json.loads(capsys.readouterr().out)
    assert desc["resolution"] == 192 and desc["num_classes"] == 10


def test_describe_table(capsys) -> None:
    assert main(["describe", "cmt-s"]) == 0
    out = capsys.readouterr().out
    assert "26,256,160 params" in out and "4.032 GMACs" in out
    assert "lpu+light/8+irffn×4" in out


def test_unknown_preset_is_one_line_exit_2(capsys) -> None:
    assert main(["describe", "resnet-50"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0
    assert "unknown model 'resnet-50'" in err and "cvt-13" in err and "cmt-b" in err


def test_resolution_the_model_cannot_take(capsys) -> None:
    assert main(["describe", "cmt-ti", "--resolution", "100"]) == 2
    assert "multiple of 32" in capsys.readouterr().err


@pytest.mark.parametrize("args", [["describe"], ["describe", "cvt-13", "--bogus"]])
def test_usage_errors_exit_2(args) -> None:
    assert main(args) == 2


def test_installed_console_script() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "scalesearch", "describe", "cmt-ti", "--json"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert json.loads(out)["params"] == 9_492_426
