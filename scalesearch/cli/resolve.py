"""Turns a MODEL argument of the CLI into a spec: a preset name, or a space member."""

from __future__ import annotations

from scalesearch.arch.equal_cost import Member
from scalesearch.arch.presets import PRESETS, get_preset
from scalesearch.arch.scaling import ConstraintError
from scalesearch.arch.spec import ArchSpec
from scalesearch.errors import UnknownModelError
from scalesearch.search.space import Coefficients, SearchSpace, list_spaces, load_space
from scalesearch.train.config import ProxyConfig


def _is_space(model: str) -> bool:
    """A space name or YAML path, and not a preset (presets win a name clash)."""
    return model.lower() not in PRESETS and (
        model in list_spaces() or model.endswith((".yaml", ".yml"))
    )


def coefficients_for(
    space: SearchSpace, alpha: float | None, beta: float | None, gamma: float | None
) -> Coefficients:
    """The space's defaults overridden by what was given; γ solved from α and β if omitted
    while either was given, so a user can move along the constraint with two numbers."""
    d = space.scaling.defaults
    if alpha is None and beta is None and gamma is None:
        return d
    a = d.alpha if alpha is None else alpha
    b = d.beta if beta is None else beta
    if gamma is None:
        gamma = space.scaling.constraint.solve_gamma(a, b)
    return Coefficients(a, b, gamma)


def spec_from_argument(
    model: str,
    phi: float | None = None,
    alpha: float | None = None,
    beta: float | None = None,
    gamma: float | None = None,
) -> ArchSpec:
    """A preset (no coefficients allowed) or the member of space `model` at `phi` (default 0)."""
    found = member_from_argument(model, phi, alpha, beta, gamma)
    return found if isinstance(found, ArchSpec) else found.spec


def member_from_argument(
    model: str,
    phi: float | None = None,
    alpha: float | None = None,
    beta: float | None = None,
    gamma: float | None = None,
) -> ArchSpec | Member:
    """A preset's spec, or the realised member (with its target cost) of space `model`.

    Raises:
        UnknownModelError: `model` is neither a preset nor a space (naming both lists).
        ConstraintError: the coefficients are off the space's constraint, or were given
            with a preset.
    """
    scaling_given = any(v is not None for v in (phi, alpha, beta, gamma))
    if model.lower() in PRESETS:
        if scaling_given:
            raise ConstraintError(
                f"{model} is a preset; --phi/--alpha/--beta/--gamma apply to a search space "
                f"({', '.join(list_spaces())})"
            )
        return get_preset(model)
    if _is_space(model):
        space = load_space(model)
        return space.realize(
            0.0 if phi is None else phi, coefficients_for(space, alpha, beta, gamma)
        )
    raise UnknownModelError(
        f"unknown model {model!r}; known presets: {', '.join(PRESETS)}; "
        f"known spaces: {', '.join(list_spaces())}"
    )


def proxy_config_for(model: str) -> ProxyConfig:
    """A space's own proxy settings for its members; the defaults for presets."""
    if _is_space(model):
        return load_space(model).proxy
    return ProxyConfig()
