"""What a run records on its studies (Optuna user attributes): the space and proxy settings
it ran with, the version that made it, its layout and the links between its studies, the
drivers' budgets and the measured seed noise. `RunStudies` reads them; a study made
elsewhere has none of them.
"""

from __future__ import annotations

import json

import optuna

from scalesearch.decode import decode, encode
from scalesearch.errors import DecodeError, StudyError
from scalesearch.search.space import SearchSpace
from scalesearch.search.store.schema import (
    BUDGET_PREFIX,
    LAYOUT,
    MADE_BY,
    PHASE_OF_STUDY,
    PHASE_STUDY_PREFIX,
    RUN_OF,
    RUN_PROXY,
    SEED_NOISE,
    SPACE_JSON,
    SPACE_NAME,
    SPLIT,
)
from scalesearch.search.store.storage import open_storage
from scalesearch.train.config import ProxyConfig


def bind_run(study: optuna.Study, space: SearchSpace, proxy: ProxyConfig) -> None:
    """Binds a new run's search study to its space, its proxy settings and this version, in
    the layout of a study per fidelity (0.3 on)."""
    store_space(study, space)
    store_run_proxy(study, proxy)
    mark_split(study)


def stored_space(study: optuna.Study) -> SearchSpace | None:
    """The space the study was run with (None for a study made elsewhere).

    Raises:
        StudyError: the stored space no longer decodes (written by an incompatible version).
    """
    text = study.user_attrs.get(SPACE_JSON)
    if text is None:
        return None
    try:
        return decode(SearchSpace, json.loads(text))
    except DecodeError as err:
        raise StudyError(
            f"study {study.study_name!r}: its stored space does not load ({err}); was it "
            f"written by another scalesearch version?"
        ) from None


def store_space(study: optuna.Study, space: SearchSpace) -> None:
    """Binds the study to its space (name and full JSON) and records the version that made
    it, on first use only."""
    from importlib.metadata import version

    study.set_user_attr(SPACE_NAME, space.name)
    study.set_user_attr(SPACE_JSON, json.dumps(encode(space)))
    study.set_user_attr(MADE_BY, version("scalesearch"))


def made_by(study: optuna.Study) -> str | None:
    """The scalesearch version that made the study (None before 0.4, which did not say)."""
    return study.user_attrs.get(MADE_BY)


def store_run_proxy(study: optuna.Study, proxy: ProxyConfig) -> None:
    study.set_user_attr(RUN_PROXY, json.dumps(encode(proxy)))


def stored_run_proxy(study: optuna.Study) -> ProxyConfig | None:
    """The proxy settings of the run that created the study (None for older studies)."""
    text = study.user_attrs.get(RUN_PROXY)
    return None if text is None else decode(ProxyConfig, json.loads(text))


def space_name(study: optuna.Study) -> str | None:
    return study.user_attrs.get(SPACE_NAME)


def copy_run_attrs(search: optuna.Study, phase_study: optuna.Study) -> None:
    """Binds a phase study to its run's space and proxy settings, as the search study is."""
    for key in (SPACE_NAME, SPACE_JSON, RUN_PROXY, MADE_BY):
        if key in search.user_attrs:
            phase_study.set_user_attr(key, search.user_attrs[key])


def store_seed_noise(study: optuna.Study, noise: float) -> None:
    study.set_user_attr(SEED_NOISE, noise)


def mark_split(study: optuna.Study) -> None:
    """Records that the run keeps each fidelity in a study of its own (0.3 on)."""
    study.set_user_attr(LAYOUT, SPLIT)


def is_split(study: optuna.Study) -> bool:
    """The run keeps each fidelity in a study of its own (else: a 0.2 study, all in one)."""
    return study.user_attrs.get(LAYOUT) == SPLIT


def link_phase_study(search: optuna.Study, phase_study: optuna.Study, phase: str) -> None:
    """Names the phase study on the run's search study, and the run on the phase study."""
    search.set_user_attr(PHASE_STUDY_PREFIX + phase, phase_study.study_name)
    phase_study.set_user_attr(RUN_OF, search.study_name)
    phase_study.set_user_attr(PHASE_OF_STUDY, phase)


def run_of(study: optuna.Study) -> str | None:
    """The run (its search study's name) a phase study belongs to; None for a search study."""
    return study.user_attrs.get(RUN_OF)


def phase_studies(study: optuna.Study) -> dict[str, str]:
    """A search study's phase studies by phase ("family", "ablation")."""
    attrs = study.user_attrs
    return {
        k[len(PHASE_STUDY_PREFIX) :]: v
        for k, v in attrs.items()
        if k.startswith(PHASE_STUDY_PREFIX)
    }


def add_budget(study: optuna.Study, driver: str, trials: int) -> None:
    study.set_user_attr(BUDGET_PREFIX + driver, trials)


def search_budget(study: optuna.Study) -> int | None:
    """The study's search budget: the sum of its drivers' budgets (None if none was set)."""
    budgets = [v for k, v in study.user_attrs.items() if k.startswith(BUDGET_PREFIX)]
    return sum(budgets) if budgets else None


def run_names(url: str) -> list[str]:
    """The runs in a storage: its studies less the phase studies (NAME.family, ...), read
    from the studies' attributes (Optuna's summaries would read every study's trials)."""
    studies = open_storage(url).get_all_studies()
    return [s.study_name for s in studies if RUN_OF not in s.user_attrs]
