"""The import rules the design states, checked on the source rather than trusted.

The model code never imports the search; each framework has one home; the search's wings
import only downward; Optuna's private API is touched in one module; no import cycle; a
trial's attributes have one door; no module, class or function grows past the size one
reader can hold.
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
        ("ray", {"scalesearch.search.run.tune"}),
        ("deepspeed", {"scalesearch.train.deepspeed_trainer"}),
        ("plotly", {"scalesearch.report.figures"}),
        ("optuna_dashboard", {"scalesearch.report.board"}),
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


def test_the_search_never_imports_the_report_or_the_cli() -> None:
    search = [m for m in IMPORTS if m.startswith("scalesearch.search")]
    assert len(search) > 10, search
    for module in search:
        bad = {
            n for n in IMPORTS[module] if n.startswith(("scalesearch.cli", "scalesearch.report"))
        }
        assert not bad, module


def test_the_report_never_imports_the_cli() -> None:
    report = [m for m in IMPORTS if m.startswith("scalesearch.report")]
    assert len(report) > 5, report
    for module in report:
        assert not {n for n in IMPORTS[module] if n.startswith("scalesearch.cli")}, module


# search/ in wings, each importing only from the wings before it: what a search is (the
# space, its settings, the costs), the store (a trial's record, the studies, Optuna's
# storage), how a run runs (its config), the results read off the studies, the phases that
# plan trainings, and the run machinery that trains them.
WINGS = ("base", "store", "config", "results", "phases", "run")


def _wing(module: str) -> str | None:
    parts = module.split(".")
    if parts[:2] != ["scalesearch", "search"] or len(parts) < 3:
        return None
    if parts[2] in WINGS:
        return parts[2]
    return "config" if parts[2] == "config" else "base"


def test_the_search_wings_import_only_downward() -> None:
    wings = {m: _wing(m) for m in IMPORTS if _wing(m)}
    assert {w for w in wings.values()} == set(WINGS)
    back = [
        f"{module} ({wing}) imports {name} ({_wing(name)})"
        for module, wing in wings.items()
        for name in IMPORTS[module]
        if _wing(name) and name in IMPORTS and WINGS.index(_wing(name)) > WINGS.index(wing)
    ]
    assert not back, back


def test_the_wing_test_sees_a_back_arrow() -> None:
    assert _wing("scalesearch.search.store.schema") == "store"
    assert _wing("scalesearch.search.space") == "base"
    assert WINGS.index(_wing("scalesearch.search.run.driver")) > WINGS.index("store")


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


# Only the schema reads and writes a trial's attributes by name (TrialRecord); the run's
# attributes on its studies have a module of their own.
# The schema and the run's attributes; the Optuna door writes a record in one transaction.
RECORD_DOORS = {
    "scalesearch.search.store.schema",
    "scalesearch.search.store.run_attributes",
    "scalesearch.search.store.optuna_private",
}


BENCHES = sorted((PACKAGE.parent / "bench").glob("*.py"))


def test_a_trial_s_attributes_have_one_door() -> None:
    """In the package and in the benches: they read trials through `TrialRecord` too."""
    assert len(BENCHES) > 5
    found = []
    for path in [*MODULES, *BENCHES]:
        if path in MODULES and _name(path) in RECORD_DOORS:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Attribute) and node.attr in ("user_attrs", "set_user_attr"):
                found.append(f"{path.name}:{node.lineno}")
            if isinstance(node, ast.keyword) and node.arg == "user_attrs":
                found.append(f"{path.name}:{node.value.lineno}")
    assert not found, found


OPTUNA_DOOR = "scalesearch.search.store.optuna_private"
PUBLIC_UNDERSCORED = {"_mapping"}  # SQLAlchemy's Row._mapping is its public API


def _private_uses(path: Path) -> list[str]:
    """`x._name` on anything but self or cls, and imports of `optuna._...`, in a module that
    imports Optuna (torch's own privates elsewhere are torch's business)."""
    tree = ast.parse(path.read_text())
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("optuna._"):
            found.append(f"{node.lineno}: from {node.module}")
        if not isinstance(node, ast.Attribute) or not node.attr.startswith("_"):
            continue
        if node.attr.startswith("__") or node.attr in PUBLIC_UNDERSCORED:
            continue
        if isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"):
            continue
        found.append(f"{node.lineno}: .{node.attr}")
    return found


def test_optuna_private_api_has_one_door() -> None:
    optuna_users = [p for p in MODULES if any(n.startswith("optuna") for n in IMPORTS[_name(p)])]
    assert len(optuna_users) > 10
    outside = {
        _name(p): uses
        for p in optuna_users
        if _name(p) != OPTUNA_DOOR and (uses := _private_uses(p))
    }
    assert not outside, outside
    door = PACKAGE / "search" / "store" / "optuna_private.py"
    assert len(_private_uses(door)) >= 8  # the door holds them, and the scan sees them


def test_the_private_scan_sees_a_reach_past_the_public_api(tmp_path) -> None:
    probe = tmp_path / "probe.py"
    probe.write_text("import optuna\nx = study._storage\nself._own = 1\nr._mapping\n")
    assert _private_uses(probe) == ["2: ._storage"]


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


def test_every_cost_is_one_row_that_everything_reads() -> None:
    """A cost is a row of `search.costs`: a field of the record, an axis name, a selectable
    objective (attention maps were counted but not selectable before the registry)."""
    import dataclasses

    from scalesearch.search.costs import COSTS, costs_of_metrics, metric_name
    from scalesearch.search.settings import SearchSettings
    from scalesearch.search.store.schema import TrialRecord

    fields = {f.name for f in dataclasses.fields(TrialRecord)}
    for name, cost in COSTS.items():
        assert cost.field in fields, name
        assert costs_of_metrics(["val_accuracy", metric_name(name)]) == (name,)
        SearchSettings(objectives={"accuracy": "maximize", name: "minimize"})
    # Outside the registry, no module names a cost's record field next to its objective name.
    spelled = [
        _name(p)
        for p in MODULES
        if _name(p) != "scalesearch.search.costs" and '"latency": "latency_ms"' in p.read_text()
    ]
    assert not spelled, spelled
