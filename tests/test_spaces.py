"""Search-space files: every shipped space, and a broken file for each error class."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import torch

from scalesearch.arch.cost import count_cost
from scalesearch.arch.model import HybridNet
from scalesearch.cli.main import main
from scalesearch.search.space import SpaceError, list_spaces, load_space, spaces_dir
from scalesearch.train.embedded import EMBEDDED
from tests.helpers import SHIPPED_FAMILY

SPACES = list_spaces()


def test_the_three_spaces_ship() -> None:
    assert {"cmt_compound", "cvt_compound", "hybrid_compound"} <= set(SPACES)


@pytest.mark.parametrize("name", SPACES)
def test_every_member_builds_and_runs(name: str) -> None:
    space = load_space(name)
    for phi in (0, 1, 2, 3):
        spec = space.member(phi)
        model = HybridNet(spec).eval()
        with torch.no_grad():
            out = model(torch.randn(2, 3, spec.resolution, spec.resolution))
        assert out.shape == (2, spec.num_classes) and torch.isfinite(out).all()


@pytest.mark.parametrize("name", SPACES)
def test_macs_grow_by_the_constraint_constant(name: str) -> None:
    space = load_space(name)
    target = space.scaling.constraint.target
    macs = [count_cost(space.member(phi)).macs for phi in (0, 1, 2, 3)]
    for smaller, larger in zip(macs, macs[1:]):
        assert larger / smaller == pytest.approx(target, rel=0.2)


def test_hybrid_choices_change_the_blocks() -> None:
    space = load_space("hybrid_compound")
    spec = space.member(
        1,
        choices={
            "stage0.attention": "conv",
            "stage2.ffn": "mlp",
            "stage1.local_perception": "none",
        },
    )
    assert spec.stages[0].block.attention == "conv"
    assert spec.stages[2].block.ffn == "mlp"
    assert spec.stages[1].block.local_perception == "none"
    assert spec.spec_hash() != space.member(1).spec_hash()


def test_base_is_cheap_and_scaling_reaches_published_sizes() -> None:
    space = load_space("cmt_compound")
    assert count_cost(space.member(0)).macs < 50e6  # seconds per proxy trial on one core
    # At equal cost φ = 6 is the base × 2.5⁶ = 3.8 GMACs, beside CMT-S's 4.0; φ = 7 passes it.
    assert count_cost(space.member(7)).macs > 4e9


VALID = (spaces_dir() / "cmt_compound.yaml").read_text()


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        (
            "  tolerance: 0.1\n",
            "  tolerance: 0.1\n  tolerence: 0.2\n",
            r"scaling\.tolerence: unknown key; allowed keys are: alpha, beta, defaults",
        ),
        (
            "  epochs: 2\n",
            "  epochs: two\n",
            r"proxy\.epochs: must be of type int, but got str 'two'",
        ),
        (
            "alpha: {low: 1.0, high: 1.6}",
            "alpha: {low: 1.6, high: 1.6}",
            r"scaling\.alpha: a range must satisfy 0 < low < high, but got low=1.6, high=1.6",
        ),
        (
            "gamma: {low: 1.0, high: 1.4}",
            "gamma: {low: 2.0, high: 3.0}",
            r"scaling: no \(alpha, beta\) in the ranges puts gamma in \[2.0, 3.0\]",
        ),
        (
            "defaults: {alpha: 1.2, beta: 1.3, gamma: 1.15}",
            "defaults: {alpha: 1.5, beta: 1.5, gamma: 1.15}",
            r"yaml: scaling\.defaults: alpha\*beta\^1.5\*gamma\^2 must be within 10% of 2.5",
        ),
        (
            "  rule: cmt\n",
            "  rule: cmt\n  target: 3.0\n",
            r"rule 'cmt' fixes width_exponent and target",
        ),
        (
            "  sampler: tpe\n",
            "  sampler: grid\n",
            r"search\.sampler: must be one of 'tpe', 'gp', 'nsga2', 'random', but got 'grid'",
        ),
        (
            "dim: 48, depth: 4, num_heads: 2",
            "dim: 66, depth: 4, num_heads: 4",
            r"base\.stages\[1\]: dim must be divisible by num_heads, but got dim=66, num_heads=4",
        ),
        (
            "  resolution: 48\n",
            "  resolution: 44\n",
            r"base: stages\[0\]\.block\.kv_reduction=2 must divide the stage's 11x11 token grid",
        ),
        (
            "  objectives: {accuracy: maximize, layers: minimize}\n",
            "  objectives: {accuracy: maximize, macs: maximize}\n",
            r"objectives must be among .*but got macs: maximize",
        ),
        ("name: cmt_compound\n", "name: [cmt\n", r"not valid YAML"),
        (
            SHIPPED_FAMILY,
            "family: {budget_exponent: 3}",
            r"family: budget_exponent must be in \[0, 2\], but got 3",
        ),
        (SHIPPED_FAMILY, "family: {epochs: 0}", r"family: epochs must be >= 1"),
        (SHIPPED_FAMILY, "family: {batch_size: 0}", r"family: batch_size must be >= 1"),
        (SHIPPED_FAMILY, "family: {phi: []}", r"family: phi must list at least one"),
        (SHIPPED_FAMILY, "family: {epoch: 3}", r"family\.epoch: unknown key"),
    ],
)
def test_broken_space_names_file_key_and_rule(
    tmp_path: Path, old: str, new: str, message: str
) -> None:
    assert old in VALID
    path = tmp_path / "broken.yaml"
    path.write_text(VALID.replace(old, new, 1))
    with pytest.raises(SpaceError, match=message) as info:
        load_space(path)
    assert str(info.value).startswith(str(path))


def test_the_family_trains_by_its_own_rule() -> None:
    """Epochs grow with the member's cost as (MACs ratio)^k, capped; images replace the
    proxy's; no family section trains as the proxy."""
    from scalesearch.search.settings import FamilySettings
    from scalesearch.train.config import ProxyConfig

    proxy = ProxyConfig(epochs=2, max_train_images=1200, val_images=2400)
    assert FamilySettings().trains_as_proxy and FamilySettings().training(proxy, 6.25) == proxy
    rule = FamilySettings(epochs=4, max_train_images=6000, budget_exponent=0.5, max_epochs=9)
    assert not rule.trains_as_proxy
    assert [rule.training(proxy, r).epochs for r in (1.0, 2.5, 6.25, 39.0)] == [4, 6, 10 - 1, 9]
    trained = rule.training(proxy, 1.0)
    assert trained.max_train_images == 6000 and trained.val_images == 2400
    space = load_space("cmt_compound")
    assert space.family_phi == space.family.phi == (0, 1, 2)
    assert space.family.training(space.proxy, 6.25).batch_size == 32


def test_broken_stage_choices(tmp_path: Path) -> None:
    text = (spaces_dir() / "hybrid_compound.yaml").read_text()
    path = tmp_path / "h.yaml"
    path.write_text(text.replace("attention: [conv, light]", "attention: [conv, window]", 1))
    with pytest.raises(
        SpaceError,
        match=r"stage_choices\[0\]\.attention: 'window' is not one of linear, conv, light",
    ):
        load_space(path)
    path.write_text(text.replace("ffn: [mlp, irffn]", "ffn: []", 1))
    with pytest.raises(SpaceError, match=r"stage_choices\[0\]\.ffn: the list of options is empty"):
        load_space(path)


def test_unknown_space_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(
        SpaceError, match=r"unknown search space 'nope'; known spaces: cmt_compound"
    ):
        load_space("nope")
    with pytest.raises(SpaceError, match=r"no such search-space file"):
        load_space(tmp_path / "missing.yaml")
    empty = tmp_path / "empty.yaml"
    empty.write_text("- just\n- a list\n")
    with pytest.raises(SpaceError, match=r"must be a mapping of keys, but got list"):
        load_space(empty)


def test_scale_cli_json(capsys) -> None:
    assert main(["scale", "--space", "cmt_compound", "--phi", "0", "1", "2", "3", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["phi"] for r in rows] == [0, 1, 2, 3]
    assert [r["resolution"] for r in rows] == [48, 56, 64, 72]
    assert rows[0]["macs_ratio"] is None
    assert all(2.0 <= r["macs_ratio"] <= 3.0 for r in rows[1:])
    assert all({"params", "macs", "spec"} <= set(r) for r in rows)


def test_scale_cli_solves_gamma_and_rejects_off_constraint(capsys) -> None:
    assert (
        main(
            [
                "scale",
                "--space",
                "cmt_compound",
                "--phi",
                "1",
                "--alpha",
                "1.4",
                "--beta",
                "1.2",
                "--json",
            ]
        )
        == 0
    )
    row = json.loads(capsys.readouterr().out)[0]
    assert row["alpha"] * row["beta"] ** 1.5 * row["gamma"] ** 2 == pytest.approx(2.5)
    assert (
        main(
            ["scale", "--space", "cmt_compound", "--alpha", "2", "--beta", "1.3", "--gamma", "1.15"]
        )
        == 2
    )
    assert "but got 3.920" in capsys.readouterr().err


def test_describe_space_member(capsys) -> None:
    assert main(["describe", "cmt_compound", "--phi", "2", "--json"]) == 0
    desc = json.loads(capsys.readouterr().out)
    assert desc["resolution"] == 64 and desc["name"] == "cmt_compound-phi2"
    assert main(["describe", "cvt-13", "--phi", "1"]) == 2


def test_spaces_cli_lists_descriptions(capsys) -> None:
    assert main(["spaces"]) == 0
    out = capsys.readouterr().out
    assert "cmt_compound" in out and "CMT's rule" in out


@pytest.mark.slow
def test_spaces_and_datasets_ship_inside_the_wheel(tmp_path: Path) -> None:
    root = Path(__file__).parent.parent
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(root)],
        check=True,
        capture_output=True,
    )
    (wheel,) = tmp_path.glob("scalesearch-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    for space in SPACES:
        assert f"scalesearch/search_spaces/{space}.yaml" in names
    for entry in EMBEDDED.values():  # the shipped datasets and their licences travel too
        assert {f"scalesearch/data/{entry.file}", f"scalesearch/data/{entry.notice}"} <= set(names)
