"""Published checkpoints load by explicit key maps; what does not fit is one line."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from scalesearch.arch.checkpoints import detect_layout, read_state_dict, to_layout
from scalesearch.arch.model import build_model
from scalesearch.errors import CheckpointError

REFERENCE = Path(__file__).parent / "data" / "official_state_dicts"
OFFICIAL = {"cmt-ti": "cmt-official", "cvt-13": "cvt-official"}


def _reference(name: str) -> dict[str, str]:
    """Key → shape of the official code's state dict (../shared/reference, copied here)."""
    lines = (REFERENCE / f"{name}_official.txt").read_text().splitlines()
    return dict(line.split("\t") for line in lines if not line.startswith("#"))


def _seeded(name: str, **kwargs) -> torch.nn.Module:
    """A seeded model with non-trivial BatchNorm statistics, in eval mode."""
    torch.manual_seed(0)
    model = build_model(name, **kwargs)
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.normal_(0, 0.1)
            module.running_var.uniform_(0.5, 1.5)
    return model.eval()


def _logits(model: torch.nn.Module, resolution: int) -> torch.Tensor:
    images = torch.randn(2, 3, resolution, resolution, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        return model(images)


@pytest.mark.parametrize("name", sorted(OFFICIAL))
def test_official_names_and_shapes_are_exactly_the_reference(name: str) -> None:
    with torch.device("meta"):
        ours = build_model(name).state_dict()
    theirs = to_layout(ours, OFFICIAL[name])
    assert {k: str(tuple(v.shape)) for k, v in theirs.items()} == _reference(name)


@pytest.mark.parametrize("name", sorted(OFFICIAL))
def test_round_trip_through_official_names_gives_identical_logits(name, tmp_path) -> None:
    model = _seeded(name)
    path = tmp_path / f"{name}.pth"
    # Saved as DeiT's and CvT's scripts save: under "model", beside other state.
    torch.save({"model": to_layout(model.state_dict(), OFFICIAL[name]), "epoch": 3}, path)
    assert detect_layout(read_state_dict(path)) == OFFICIAL[name]
    loaded = build_model(name, weights=path).eval()
    resolution = model.spec.resolution
    assert torch.equal(_logits(loaded, resolution), _logits(model, resolution))


def test_our_own_safetensors_round_trip(tmp_path) -> None:
    from safetensors.torch import save_file

    model = _seeded("cmt-ti", num_classes=7, resolution=64)
    save_file(model.state_dict(), tmp_path / "w.safetensors")
    loaded = build_model("cmt-ti", resolution=64, weights=tmp_path / "w.safetensors").eval()
    assert loaded.spec.num_classes == 7  # taken from the checkpoint
    assert torch.equal(_logits(loaded, 64), _logits(model, 64))


def test_relative_position_bias_is_resampled_to_the_build_size(tmp_path) -> None:
    at_160 = _seeded("cmt-ti")
    path = tmp_path / "cmt.pth"
    torch.save(to_layout(at_160.state_dict(), "cmt-official"), path)
    at_224 = build_model("cmt-ti", resolution=224, weights=path).eval()
    assert at_224.stages[0].rel_pos.bias.shape == (1, 56 * 56, 7 * 7)
    # The model built at 160 resamples its bias at run time with the same rule.
    assert torch.equal(_logits(at_224, 224), _logits(at_160, 224))


def test_hugging_face_cvt_gives_the_same_logits(tmp_path) -> None:
    transformers = pytest.importorskip("transformers")
    torch.manual_seed(0)
    config = transformers.CvtConfig(num_labels=1000)  # CvtConfig's defaults are CvT-13
    hf = transformers.CvtForImageClassification(config)
    for module in hf.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.normal_(0, 0.1)
            module.running_var.uniform_(0.5, 1.5)
    hf.eval().save_pretrained(tmp_path / "hf-cvt-13")
    ours = build_model("cvt-13", weights=tmp_path / "hf-cvt-13").eval()
    assert {s.block.act for s in ours.spec.stages} == {"gelu"}  # HF's activation
    images = torch.randn(2, 3, 224, 224, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected = hf(pixel_values=images).logits
        got = ours(images)
    assert (got - expected).abs().max().item() <= 1e-5


def _official_cvt(tmp_path: Path, change) -> Path:
    state = to_layout(_seeded("cvt-13").state_dict(), "cvt-official")
    change(state)
    torch.save(state, tmp_path / "cvt.pth")
    return tmp_path / "cvt.pth"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda s: s.pop("stage2.cls_token"), r"missing key 'stage2.cls_token'"),
        (lambda s: s.update(extra=torch.zeros(1)), r"unexpected key 'extra'"),
        (
            lambda s: s.update({"head.weight": torch.zeros(10, 383)}),
            r"'head.weight' has shape \(10, 383\) but the model's 'head.fc.weight' has",
        ),
        (lambda s: s.clear() or s.update(w=torch.zeros(1)), r"not a layout scalesearch knows"),
    ],
)
def test_a_checkpoint_that_does_not_fit_is_one_line(tmp_path, change, message) -> None:
    path = _official_cvt(tmp_path, change)
    with pytest.raises(CheckpointError, match=message) as err:
        build_model("cvt-13", weights=path)
    assert "\n" not in str(err.value)


def test_a_checkpoint_of_another_variant_names_what_is_missing(tmp_path) -> None:
    torch.save(to_layout(_seeded("cmt-ti").state_dict(), "cmt-official"), tmp_path / "c.pth")
    with pytest.raises(CheckpointError, match=r"missing keys .* and \d+ more"):
        build_model("cmt-xs", weights=tmp_path / "c.pth")


def test_unreadable_and_absent_files(tmp_path) -> None:
    (tmp_path / "junk.pth").write_bytes(b"not a pickle")
    with pytest.raises(CheckpointError, match="not a readable weights file"):
        build_model("cvt-13", weights=tmp_path / "junk.pth")
    with pytest.raises(CheckpointError, match="no such weights file"):
        build_model("cvt-13", weights=tmp_path / "absent.pth")


def test_describe_loads_a_checkpoint_and_says_so(tmp_path, capsys) -> None:
    import json

    from scalesearch.cli.main import main

    transformers = pytest.importorskip("transformers")
    transformers.CvtForImageClassification(transformers.CvtConfig(num_labels=10)).save_pretrained(
        tmp_path / "hf"
    )
    assert main(["describe", "cvt-13", "--weights", str(tmp_path / "hf"), "--json"]) == 0
    desc = json.loads(capsys.readouterr().out)
    assert desc["weights"]["layout"] == "cvt-hf" and desc["num_classes"] == 10
    assert {s["block"]["act"] for s in desc["spec"]["stages"]} == {"gelu"}
    assert main(["describe", "cmt-ti", "--weights", str(tmp_path / "hf")]) == 2
    err = capsys.readouterr().err.strip()
    assert "missing keys" in err and "\n" not in err
