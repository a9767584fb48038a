"""One proxy trial as Ray runs it, without Ray: `run_trial(config, report, node_id)`.

`scalesearch.search.run.tune.proxy_trial` (the Tune trainable) calls it with Tune's `report`; tests
call it with a list's `append`. The dataset is loaded once per worker process (Tune reuses
actors) and shared by its trials.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from scalesearch.arch.spec import ArchSpec
from scalesearch.decode import decode
from scalesearch.search.run.outcome import ProxyOutcome
from scalesearch.train.config import ProxyConfig


@dataclass(frozen=True)
class TrialConfig:
    """What a proxy trial is given: its spec and proxy settings (as JSON, exactly as
    recorded), its data folder, seed, counted MACs and the second latency batch. Tune
    carries it as a plain dict (`to_tune`), which the trainable reads back (`from_tune`)."""

    spec: str
    proxy: str
    data_dir: str | None
    seed: int
    macs: int
    latency_batch: int | None = 8

    def to_tune(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_tune(cls, config: dict[str, Any]) -> TrialConfig:
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in config.items() if k in names})


@functools.lru_cache(maxsize=4)
def _cached_dataset(
    name: str, data_dir: str | None, resolution: int, seed: int, max_images: int | None
):
    """Loaded once per worker process (Tune reuses actors), then shared by its trials."""
    from scalesearch.train.data import load_dataset

    return load_dataset(name, data_dir, resolution=resolution, seed=seed, max_images=max_images)


# Datasets whose tensors do not depend on the member's input size: the driver loads them once
# and shares them with every worker (image folders and the synthetic set are decoded at it).
SHAREABLE = ("fashion-mnist-12k", "mnist", "digits", "fashion-mnist", "idx", "cifar10", "cifar100")


def run_trial(
    config: TrialConfig,
    report: Callable[[dict], None],
    node_id: str | None,
    data=None,
    stop_requested: Callable[[], bool] | None = None,
) -> None:
    """Trains one spec, reports each epoch, then a `ProxyOutcome`, through `report`.

    `data`: the dataset when the caller shares one (Ray's object store); else it is loaded
    here, once per worker process. `stop_requested`: asked after each reported epoch; True
    ends the training there (the driver stopped it early) with a "stopped" outcome. Errors
    are reported as an outcome with the message (so the study records the reason), never
    raised.
    """
    from scalesearch.train.proxy import train_proxy, train_resolution

    try:
        spec = ArchSpec.from_json(config.spec)
        proxy = decode(ProxyConfig, json.loads(config.proxy))
        data = data or _cached_dataset(
            proxy.dataset,
            config.data_dir,
            train_resolution(spec, proxy),  # where images are decoded (image folders)
            config.seed,
            proxy.images_needed,
        )

        latency_ms: list[float] = []  # batch 1, measured before the first epoch

        def on_latency(measured) -> None:
            latency_ms.append(measured.ms_batch1)

        def on_epoch(epoch) -> bool:
            # The last epoch is reported once, as the outcome below: it needs no decision.
            if epoch.epoch == proxy.epochs:
                return True
            report(
                {
                    "epoch": epoch.epoch,
                    "val_accuracy": epoch.val_accuracy,
                    "val_loss": epoch.val_loss,
                    "node_id": node_id,
                    "latency_ms": latency_ms[0] if latency_ms else None,
                }
            )
            return stop_requested is None or not stop_requested()

        result = train_proxy(
            spec,
            data,
            proxy,
            on_epoch=on_epoch,
            macs=config.macs,
            latency_batch=config.latency_batch,
            on_latency=on_latency,
        )
        outcome = ProxyOutcome.from_result(result, node_id)
    except Exception as err:  # noqa: BLE001 - reported to the study, not lost
        outcome = ProxyOutcome(
            status="error", reason=f"{type(err).__name__}: {err}", node_id=node_id
        )
        traceback.print_exc(limit=5)  # into the worker's log in the run folder
    report(outcome.to_report())
