"""The error contract, command by command: a user's mistake is one line and exit code 2.

Table-driven over every command and the flags that take numbers, names or files. None of
these may print a traceback, and none may change a study.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from scalesearch.cli.main import main
from scalesearch.search.run import samplers
from scalesearch.search.store import run_attributes

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


def _fails_in_one_line(args: list[str], message: str, capsys) -> None:
    """The command exits with 2 and says `message` in one line on stderr, no traceback."""
    assert main(args) == 2
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert err.startswith("error: ") and err.count("\n") == 0, err
    assert message in err, err
    assert "Traceback" not in captured.out + captured.err


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
    _fails_in_one_line(args, message, capsys)
    assert not (tmp_path / "runs").exists() or not list((tmp_path / "runs").rglob("study.db"))


def test_describe_takes_phi_before_the_model(capsys) -> None:
    assert main(["describe", "--phi", "1", "cmt_compound", "--json"]) == 0
    assert '"resolution": 56' in capsys.readouterr().out


def test_scale_takes_a_list_of_phi_negative_ones_included(capsys) -> None:
    assert main(["scale", "--space", "cmt_compound", "--phi", "-1", "0", "1", "--json"]) == 0
    out = capsys.readouterr().out
    assert out.count('"phi"') == 3 and '"phi": -1.0' in out


# 0.2's commands and files, on a finished run (a hand-made study of one search trial and
# one family member); none may change it.
BAD_INPUT_ON_A_RUN = [
    (["describe", "cmt-ti", "--weights", "{bytes}"], "not a readable weights file"),
    (["describe", "cmt-ti", "--weights", "{truncated}"], "not a readable weights file"),
    (["describe", "cmt-ti", "--weights", "{pickle}"], "a pickle holding more than tensors"),
    (["describe", "cmt-ti", "--weights", "/no/such.safetensors"], "no such weights file"),
    (["export", "--study", "made", "--trial", "9", "-o", "{tmp}/out"], "has trials 0..0"),
    (["export", "--study", "nope", "--trial", "0", "-o", "{tmp}/out"], "no study database at"),
    (["export", "--study", "made", "--trial", "0", "-o", "{afile}"], "cannot write there"),
    (["export", "--study", "made", "--trial", "0", "-o", "/proc/x/y"], "cannot write there"),
    (["run", "--space", "{space}", "--study", "new", "--warm-start", "nope"], "no such study"),
    (
        ["run", "--space", "{space}", "--study", "new", "--warm-start", "made"]
        + ["--warm-storage", "sqlite:////no/such/x.db"],
        "--warm-start made: no such study at sqlite:////no/such/x.db",
    ),
    (["proxy", "cmt-ti", "--dataset", "idx", "--data-dir", "{idx}"], "truncated or padded"),
    (["ablate", "--study", "made", "--phi", "1", "--from", "9"], "trial 9 is not a complete"),
    (["ablate", "--study", "made", "--phi", "40"], "scales a dimension more than 1000x"),
    (["ablate", "--study", "made", "--phi", "1", "--epochs", "1"], "No such option: --epochs"),
    (["scale", "--space", "cmt_compound", "--phi", "1", "--bogus"], "No such option: --bogus"),
    (["train", "--study", "made", "--trial", "0", "--recipe", "fancy"], "recipe must be one of"),
    (["train", "--study", "made", "--trial", "0", "--precision", "fp8"], "--precision must be"),
    (["train", "--study", "made", "--trial", "0", "--init-from", "{pickle}"], "not a weights file"),
    (["train", "--study", "made", "--trial", "0", "--deepspeed-config", "{latin1}"], "not UTF-8"),
    (["report", "--study", "made", "-o", "/proc/x/r.html"], "cannot write the report there"),
    (["report", "--study", "made", "-o", "{afile}/r.html"], "cannot write the report there"),
]


@pytest.fixture
def made_run(tmp_path: Path) -> dict[str, str]:
    """A finished run by hand, and bad files of every kind 0.2's commands read."""
    import pickle
    import struct

    import optuna
    import torch
    from safetensors.torch import save_file

    from scalesearch.arch.equal_cost import count_runtime
    from scalesearch.search.space import load_space
    from scalesearch.search.store import storage as st
    from scalesearch.search.store.schema import Phase, TrialRecord
    from scalesearch.search.store.studies import RunStudies
    from tests.helpers import write_space

    space_path = write_space(tmp_path, "made", {})
    space = load_space(space_path)
    runs = tmp_path / "runs"
    (runs / "made").mkdir(parents=True)
    url = st.default_storage(runs / "made")
    study = st.create_or_load_study(
        st.open_storage(url), "made", samplers.make_sampler("random", 0), space.search.objectives
    )
    run_attributes.store_space(study, space)
    run_attributes.mark_split(study)
    member = space.realize(1.0)
    layers = count_runtime(member.spec).layers
    unit = optuna.distributions.FloatDistribution(1.0, 1.6)
    record = TrialRecord(phase=Phase.SEARCH, phi=1.0, spec=member.spec.to_json(),
                         spec_hash=member.spec.spec_hash(), macs=member.macs, layers=layers,
                         seed=0, arch_key="a", gamma=1.15, val_images=143)  # fmt: skip
    study.add_trial(optuna.trial.create_trial(
        params={"alpha": 1.2, "beta": 1.3}, distributions={"alpha": unit, "beta": unit},
        values=[0.5, layers], user_attrs=record.to_attrs()))  # fmt: skip
    family = RunStudies(url, study).study_for(Phase.FAMILY, create=True)
    family.add_trial(optuna.trial.create_trial(
        params={"alpha": 1.2, "beta": 1.3}, distributions={"alpha": unit, "beta": unit},
        values=[0.6, member.macs], user_attrs={**record.to_attrs(), "phase": "family"}))  # fmt: skip
    (tmp_path / "bytes.safetensors").write_bytes(bytes(range(256)) * 2)
    save_file({"a": torch.zeros(64)}, str(tmp_path / "real.safetensors"))
    real = (tmp_path / "real.safetensors").read_bytes()
    (tmp_path / "truncated.safetensors").write_bytes(real[: len(real) // 2])
    with (tmp_path / "other.pth").open("wb") as f:
        pickle.dump({"optimizer": object}, f)
    (tmp_path / "latin1.json").write_bytes('{"train_batch_size": 8, "x": "\xe9"}'.encode("latin-1"))
    (tmp_path / "afile").write_text("a file, not a folder")
    idx = tmp_path / "idx"
    idx.mkdir()
    (idx / "train-images-idx3-ubyte").write_bytes(
        struct.pack(">IIII", 2051, 100, 28, 28) + bytes(4000)
    )
    (idx / "train-labels-idx1-ubyte").write_bytes(struct.pack(">II", 2049, 100) + bytes(100))
    (idx / "t10k-images-idx3-ubyte").write_bytes(
        struct.pack(">IIII", 2051, 20, 28, 28) + bytes(20 * 784)
    )
    (idx / "t10k-labels-idx1-ubyte").write_bytes(struct.pack(">II", 2049, 20) + bytes(20))
    names = ("bytes.safetensors", "truncated.safetensors", "other.pth", "latin1.json", "afile")
    files = {f"{{{n.split('.')[0].replace('other', 'pickle')}}}": str(tmp_path / n) for n in names}
    return {**files, "{idx}": str(idx), "{space}": str(space_path), "{tmp}": str(tmp_path),
            "{runs}": str(runs), "{db}": str(runs / "made" / "study.db")}  # fmt: skip


@pytest.mark.parametrize(
    ("args", "message"),
    BAD_INPUT_ON_A_RUN,
    ids=lambda v: " ".join(v)[:60] if isinstance(v, list) else None,
)
def test_bad_input_on_a_run_is_one_line_and_changes_nothing(
    args, message, made_run, capsys, monkeypatch
) -> None:
    import hashlib

    monkeypatch.chdir(made_run["{tmp}"])
    if args[0] in ("export", "ablate", "train", "report", "run"):
        args = [*args, "--run-dir", made_run["{runs}"]]
    for key, value in made_run.items():
        args = [a.replace(key, value) for a in args]
    db = Path(made_run["{db}"])
    before = hashlib.sha256(db.read_bytes()).hexdigest()
    runs = sorted(p.name for p in Path(made_run["{runs}"]).iterdir())
    _fails_in_one_line(args, message, capsys)
    assert hashlib.sha256(db.read_bytes()).hexdigest() == before  # the run is unchanged
    assert sorted(p.name for p in Path(made_run["{runs}"]).iterdir()) == runs  # none created
