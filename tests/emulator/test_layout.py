"""The emulator's layout: route modules reach the emulator through ``Services`` only, no import cycles, and the
provider's own code never imports the emulator."""

from __future__ import annotations

import ast
from pathlib import Path

import airflow_provider_kaizala
from airflow_provider_kaizala.emulator.api import FAMILIES

PACKAGE = Path(airflow_provider_kaizala.__file__).parent
EMULATOR = PACKAGE / "emulator"
PREFIX = "airflow_provider_kaizala.emulator"


def _imports(path: Path) -> set[str]:
    """Every module ``path`` imports (``TYPE_CHECKING`` blocks included), as dotted names."""
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            out.add(node.module)
            out.update(f"{node.module}.{a.name}" for a in node.names)
    return out


def _emulator_graph() -> dict[str, set[str]]:
    names = {p.stem for p in EMULATOR.glob("*.py")}
    graph: dict[str, set[str]] = {}
    for path in EMULATOR.glob("*.py"):
        deps = {m.removeprefix(PREFIX + ".").split(".")[0] for m in _imports(path) if m.startswith(PREFIX + ".")}
        graph[path.stem] = deps & names - {path.stem}
    return graph


def test_route_modules_never_import_the_app_or_the_pipeline() -> None:
    graph = _emulator_graph()
    for module, _ in FAMILIES:
        name = module.__name__.rpartition(".")[2]
        assert graph[name] & {"app", "pipeline", "api", "server"} == set(), name


def test_the_emulator_modules_have_no_import_cycle() -> None:
    graph = _emulator_graph()
    visiting: list[str] = []
    done: set[str] = set()

    def visit(node: str) -> None:
        assert node not in visiting, " -> ".join([*visiting[visiting.index(node) :], node])
        if node in done:
            return
        visiting.append(node)
        for dep in sorted(graph[node]):
            visit(dep)
        visiting.pop()
        done.add(node)

    for node in sorted(graph):
        visit(node)


def test_the_provider_never_imports_the_emulator() -> None:
    for path in PACKAGE.rglob("*.py"):
        if EMULATOR in path.parents:
            continue
        assert not {m for m in _imports(path) if m.startswith(PREFIX)}, path
