"""What a proxy trial trains and validates on, and what its seed fixes, part by part."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from scalesearch.train.config import ProxyConfig
from scalesearch.train.splits import Dataset, Split


@dataclass(frozen=True)
class SeedParts:
    """What a seed fixes, part by part: the training subset, the validation images, the
    initialisation, and the data order and augmentation (with dropout). A proxy trains with
    one seed for all (`of`); `bench/proxy_noise.py` varies one part at a time to measure each
    part's share of the seed noise. Every part but the initialisation is the same for every
    architecture at a seed: two architectures trained at one seed are a paired comparison."""

    subset: int
    validation: int
    init: int
    order: int

    @classmethod
    def of(cls, config: ProxyConfig) -> SeedParts:
        seed = config.seed
        validation = seed if config.val_seed is None else config.val_seed
        return cls(seed, validation, seed, seed)


def proxy_splits(
    data: Dataset, config: ProxyConfig, seeds: SeedParts | None = None
) -> tuple[Split, Split]:
    """(train, validation) of a proxy trial, seeded (`seeds`: the config's by default).

    Training: the share of the training split given by `subset` and `max_train_images`.
    Validation: the dataset's validation split, or with `val_images` that many images drawn
    from it and from training images the proxy does not train on, so that a proxy on 1,200
    images is ranked on thousands (its binomial standard error shrinks as 1/√n), or on all
    of them where fewer are left.

    With one seed for both (0.2's rule) the validation draws on what that seed's subset
    left over. Where the subset and the validation images have seeds of their own
    (`val_seed`: the same validation images for every seed), the training images the
    validation may need are reserved once, the same for every seed, and subsets are drawn
    from the rest: the two parts then vary independently and never overlap.
    """
    seeds = seeds or SeedParts.of(config)
    n = len(data.train)
    keep = max(1, int(round(n * config.subset)))
    if config.max_train_images is not None:
        keep = min(keep, config.max_train_images)
    if config.val_images is None:
        return _subset(data.train, range(n), keep, seeds.subset), data.val
    if config.val_seed is None and seeds.validation == seeds.subset:
        order = torch.randperm(n, generator=torch.Generator().manual_seed(seeds.subset + 7))
        train = _take(data.train, order[:keep].sort().values) if keep < n else data.train
        return train, _validation(
            data.val, _take(data.train, order[keep:].sort().values), config, seeds
        )
    reserve = min(max(0, config.val_images - len(data.val)), n - keep)
    fixed = torch.randperm(n, generator=torch.Generator().manual_seed(RESERVE_SEED)).tolist()
    train = _subset(data.train, sorted(fixed[reserve:]), keep, seeds.subset)
    return train, _validation(
        data.val,
        _take(data.train, torch.tensor(sorted(fixed[:reserve]), dtype=torch.long)),
        config,
        seeds,
    )


RESERVE_SEED = 7919  # fixes the training images reserved for validation, for every seed


def _subset(split: Split, pool, keep: int, seed: int) -> Split:
    """`keep` images of `split` drawn from the indices `pool` with `seed` (all of it when it
    holds no more)."""
    pool = torch.as_tensor(list(pool), dtype=torch.long)
    if keep >= len(pool):
        return _take(split, pool) if len(pool) < len(split) else split
    pick = torch.randperm(len(pool), generator=torch.Generator().manual_seed(seed + 7))
    return _take(split, pool[pick[:keep]].sort().values)


def _validation(val: Split, spare: Split, config: ProxyConfig, seeds: SeedParts) -> Split:
    """`val_images` images drawn from the validation split and the spare training images.
    A dataset smaller than the space was sized for (e.g. --dataset digits) validates on all
    it has; the result records how many, and its standard error follows."""
    pool = Split(torch.cat([val.images, spare.images]), torch.cat([val.labels, spare.labels]))
    pick = torch.randperm(len(pool), generator=torch.Generator().manual_seed(seeds.validation + 11))
    return _take(pool, pick[: config.val_images].sort().values)


def _take(split: Split, index: torch.Tensor) -> Split:
    return Split(split.images[index], split.labels[index])
