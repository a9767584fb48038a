"""Proxy training: it learns, it is reproducible, it survives divergence and early stops."""

from __future__ import annotations

import dataclasses
import json
import math

import pytest

from scalesearch.cli.main import main
from scalesearch.search.space import load_space
from scalesearch.train.config import ProxyConfig
from scalesearch.train.data import load_dataset
from scalesearch.train.proxy import train_proxy, warmup_cosine
from scalesearch.train.proxy_data import SeedParts, proxy_splits


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits")


@pytest.fixture(scope="module")
def tiny_member():
    # A small member of the CMT family: 40×40 input, 5.5 MMACs.
    return load_space("cmt_compound").member(-2)


@pytest.mark.slow
def test_proxy_learns_mnist(tiny_member) -> None:
    result = train_proxy(tiny_member, load_dataset("mnist"), ProxyConfig(epochs=2))
    assert result.status == "completed" and len(result.val_accuracies) == 2
    # Measured 86.75% ± 1.7 (2 epochs, 3,600 images, one thread, 7 s) for the equal-cost φ = -2
    # member (2.5 MMACs: the base's 15.6 / 2.5²); chance is 10%.
    assert result.val_accuracy >= 0.80
    assert result.train_losses[1] < result.train_losses[0]
    assert result.macs == pytest.approx(15.63e6 / 2.5**2, rel=0.1) and result.images_per_second > 0
    assert result.val_images == 400 and 0.01 < result.val_accuracy_se < 0.03


def test_validation_uses_the_images_the_proxy_does_not_train_on(tiny_member) -> None:
    data = load_dataset("mnist")
    config = ProxyConfig(epochs=1, max_train_images=200, val_images=900)
    train, val = proxy_splits(data, config)
    assert len(train) == 200 and len(val) == 900
    seen = {bytes(x.numpy()) for x in train.images}
    assert not any(bytes(x.numpy()) in seen for x in val.images[:200])  # no training image
    assert proxy_splits(data, config)[1].labels.tolist() == val.labels.tolist()  # seeded
    capped = proxy_splits(data, ProxyConfig(max_train_images=200, val_images=50_000))[1]
    assert len(capped) == len(data.val) + len(data.train) - 200  # all it has, never a train image


def test_seeded_runs_are_identical(tiny_member, digits) -> None:
    config = ProxyConfig(dataset="digits", epochs=1, max_train_images=256, seed=5)
    a = train_proxy(tiny_member, digits, config)
    b = train_proxy(tiny_member, digits, config)
    assert a.val_accuracies == b.val_accuracies
    assert a.train_loss_sum == b.train_loss_sum


def test_non_finite_loss_ends_with_a_reason(tiny_member, digits) -> None:
    config = ProxyConfig(dataset="digits", epochs=2, lr=1e30, max_train_images=256, warmup_epochs=0)
    result = train_proxy(tiny_member, digits, config)
    assert result.status == "diverged"
    assert result.reason.startswith("non-finite training loss at epoch 1")
    assert result.val_accuracies == []


def test_callback_stops_after_an_epoch(tiny_member, digits) -> None:
    seen = []

    def stop_after_first(epoch) -> bool:
        seen.append(epoch.epoch)
        return False

    config = ProxyConfig(dataset="digits", epochs=3, max_train_images=128)
    result = train_proxy(tiny_member, digits, config, on_epoch=stop_after_first)
    assert seen == [1]
    assert result.status == "stopped" and result.reason == "stopped after epoch 1 by the caller"
    assert len(result.val_accuracies) == 1


def test_warmup_then_cosine() -> None:
    assert warmup_cosine(0, 4, 20) == pytest.approx(0.25)
    assert warmup_cosine(3, 4, 20) == pytest.approx(1.0)
    assert warmup_cosine(12, 4, 20) == pytest.approx(0.5)
    assert warmup_cosine(20, 4, 20) == pytest.approx(0.0)


def test_proxy_config_rejects_bad_values() -> None:
    with pytest.raises(
        ValueError, match=r"dataset must be one of fashion-mnist-12k, mnist, .*but got 'imagenet'"
    ):
        ProxyConfig(dataset="imagenet")
    with pytest.raises(ValueError, match=r"subset must be in \(0, 1\], but got subset=0"):
        ProxyConfig(subset=0)


def test_proxy_cli_json(capsys) -> None:
    assert (
        main(
            [
                "proxy",
                "cmt_compound",
                "--phi",
                "-2",
                "--dataset",
                "digits",
                "--epochs",
                "1",
                "--max-train-images",
                "128",
                "--json",
            ]
        )
        == 0
    )
    out = json.loads(capsys.readouterr().out)
    for key in ("val_accuracy", "params", "macs", "seconds", "images_per_second"):
        assert key in out
    member = load_space("cmt_compound").member(-2)
    assert out["dataset"] == "digits" and out["resolution"] == member.resolution
    assert out["val_images"] > 0 and 0 < out["val_accuracy_se"] < 0.5
    assert 0 <= out["val_accuracy"] <= 1 and math.isfinite(out["train_loss_sum"])


def test_proxy_cli_bad_dataset(capsys) -> None:
    assert main(["proxy", "cmt-ti", "--dataset", "cifar10"]) == 2
    assert "give its folder with --data-dir" in capsys.readouterr().err


def _unique_images(n: int, classes: int = 4, val: int = 100):
    """A dataset whose every image is its own index (two pixels): overlaps are visible."""
    import torch

    from scalesearch.train.splits import Dataset, Split

    def split(start: int, count: int) -> Split:
        index = torch.arange(start, start + count)
        images = torch.zeros(count, 1, 8, 8, dtype=torch.uint8)
        images[:, 0, 0, 0], images[:, 0, 0, 1] = index // 256, index % 256
        return Split(images, index % classes)

    return Dataset("unique", split(0, n), split(n, val), split(n + val, 50), classes, False)


def _ids(split) -> set[int]:
    return {int(x[0, 0, 0]) * 256 + int(x[0, 0, 1]) for x in split.images}


def test_a_fixed_validation_set_is_every_seed_s_and_never_trained_on() -> None:
    """`val_seed`: seeds differ by their training alone; the validation images are the same
    for every seed (and architecture), reserved once from the training split."""
    data = _unique_images(1000)
    config = ProxyConfig(max_train_images=300, val_images=400, val_seed=0)
    splits = [proxy_splits(data, dataclasses.replace(config, seed=s)) for s in range(3)]
    validations = [_ids(v) for _, v in splits]
    trains = [_ids(t) for t, _ in splits]
    assert validations[0] == validations[1] == validations[2] and len(validations[0]) == 400
    assert trains[0] != trains[1] and all(len(t) == 300 for t in trains)
    assert all(not (t & validations[0]) for t in trains)


def test_the_parts_of_a_seed_vary_one_at_a_time() -> None:
    data = _unique_images(1000, val=600)  # the validation draws 400 of 600: seeds differ
    config = ProxyConfig(max_train_images=300, val_images=400, val_seed=0)
    base = proxy_splits(data, config, SeedParts(0, 0, 0, 0))
    other_subset = proxy_splits(data, config, SeedParts(1, 0, 0, 0))
    other_validation = proxy_splits(data, config, SeedParts(0, 1, 0, 0))
    assert _ids(other_subset[1]) == _ids(base[1]) and _ids(other_subset[0]) != _ids(base[0])
    assert _ids(other_validation[0]) == _ids(base[0]) and _ids(other_validation[1]) != _ids(base[1])
    for train, val in (base, other_subset, other_validation):
        assert not (_ids(train) & _ids(val))
    # Without val_seed, one seed for all parts keeps 0.2's rule: the validation draws on what
    # that seed's subset left over.
    old = proxy_splits(data, dataclasses.replace(config, val_seed=None))
    assert _ids(old[1]) != _ids(base[1]) and not (_ids(old[0]) & _ids(old[1]))


def test_the_initialisation_and_the_data_order_are_seeded_apart(tiny_member, digits) -> None:
    config = ProxyConfig(dataset="digits", epochs=1, max_train_images=128)
    base = train_proxy(tiny_member, digits, config, seeds=SeedParts(0, 0, 0, 0))
    init = train_proxy(tiny_member, digits, config, seeds=SeedParts(0, 0, 1, 0))
    order = train_proxy(tiny_member, digits, config, seeds=SeedParts(0, 0, 0, 1))
    again = train_proxy(tiny_member, digits, config, seeds=SeedParts(0, 0, 1, 0))
    assert len({base.train_loss_sum, init.train_loss_sum, order.train_loss_sum}) == 3
    assert again.train_loss_sum == init.train_loss_sum


def test_a_moving_average_of_the_weights_is_what_validates(tiny_member, digits) -> None:
    config = ProxyConfig(dataset="digits", epochs=2, max_train_images=128, seed=3)
    last = train_proxy(tiny_member, digits, config)
    averaged = train_proxy(tiny_member, digits, dataclasses.replace(config, ema_horizon=0.3))
    assert averaged.train_loss_sum == last.train_loss_sum  # the training itself is the same
    assert averaged.epochs[-1].val_loss != last.epochs[-1].val_loss


def test_validation_with_the_mirror_averages_both_views() -> None:
    import torch

    from scalesearch.train.loop import Batching, evaluate
    from scalesearch.train.splits import Split

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 8 * 8, 3))
    images = torch.randint(0, 256, (10, 1, 8, 8), dtype=torch.uint8)
    split = Split(images, torch.arange(10) % 3)
    batching = Batching(8, True, torch.device("cpu"))
    accuracy, loss = evaluate(model, split, batching, tta_flip=True)
    x = batching.inputs(images, train=False, generator=None)
    mean = (model(x).log_softmax(1) + model(x.flip(-1)).log_softmax(1)) / 2
    expected = torch.nn.functional.cross_entropy(mean, split.labels).item()
    assert loss == pytest.approx(expected, rel=1e-5)
    assert accuracy == pytest.approx((mean.argmax(1) == split.labels).float().mean().item())


def test_a_rung_validates_on_a_share_and_the_result_on_all(tiny_member, digits) -> None:
    config = ProxyConfig(dataset="digits", epochs=2, max_train_images=128, val_images=150)
    result = train_proxy(tiny_member, digits, dataclasses.replace(config, rung_val_images=20))
    full = train_proxy(tiny_member, digits, config)
    assert round(result.val_accuracies[0] * 20, 6).is_integer()  # measured on 20 images
    assert result.val_accuracies[1] == full.val_accuracies[1]  # the result: all 150, as before
    assert result.val_images == 150
