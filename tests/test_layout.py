"""The import rules the design states, checked on the source rather than trusted.

The model code never imports the search; each framework has one home; Optuna's private API
is touched in one module; no import cycle; a trial's attributes have one door; no module
grows past the size one reader can hold.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import scalesearch

PACKAGE = Path(scalesearch.__file__).parent
MODULES = sorted(p for p in PACKAGE.rglob("*.py") if "search_spaces" not in p.parts)
MAX_LINES = 350


def _name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """Every module an import statement in `path` names (at any depth of the file)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


IMPORTS = {_name(p): _imports(p) for p in MODULES}


def _importers(prefix: str) -> set[str]:
    return {
        m
        for m, names in IMPORTS.items()
        if any(n == prefix or n.startswith(prefix + ".") for n in names)
    }


@pytest.mark.parametrize(
    ("framework", "home"),
    [
        ("ray", {"scalesearch.search.tune"}),
        ("deepspeed", {"scalesearch.train.deepspeed_trainer"}),
        ("plotly", {"scalesearch.cli.report"}),
        ("optuna_dashboard", {"scalesearch.cli.board"}),
    ],
)
def test_each_framework_has_one_home(framework: str, home: set[str]) -> None:
    assert _importers(framework) == home


def test_the_model_code_knows_nothing_of_search_training_or_the_cli() -> None:
    arch = [m for m in IMPORTS if m.startswith("scalesearch.arch")]
    assert len(arch) > 10, arch
    allowed = ("scalesearch.arch", "scalesearch.errors", "scalesearch.decode")
    for module in arch:
        ours = {n for n in IMPORTS[module] if n.startswith("scalesearch")}
        assert all(n.startswith(allowed) for n in ours), (module, ours)
        assert not {
            n for n in IMPORTS[module] if n.split(".")[0] in ("optuna", "ray", "sqlalchemy")
        }


def test_training_knows_nothing_of_the_search_or_the_cli() -> None:
    train = [m for m in IMPORTS if m.startswith("scalesearch.train")]
    assert len(train) > 5, train
    for module in train:
        bad = {
            n
            for n in IMPORTS[module]
            if n.startswith(("scalesearch.search", "scalesearch.cli", "optuna", "ray"))
        }
        assert not bad, (module, bad)


def test_the_search_never_imports_the_cli() -> None:
    search = [m for m in IMPORTS if m.startswith("scalesearch.search")]
    assert len(search) > 10, search
    for module in search:
        assert not {n for n in IMPORTS[module] if n.startswith("scalesearch.cli")}, module


def _graph() -> dict[str, set[str]]:
    """Module → the package's modules it imports, anywhere in its file (a late import in a
    function is still a dependency). Package `__init__`s (lazy re-exports) are left out."""
    modules = {
        m for m in IMPORTS if not (PACKAGE / "/".join(m.split(".")[1:]) / "__init__.py").is_file()
    }
    return {m: {n for n in IMPORTS[m] if n in modules and n != m} for m in modules}


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle, as the modules on it, or None (depth-first search)."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(module: str) -> list[str] | None:
        state[module] = 1
        path.append(module)
        for n in sorted(graph[module]):
            if state.get(n) == 1:
                return path[path.index(n) :] + [n]
            if n not in state and (found := visit(n)):
                return found
        state[module] = 2
        path.pop()
        return None

    for module in sorted(graph):
        if module not in state and (found := visit(module)):
            return found
    return None


def test_the_package_has_no_import_cycle() -> None:
    graph = _graph()
    assert sum(len(v) for v in graph.values()) > 100  # the graph was read
    assert _cycle(graph) is None, " -> ".join(_cycle(graph))


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


# Only the schema reads and writes a trial's attributes by name (TrialRecord); the storage
# module owns the study's own attributes.
RECORD_DOORS = {"scalesearch.search.schema", "scalesearch.search.storage"}


def test_a_trial_s_attributes_have_one_door() -> None:
    found = []
    for path in MODULES:
        if _name(path) in RECORD_DOORS:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Attribute) and node.attr in ("user_attrs", "set_user_attr"):
                found.append(f"{_name(path)}:{node.lineno}")
            if isinstance(node, ast.keyword) and node.arg == "user_attrs":
                found.append(f"{_name(path)}:{node.value.lineno}")
    assert not found, found


def test_optuna_private_api_lives_in_the_storage_module() -> None:
    private = ("._trial_id", "._storage", "optuna._")
    users = {_name(p) for p in MODULES if any(s in p.read_text() for s in private)}
    assert users == {"scalesearch.search.storage"}


@pytest.mark.parametrize("path", MODULES, ids=lambda p: _name(p))
def test_no_module_is_over_350_lines(path: Path) -> None:
    assert len(path.read_text().splitlines()) <= MAX_LINES


def test_the_public_api_resolves() -> None:
    assert len(scalesearch.__all__) > 15
    for name in scalesearch.__all__:
        assert callable(getattr(scalesearch, name)), name
    spec = scalesearch.load_space("cmt_compound").member(1.0)
    assert scalesearch.count_cost(spec).macs > 0
    assert isinstance(scalesearch.build_model(spec), scalesearch.HybridNet)
    with pytest.raises(AttributeError):
        scalesearch.no_such_name  # noqa: B018
