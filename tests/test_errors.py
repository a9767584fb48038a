"""The error contract, command by command: a user's mistake is one line and exit code 2.

Table-driven over every command and the flags that take numbers, names or files. None of
these may print a traceback, and none may change a study.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from scalesearch.cli.app import main

BAD_INPUT = [
    # describe
    (["describe", "nosuch"], "unknown model 'nosuch'"),
    (["describe", "cmt_compound", "--alpha", "-1"], "alpha must be a number in (0, 1000]"),
    (["describe", "cmt_compound", "--phi", "1", "--alpha", "0"], "alpha must be a number"),
    (["describe", "cmt_compound", "--phi", "nan"], "phi must be a finite number"),
    (["describe", "cmt_compound", "--phi", "1000"], "choose a smaller phi"),
    (["describe", "cmt_compound", "--alpha", "1e300", "--beta", "1e300"], "alpha must be a number"),
    (["describe", "cmt-ti", "--phi", "1"], "cmt-ti is a preset"),
    (["describe", "cmt-ti", "--resolution", "0"], "--resolution must be >= 1"),
    (["describe", "cmt-ti", "--num-classes", "0"], "--num-classes must be >= 1"),
    (["describe", "cmt_compound", "--phi", "x"], "Invalid value for '--phi'"),
    (["describe"], "Missing argument"),
    # scale
    (["scale", "--space", "cmt_compound", "--beta", "-1", "--phi", "1"], "beta must be a number"),
    (
        ["scale", "--space", "cmt_compound", "--alpha", "2", "--beta", "2", "--gamma", "2"],
        "must be within 10% of 2.5",
    ),
    (["scale", "--space", "nosuch"], "unknown search space 'nosuch'"),
    (["scale", "--space", "{binary}"], "not UTF-8 text"),
    (["scale", "--space", "{tmp}/missing.yaml"], "no such search-space file"),
    (["scale", "--space", "{notyaml}"], "not valid YAML"),
    # proxy
    (["proxy", "cmt-ti", "--dataset", "imagenet"], "dataset must be one of"),
    (["proxy", "cmt-ti", "--epochs", "0"], "epochs must be >= 1"),
    (["proxy", "cmt-ti", "--subset", "0"], "subset must be in (0, 1]"),
    (["proxy", "cmt-ti", "--subset", "2"], "subset must be in (0, 1]"),
    (["proxy", "cmt-ti", "--max-train-images", "0"], "max_train_images must be >= 1"),
    (["proxy", "cmt-ti", "--threads", "0"], "threads must be >= 1"),
    (["proxy", "cmt-ti", "--resolution", "-8"], "--resolution must be >= 1"),
    (["proxy", "cmt-ti", "--dataset", "cifar10"], "give its folder with --data-dir"),
    (["proxy", "cmt-ti", "--dataset", "cifar10", "--data-dir", "/no/such"], "no such directory"),
    # run (each before any study is created: checked below)
    (["run", "--space", "cmt_compound", "--epochs", "0"], "epochs must be >= 1"),
    (["run", "--space", "cmt_compound", "--trials", "-1"], "--trials must be >= 1"),
    (["run", "--space", "cmt_compound", "--trials", "0"], "--trials must be >= 1"),
    (["run", "--space", "cmt_compound", "--time-budget", "0"], "--time-budget must be > 0"),
    (["run", "--space", "cmt_compound", "--max-concurrent", "0"], "--max-concurrent must be >= 1"),
    (["run", "--space", "cmt_compound", "--seed", "-1"], "--seed must be >= 0"),
    (["run", "--space", "cmt_compound", "--resume", "--join"], "choose one of --resume"),
    (["run", "--space", "cmt_compound", "--resume", "--trials", "3"], "use --join --trials N"),
    (["run", "--space", "cmt_compound", "--dataset", "cifar10"], "give its folder with --data-dir"),
    (["run", "--space", "cmt_compound", "--dataset", "nope"], "dataset must be one of"),
    (["run", "--space", "{binary}"], "not UTF-8 text"),
    (["run", "--space", "cmt_compound", "--trails", "3"], "No such option: --trails"),
    (["run", "--space", "cmt_compound", "--storage", "nonsense"], "must be an SQLAlchemy URL"),
    # inspection commands
    (["frontier"], "give --study or --storage"),
    (["frontier", "--study", "absent"], "no study database at"),
    (["report"], "give --study or --storage"),
    (["dashboard", "--storage", "nonsense"], "must be an SQLAlchemy URL"),
    (["train", "--trial", "0", "--epochs", "0"], "--epochs must be >= 1"),
    (["train", "--trial", "0", "--checkpoint-every", "0"], "--checkpoint-every must be >= 1"),
    (["train", "--trial", "0"], "give --study or --storage"),
    (["ablate"], "give the φ values to compare at"),
    (["ablate", "--phi", "1", "--seeds", "0"], "--seeds must be >= 1"),
    (["ablate", "--phi", "1"], "give --study or --storage"),
    (["ablate", "--phi", "1", "--study", "absent"], "no study database at"),
    (["ablate", "--phi", "x"], "Invalid value for '--phi'"),
    (["nosuch"], "No such command 'nosuch'"),
]


@pytest.fixture
def files(tmp_path: Path) -> dict[str, str]:
    binary = tmp_path / "binary.yaml"
    binary.write_bytes(b"\xff\xfe\x00name: \x89PNG\x00")
    notyaml = tmp_path / "broken.yaml"
    notyaml.write_text("name: [unclosed\n")
    return {"{binary}": str(binary), "{notyaml}": str(notyaml), "{tmp}": str(tmp_path)}


@pytest.mark.parametrize(
    ("args", "message"), BAD_INPUT, ids=lambda v: " ".join(v)[:60] if isinstance(v, list) else None
)
def test_bad_input_is_one_line_and_exit_2(
    args, message, files, tmp_path, capsys, monkeypatch
) -> None:
    monkeypatch.chdir(tmp_path)  # runs/ of the default run folder lands here
    args = [files.get(a, a).replace("{tmp}", str(tmp_path)) for a in args]
    assert main(args) == 2
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert err.startswith("error: ") and err.count("\n") == 0, err
    assert message in err, err
    assert "Traceback" not in captured.out + captured.err
    assert not (tmp_path / "runs").exists() or not list((tmp_path / "runs").rglob("study.db"))


def test_describe_takes_phi_before_the_model(capsys) -> None:
    assert main(["describe", "--phi", "1", "cmt_compound", "--json"]) == 0
    assert '"resolution": 56' in capsys.readouterr().out


def test_scale_takes_a_list_of_phi_negative_ones_included(capsys) -> None:
    assert main(["scale", "--space", "cmt_compound", "--phi", "-1", "0", "1", "--json"]) == 0
    out = capsys.readouterr().out
    assert out.count('"phi"') == 3 and '"phi": -1.0' in out
