"""How a proxy trial trains (`ProxyConfig`): the `proxy:` section of a space, also used alone."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass

from scalesearch.errors import ConfigError

DATASETS = (
    "fashion-mnist-12k",
    "mnist",
    "digits",
    "fashion-mnist",
    "idx",
    "cifar10",
    "cifar100",
    "imagefolder",
    "synthetic",
)


# Added after 0.1, with what 0.1 did: trained at the member's own size, in fp32 on CPUs and
# bf16 autocast on CUDA (which "auto" keeps, on a CPU without fast bf16); validated on images
# drawn with the training seed, with the last weights, without a mirrored view.
LATER_FIELDS = {
    "resolution_scale": 1.0,
    "precision": "auto",
    "val_seed": None,
    "ema_horizon": 0.0,
    "tta_flip": False,
    "rung_val_images": None,
}


@dataclass(frozen=True)
class ProxyConfig:
    """A short, cheap training whose ranking of architectures should match full training.

    Attributes:
        dataset: dataset name (see scalesearch.train.data.DATASETS).
        epochs: passes over the (subset of the) training split.
        batch_size: images per step.
        lr: peak AdamW learning rate, reached after `warmup_epochs`, then cosine to zero.
        weight_decay: AdamW weight decay.
        warmup_epochs: linear warm-up length, in epochs (fractions allowed).
        label_smoothing: cross-entropy label smoothing.
        grad_clip: max global gradient norm.
        subset: fraction of the training split used (seeded).
        max_train_images: cap on training images after `subset`.
        val_images: validate on this many images drawn from the validation split and the
            training images the proxy does not train on (None: the validation split alone).
        seed: fixes initialisation, data order and augmentation.
        threads: torch CPU threads (one per trial: two thrash when trials run side by side).
        eval_batch_size: images per validation step. It changes no accuracy, so training
            keys hold it at 256 whatever it is (`key_json`): 128 validates 15-40% faster
            than 256 on this project's CPUs (fp32 and bf16; bench/throughput.py).
        precision: "fp32", "bf16" or "auto" (bf16 where the device runs it fast:
            `scalesearch.train.precision`); losses and optimizer state stay fp32.
        resolution_scale: train and validate each member at this share of its input size
            (rounded to a size the network takes): a cheaper proxy for large inputs; costs
            are still counted at the member's own size.
        val_seed: draws the validation images for every seed alike (None: each seed draws
            its own, as 0.2 did), so that seeds differ by their training alone and every
            architecture is ranked on the same images.
        ema_horizon: validate an exponential moving average of the weights over this share
            of the run's steps (0: the last weights), its BatchNorm statistics recomputed
            on 256 training images (`loop.refresh_batchnorm`).
        tta_flip: validate on each image and its mirror, averaging the two predictions (only
            where mirroring keeps the label).
        rung_val_images: validate the epochs before the last on the first this many of the
            validation images (the same ones for every trial: a rung compares them), the
            last on all of them (None: every epoch on all); a rung's decision needs less
            precision than the result.
    """

    dataset: str = "mnist"
    epochs: int = 2
    batch_size: int = 64
    lr: float = 2e-3
    weight_decay: float = 0.05
    warmup_epochs: float = 0.2
    label_smoothing: float = 0.1
    grad_clip: float = 1.0
    subset: float = 1.0
    max_train_images: int | None = None
    val_images: int | None = None
    seed: int = 0
    threads: int = 1
    eval_batch_size: int = 128
    resolution_scale: float = 1.0
    precision: str = "auto"
    val_seed: int | None = None
    ema_horizon: float = 0.0
    tta_flip: bool = False
    rung_val_images: int | None = None

    def key_json(self) -> str:
        """The settings as canonical JSON for training keys (seed excluded, the validation
        batch at one value): fields added since 0.1 are left out at the value 0.1 trained
        with, so that a study from then still recognises its twins and groups its
        replicates."""
        from scalesearch.decode import encode

        # The seed is the key's other part; the validation batch changes no accuracy, and is
        # keyed at 0.1's 256 so that a study from then still finds its twins.
        data = encode(dataclasses.replace(self, seed=0, eval_batch_size=256))
        for key, old in LATER_FIELDS.items():
            if data.get(key) == old:
                del data[key]
        return json.dumps(data, sort_keys=True)

    @property
    def images_needed(self) -> int | None:
        """Images a proxy reads at most (training cap plus validation), so that a large
        image folder is not decoded in full for a proxy that uses a sliver of it."""
        if self.max_train_images is None or self.val_images is None:
            return None
        return self.max_train_images + self.val_images

    def __post_init__(self) -> None:
        if self.dataset not in DATASETS:
            raise ConfigError(
                f"dataset must be one of {', '.join(DATASETS)}, but got {self.dataset!r}"
            )
        for name in ("epochs", "batch_size", "threads", "eval_batch_size"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, but got {name}={getattr(self, name)}")
        if not 0 < self.subset <= 1:
            raise ConfigError(f"subset must be in (0, 1], but got subset={self.subset}")
        if self.lr <= 0 or self.weight_decay < 0 or self.grad_clip <= 0:
            raise ConfigError(
                f"lr and grad_clip must be > 0 and weight_decay >= 0, but got lr={self.lr}, "
                f"grad_clip={self.grad_clip}, weight_decay={self.weight_decay}"
            )
        if self.precision not in ("fp32", "bf16", "auto"):
            raise ConfigError(
                f"precision must be one of fp32, bf16, auto, but got {self.precision!r}"
            )
        if not 0 < self.resolution_scale <= 1:
            raise ConfigError(
                f"resolution_scale must be in (0, 1], but got {self.resolution_scale}"
            )
        if not 0 <= self.ema_horizon < 1:
            raise ConfigError(f"ema_horizon must be in [0, 1), but got {self.ema_horizon}")
        if self.val_seed is not None and self.val_seed < 0:
            raise ConfigError(f"val_seed must be >= 0, but got {self.val_seed}")
        if self.rung_val_images is not None and self.rung_val_images < 1:
            raise ConfigError(f"rung_val_images must be >= 1, but got {self.rung_val_images}")
        if self.val_images is not None and self.val_images < 1:
            raise ConfigError(f"val_images must be >= 1, but got {self.val_images}")
        if self.max_train_images is not None and self.max_train_images < 1:
            raise ConfigError(f"max_train_images must be >= 1, but got {self.max_train_images}")
