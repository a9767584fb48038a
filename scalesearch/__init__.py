"""scalesearch: neural-architecture scaling search for hybrid conv-transformer classifiers.

The public API, for use from Python (the CLI is `scalesearch.cli.app`):

    from scalesearch import build_model, load_space, scale_spec, count_cost
    spec = load_space("cmt_compound").member(phi=1)
    model = build_model(spec)

Names are imported on first use (PEP 562), so `import scalesearch` stays cheap and the CLI
starts without loading torch until a command needs it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__all__ = [
    "ArchSpec",
    "HybridNet",
    "build_model",
    "load",
    "list_presets",
    "get_preset",
    "count_cost",
    "scale_spec",
    "Constraint",
    "SearchSpace",
    "Coefficients",
    "load_space",
    "list_spaces",
    "ProxyConfig",
    "load_dataset",
    "train_proxy",
    "RunConfig",
    "run_search",
    "open_run",
    "search_frontier",
    "family_frontier",
    "load_study",
    "ScaleSearchError",
]

_HOMES = {
    "ArchSpec": "scalesearch.arch.spec",
    "HybridNet": "scalesearch.arch.model",
    "build_model": "scalesearch.arch.model",
    "load": "scalesearch.arch.bundle",
    "list_presets": "scalesearch.arch.presets",
    "get_preset": "scalesearch.arch.presets",
    "count_cost": "scalesearch.arch.cost",
    "scale_spec": "scalesearch.arch.scaling",
    "Constraint": "scalesearch.arch.scaling",
    "SearchSpace": "scalesearch.search.space",
    "Coefficients": "scalesearch.search.space",
    "load_space": "scalesearch.search.space",
    "list_spaces": "scalesearch.search.space",
    "ProxyConfig": "scalesearch.train.config",
    "load_dataset": "scalesearch.train.data",
    "train_proxy": "scalesearch.train.proxy",
    "RunConfig": "scalesearch.search.config",
    "run_search": "scalesearch.search.run.pipeline",
    "open_run": "scalesearch.search.store.studies",
    "search_frontier": "scalesearch.search.results.frontier",
    "family_frontier": "scalesearch.search.results.frontier",
    "load_study": "scalesearch.search.store.storage",
    "ScaleSearchError": "scalesearch.errors",
}

if TYPE_CHECKING:
    from scalesearch.arch.bundle import load
    from scalesearch.arch.cost import count_cost
    from scalesearch.arch.model import HybridNet, build_model
    from scalesearch.arch.presets import get_preset, list_presets
    from scalesearch.arch.scaling import Constraint, scale_spec
    from scalesearch.arch.spec import ArchSpec
    from scalesearch.errors import ScaleSearchError
    from scalesearch.search.config import RunConfig
    from scalesearch.search.results.frontier import family_frontier, search_frontier
    from scalesearch.search.run.pipeline import run_search
    from scalesearch.search.space import Coefficients, SearchSpace, list_spaces, load_space
    from scalesearch.search.store.storage import load_study
    from scalesearch.search.store.studies import open_run
    from scalesearch.train.config import ProxyConfig
    from scalesearch.train.data import load_dataset
    from scalesearch.train.proxy import train_proxy


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module 'scalesearch' has no attribute {name!r}")
    return getattr(importlib.import_module(_HOMES[name]), name)


def __dir__() -> list[str]:
    return sorted(__all__)
