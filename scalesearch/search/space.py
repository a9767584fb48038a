"""Search spaces: the YAML files under search_spaces/, strictly validated.

A space is a base spec (φ = 0), the compound-scaling constraint and coefficient ranges,
optional per-stage choices of block parts, proxy-training settings, objectives and budgets.
Loading resolves a name to `search_spaces/NAME.yaml` (shipped inside the package when
installed) or reads a path; every error names the file, the key path and what is allowed.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import yaml

from scalesearch.arch.equal_cost import Member, naive_member, realize
from scalesearch.arch.scaling import Constraint, resolution_multiple
from scalesearch.arch.spec import ArchSpec, BlockSpec
from scalesearch.arch.strategies import SINGLE_DIMENSIONS, single_dimension
from scalesearch.decode import decode
from scalesearch.errors import ConstraintError, DecodeError, SpaceError
from scalesearch.search.settings import BudgetSettings, FamilySettings, SearchSettings
from scalesearch.train.config import ProxyConfig

RULES = {"cmt": (1.5, 2.5), "efficientnet": (2.0, 2.0)}
CHOOSABLE_PARTS = ("local_perception", "attention", "ffn")


@dataclass(frozen=True)
class Range:
    low: float
    high: float

    def __post_init__(self) -> None:
        if not 0 < self.low < self.high:
            raise SpaceError(
                f"a range must satisfy 0 < low < high, but got low={self.low}, high={self.high}"
            )


@dataclass(frozen=True)
class Coefficients:
    alpha: float
    beta: float
    gamma: float


@dataclass(frozen=True)
class ScalingSpec:
    """α·β^e·γ² ≈ c. `rule` names a published constraint (cmt: e=1.5, c=2.5; efficientnet:
    e=2, c=2) or is "custom", giving `width_exponent` and `target` itself. Optimizers
    sample α and β within their ranges and solve γ, which must fall in `gamma`.

    `tolerance` bounds both the coefficients' distance from the constraint and, with
    `equal_cost` (the default), a member's counted MACs from the base's × c^φ: members are
    then realised at equal cost (`scalesearch.arch.equal_cost`), not by naive rounding."""

    alpha: Range
    beta: Range
    gamma: Range
    defaults: Coefficients
    rule: Literal["cmt", "efficientnet", "custom"] = "cmt"
    width_exponent: float | None = None
    target: float | None = None
    tolerance: float = 0.1
    equal_cost: bool = True
    search_phi: float = 1.0
    family_phi: tuple[float, ...] = (0.0, 1.0, 2.0, 3.0)

    def __post_init__(self) -> None:
        named = self.rule != "custom"
        given = (self.width_exponent is not None, self.target is not None)
        if named and any(given):
            raise SpaceError(
                f"rule {self.rule!r} fixes width_exponent and target; remove them or use "
                f"rule: custom"
            )
        if not named and not all(given):
            raise SpaceError("rule 'custom' needs both width_exponent and target")
        if not 0 < self.tolerance < 1:
            raise SpaceError(f"tolerance must be in (0, 1), but got {self.tolerance}")
        if not self.family_phi:
            raise SpaceError("family_phi must list at least one phi")

    @property
    def constraint(self) -> Constraint:
        exponent, target = RULES.get(self.rule, (self.width_exponent, self.target))
        return Constraint(exponent, target, self.tolerance)


@dataclass(frozen=True)
class SearchSpace:
    """A validated search space (see search_spaces/*.yaml)."""

    name: str
    description: str
    base: ArchSpec
    scaling: ScalingSpec
    proxy: ProxyConfig = ProxyConfig()
    search: SearchSettings = SearchSettings()
    family: FamilySettings = FamilySettings()
    budget: BudgetSettings = BudgetSettings()
    # Per stage, the block parts a trial may choose: {"attention": ["conv", "light"], ...}.
    stage_choices: tuple[dict[str, tuple[str, ...]], ...] = ()

    def __post_init__(self) -> None:
        if self.stage_choices and len(self.stage_choices) != len(self.base.stages):
            raise SpaceError(
                f"stage_choices must have one entry per base stage ({len(self.base.stages)}), "
                f"but got {len(self.stage_choices)}"
            )
        for i, choices in enumerate(self.stage_choices):
            for part, options in choices.items():
                _check_part(i, part, options)
        self._check_feasible()

    def _check_feasible(self) -> None:
        s, constraint = self.scaling, self.scaling.constraint
        # γ solved from (α, β) falls as α and β grow: the corners bound it.
        lowest = constraint.solve_gamma(s.alpha.high, s.beta.high)
        highest = constraint.solve_gamma(s.alpha.low, s.beta.low)
        if highest < s.gamma.low or lowest > s.gamma.high:
            raise SpaceError(
                f"scaling: no (alpha, beta) in the ranges puts gamma in [{s.gamma.low}, "
                f"{s.gamma.high}]: the constraint gives gamma in [{lowest:.3f}, "
                f"{highest:.3f}]; widen the ranges or change the target"
            )
        d = s.defaults
        try:
            constraint.check(d.alpha, d.beta, d.gamma)
        except ConstraintError as err:
            raise SpaceError(f"scaling.defaults: {err}") from err
        step = resolution_multiple(self.base)
        if self.base.resolution % step:
            raise SpaceError(
                f"base.resolution must be a multiple of {step} (the network's stride and "
                f"reductions), but got {self.base.resolution}"
            )

    @property
    def family_phi(self) -> tuple[float, ...]:
        """The family's φ values: `family.phi`, else `scaling.family_phi` (older spaces)."""
        return self.family.phi or self.scaling.family_phi

    def default_params(self) -> dict[str, float | str]:
        """The trial parameters of the default coefficients (and the base's part choices where
        the space lets them vary), named as the search samples them ("alpha", "beta",
        "stage{i}.{part}")."""
        params: dict[str, float | str] = {
            "alpha": self.scaling.defaults.alpha,
            "beta": self.scaling.defaults.beta,
        }
        for i, stage in enumerate(self.stage_choices):
            for part, options in stage.items():
                base_part = getattr(self.base.stages[i].block, part)
                params[f"stage{i}.{part}"] = base_part if base_part in options else options[0]
        return params

    @property
    def budget_phi(self) -> tuple[float, ...]:
        """The φ values a budget trains: `budget.phi` (those of the family's), else the
        family's."""
        return self.budget.phi or self.family_phi

    def member(
        self,
        phi: float,
        coefficients: Coefficients | None = None,
        choices: dict[str, str] | None = None,
    ) -> ArchSpec:
        """The spec at `phi` for the given (or default) coefficients and part choices.

        Args:
            phi: compound exponent.
            coefficients: α, β, γ; the space's defaults when None. Checked against the
                constraint (ConstraintError when off by more than the tolerance).
            choices: block parts keyed "stage{i}.{part}" (as the search names them).
        """
        return self.realize(phi, coefficients, choices).spec

    def realize(
        self,
        phi: float,
        coefficients: Coefficients | None = None,
        choices: dict[str, str] | None = None,
    ) -> Member:
        """The member at `phi` with its target and realised cost and effective coefficients.

        With `scaling.equal_cost`, the rounding nearest the target cost is chosen; without,
        the naive rounding (`scale_spec`), whose cost is reported against the same target.
        """
        c = coefficients or self.scaling.defaults
        self.scaling.constraint.check(c.alpha, c.beta, c.gamma)
        base = apply_choices(self.base, choices or {})
        name = f"{self.name}-phi{phi:g}"
        growth, tolerance = self.scaling.constraint.target, self.scaling.tolerance
        if self.scaling.equal_cost:
            return realize(base, c.alpha, c.beta, c.gamma, phi, growth, tolerance, name)
        return naive_member(base, c.alpha, c.beta, c.gamma, phi, growth, tolerance, name)

    def realize_strategy(
        self,
        strategy: str,
        phi: float,
        coefficients: Coefficients | None = None,
        choices: dict[str, str] | None = None,
    ) -> Member:
        """The member of an ablation strategy: a single dimension ("depth", "width",
        "resolution") grown alone to the compound target, or else the compound member of
        `coefficients` (the searched or the default ones)."""
        if strategy not in SINGLE_DIMENSIONS:
            return self.realize(phi, coefficients, choices)
        base = apply_choices(self.base, choices or {})
        growth, tolerance = self.scaling.constraint.target, self.scaling.tolerance
        return single_dimension(
            base, strategy, phi, growth, tolerance, f"{self.name}-{strategy}-phi{phi:g}"
        )


def _check_part(stage: int, part: str, options: tuple[str, ...]) -> None:
    where = f"stage_choices[{stage}].{part}"
    if part not in CHOOSABLE_PARTS:
        raise SpaceError(
            f"{where}: unknown part; choosable parts are: {', '.join(CHOOSABLE_PARTS)}"
        )
    if not options:
        raise SpaceError(f"{where}: the list of options is empty")
    allowed = _literal_options(part)
    bad = [o for o in options if o not in allowed]
    if bad:
        raise SpaceError(f"{where}: {bad[0]!r} is not one of {', '.join(allowed)}")


def _literal_options(part: str) -> tuple[str, ...]:
    from typing import get_args, get_type_hints

    return get_args(get_type_hints(BlockSpec)[part])


def apply_choices(base: ArchSpec, choices: dict[str, str]) -> ArchSpec:
    """The base with block parts replaced, from keys like "stage0.attention"."""
    stages = list(base.stages)
    for key, value in choices.items():
        stage_key, _, part = key.partition(".")
        i = int(stage_key.removeprefix("stage"))
        stages[i] = dataclasses.replace(
            stages[i], block=dataclasses.replace(stages[i].block, **{part: value})
        )
    return base.replace(stages=tuple(stages))


def spaces_dir() -> Path:
    """search_spaces/ shipped in the package when installed, else the repository's copy."""
    package = Path(__file__).resolve().parents[1]
    packaged = package / "search_spaces"
    return packaged if packaged.is_dir() else package.parent / "search_spaces"


def list_spaces() -> list[str]:
    return sorted(p.stem for p in spaces_dir().glob("*.yaml"))


def load_space(name_or_path: str | Path) -> SearchSpace:
    """Loads and validates a space by name (search_spaces/NAME.yaml) or path.

    Raises:
        SpaceError: the file is missing, not YAML, or breaks the schema; the message names
            the file and the key path.
    """
    path = _find(str(name_or_path))
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise SpaceError(f"{path}: not UTF-8 text; a search space is a YAML file") from None
    except OSError as err:
        raise SpaceError(f"{path}: cannot be read ({err.strerror})") from None
    except yaml.YAMLError as err:
        raise SpaceError(f"{path}: not valid YAML: {err}".replace("\n", " ")) from err
    if not isinstance(data, dict):
        raise SpaceError(f"{path}: must be a mapping of keys, but got {type(data).__name__}")
    try:
        return decode(SearchSpace, data)
    except DecodeError as err:
        raise SpaceError(f"{path}: {err}") from err


def _find(name_or_path: str) -> Path:
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml"):
        if not path.is_file():
            raise SpaceError(f"{path}: no such search-space file")
        return path
    candidate = spaces_dir() / f"{name_or_path}.yaml"
    if not candidate.is_file():
        raise SpaceError(
            f"unknown search space {name_or_path!r}; known spaces: {', '.join(list_spaces())} "
            f"(or give a path to a .yaml file)"
        )
    return candidate
