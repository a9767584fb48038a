"""`scalesearch export`: folders that load back, ONNX that agrees with PyTorch, a model card."""

from __future__ import annotations

import dataclasses
import json

import optuna
import pytest
import torch
from safetensors.torch import save_file

import scalesearch
from scalesearch.arch.bundle import onnx_difference
from scalesearch.arch.cost import count_cost
from scalesearch.arch.model import HybridNet
from scalesearch.cli.main import main
from scalesearch.search.run import samplers
from scalesearch.search.space import load_space
from scalesearch.search.store import sql_tables
from scalesearch.search.store import storage as st

UNIT = optuna.distributions.FloatDistribution(1.0, 1.6)


def _one_block_a_stage(spec):
    return spec.replace(stages=tuple(dataclasses.replace(s, depth=1) for s in spec.stages))


@pytest.fixture
def study_with_two_members(tmp_path):
    """A CvT-like and a CMT-like member; the CMT one has a completed final training."""
    (tmp_path / "runs" / "ex").mkdir(parents=True)
    storage = st.default_storage(tmp_path / "runs" / "ex")
    study = st.create_or_load_study(
        st.open_storage(storage), "ex", samplers.make_sampler("random", 0)
    )
    # Each space's base at one block a stage: every block kind, a third of the graph to
    # export (the dynamo exporter's time grows with it).
    specs = [_one_block_a_stage(load_space(name).base) for name in ("cvt_compound", "cmt_compound")]
    for spec, accuracy in zip(specs, (0.92, 0.90)):  # both on the frontier
        cost = count_cost(spec)
        study.add_trial(
            optuna.trial.create_trial(
                params={"alpha": 1.2, "beta": 1.3},
                distributions={"alpha": UNIT, "beta": UNIT},
                values=[accuracy, cost.macs],
                user_attrs={
                    "spec": spec.to_json(),
                    "spec_hash": spec.spec_hash(),
                    "phi": 0.0,
                    "phase": "search",
                    "macs": cost.macs,
                    "params": cost.params,
                    "val_images": 2400,
                    "scalesearch_version": "0.2.0",
                },  # fmt: skip
            )
        )
    torch.manual_seed(3)
    trained = HybridNet(specs[1])
    checkpoint = tmp_path / "final" / "checkpoints"
    checkpoint.mkdir(parents=True)
    save_file(trained.state_dict(), checkpoint / "weights.safetensors")
    sql_tables.save_final_run(
        storage,
        dict(
            study="ex",
            trial=1,
            spec_hash=specs[1].spec_hash(),
            dataset="fashion-mnist",
            epochs=10,
            epochs_done=10,
            steps=100,
            world_size=1,
            test_accuracy=0.881,
            test_images=10000,
            params=1,
            macs=1,
            wall_seconds=1.0,
            checkpoint=str(checkpoint),
            status="completed",
            recipe="cmt (CMT-S) lr=0.0002",
        ),  # fmt: skip
    )
    return tmp_path, trained


def test_export_writes_folders_that_load_and_agree_with_onnx(study_with_two_members) -> None:
    root, trained = study_with_two_members
    out = root / "exported"
    # Both members through the TorchScript exporter (a second each), the CvT one through the
    # default dynamo exporter too (12 s for the CvT member, 38 s for the CMT one: its cost is
    # fixed, not the depth's; bench/onnx_exporters.py checks every space's both ways).
    assert main(["export", "--run-dir", str(root / "runs"), "--study", "ex", "--pareto", "2",
                 "-o", str(out), "--exporter", "torchscript"]) == 0  # fmt: skip
    folders = sorted(p.name for p in out.iterdir())
    assert folders == ["ex-trial0", "ex-trial1"]
    for folder in folders:
        files = sorted(p.name for p in (out / folder).iterdir())
        assert files == ["README.md", "card.json", "model.onnx", "spec.json", "weights.safetensors"]
    # The trained member carries its final training's weights, exactly.
    loaded = scalesearch.load(out / "ex-trial1")
    for key, value in trained.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value), key
    dynamo = root / "dynamo"
    assert main(["export", "--run-dir", str(root / "runs"), "--study", "ex", "--trial", "0",
                 "-o", str(dynamo)]) == 0  # fmt: skip
    for folder in (out / "ex-trial0", out / "ex-trial1", dynamo / "ex-trial0"):
        model = scalesearch.load(folder)
        size = model.spec.resolution
        for side in (size, size + 16):  # the build size and another
            assert onnx_difference(model, folder / "model.onnx", side) <= 1e-4
        card = json.loads((folder / "card.json").read_text())
        assert all(d <= 1e-4 for d in card["onnx_max_abs_diff"].values())
        assert card["latency"]["ms_batch1"] > 0 and card["latency"]["device"]
    card = json.loads((dynamo / "ex-trial0" / "card.json").read_text())
    assert card["onnx_exporter"] == "torch.onnx's dynamo exporter"  # the current one


def test_the_model_card_says_what_a_user_needs(study_with_two_members) -> None:
    root, _ = study_with_two_members
    out = root / "exported"
    assert main(["export", "--run-dir", str(root / "runs"), "--study", "ex", "--trial", "1",
                 "-o", str(out), "--exporter", "torchscript"]) == 0  # fmt: skip
    card = (out / "ex-trial1" / "README.md").read_text()
    for line in ("| parameters |", "| MACs", "| latency |", "at batch 1", "comparable only on the same device type",
                 "88.10% ± 0.32 on 10,000 test images", "recipe cmt (CMT-S)", "final training:",
                 "90.00% ± 0.61 on 2,400 images (1 seed, binomial se)", "spec hash",
                 "scalesearch export --storage", "scalesearch train --storage"):  # fmt: skip
        assert line in card, line
    assert main(["export", "--run-dir", str(root / "runs"), "--study", "ex", "--trial", "0",
                 "-o", str(out), "--exporter", "torchscript"]) == 0  # fmt: skip
    untrained = (out / "ex-trial0" / "README.md").read_text()
    assert (
        "**Untrained weights.**" in untrained and "| final test accuracy | none yet |" in untrained
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--trial", "9"], "--trial 9: study 'ex' has trials 0..1"),
        (["--trial", "0", "--family"], "exactly one of --trial N, --pareto K, --family"),
        (["--trial", "0", "--latency-batch", "0"], "--latency-batch must be >= 1"),
        (["--trial", "0", "--exporter", "jit"], "--exporter must be one of dynamo, torchscript"),
    ],
)
def test_bad_exports_are_one_line(study_with_two_members, capsys, args, message) -> None:
    root, _ = study_with_two_members
    code = main(["export", "--run-dir", str(root / "runs"), "--study", "ex", "-o",
                 str(root / "x"), *args])  # fmt: skip
    err = capsys.readouterr().err.strip()
    assert code == 2 and message in err and "\n" not in err, err


def test_load_refuses_a_folder_without_a_spec(tmp_path) -> None:
    with pytest.raises(scalesearch.ScaleSearchError, match="no spec.json"):
        scalesearch.load(tmp_path)


def test_where_the_dynamo_exporter_fails_the_torchscript_one_exports_and_the_card_says_so(
    study_with_two_members, monkeypatch
) -> None:
    """A fault injected into the dynamo exporter: the fallback's graph, and the reason."""
    from scalesearch.search.results import export as export_module

    real = export_module.export_onnx

    def failing(model, path, exporter="dynamo"):
        if exporter == "dynamo":
            raise RuntimeError("unsupported operator aten::example")
        return real(model, path, exporter)

    monkeypatch.setattr(export_module, "export_onnx", failing)
    root, _ = study_with_two_members
    out = root / "exported"
    assert main(["export", "--run-dir", str(root / "runs"), "--study", "ex", "--trial", "0",
                 "-o", str(out)]) == 0  # fmt: skip
    card = json.loads((out / "ex-trial0" / "card.json").read_text())
    assert card["onnx_exporter"].startswith("torch.onnx's TorchScript exporter, the fallback")
    assert "RuntimeError: unsupported operator aten::example" in card["onnx_exporter"]
    assert all(d <= 1e-4 for d in card["onnx_max_abs_diff"].values())
    assert "the fallback" in (out / "ex-trial0" / "README.md").read_text()
