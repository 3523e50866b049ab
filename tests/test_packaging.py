"""The requirements in setup.cfg are exactly what the package imports (issue 16).

Every third-party module imported anywhere in ``airflow_provider_kaizala`` (lazy imports inside functions
included) must come from a declared requirement: outside the emulator from ``install_requires``, inside it
from ``install_requires`` or the ``emulator`` extra. Every one of those requirements must be imported
somewhere, and the warehouse extras (``sqlite``, ``postgres``) must stay optional: nothing imports them.
"""

from __future__ import annotations

import ast
import configparser
import functools
import importlib.metadata
import re
import sys
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PACKAGE = REPO / "airflow_provider_kaizala"
EMULATOR = PACKAGE / "emulator"
#: Imported only inside ``get_connection_form_widgets``, which Airflow 3.0/3.1 call with these modules of their
#: own (the FAB provider, or the API server's stand-ins for them): the host's, never a requirement.
HOST_FORM_MODULES = {"flask_appbuilder", "flask_babel", "wtforms"}
FORM_FILE = PACKAGE / "hooks" / "base.py"
#: Optional extras for one feature: the only file that may import them (lazily, with an error naming the extra).
OPTIONAL = {"redis": PACKAGE / "hooks" / "budget.py"}


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _names(lines: str) -> set[str]:
    """Project names of requirement lines (``name[extra]>=1.0; marker`` -> ``name``)."""
    specs = (line.split(";")[0].strip() for line in lines.splitlines())
    return {_normalise(re.split(r"[<>=!~ \[]", spec, maxsplit=1)[0]) for spec in specs if spec}


def _setup_cfg() -> configparser.ConfigParser:
    config = configparser.ConfigParser()
    config.read(REPO / "setup.cfg")
    return config


def _requirements() -> tuple[set[str], dict[str, set[str]]]:
    config = _setup_cfg()
    extras = {name: _names(value) for name, value in config["options.extras_require"].items()}
    return _names(config["options"]["install_requires"]), extras


def _imports(files: list[Path]) -> Iterator[tuple[Path, str]]:
    """(file, absolute module name) of every import statement in ``files``."""
    for path in files:
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    yield path, alias.name
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                yield path, node.module


@functools.cache
def _installed() -> set[str]:
    return {_normalise(d.metadata["Name"]) for d in importlib.metadata.distributions()}


@functools.cache
def _owners() -> dict[str, list[str]]:
    return dict(importlib.metadata.packages_distributions())


def _distribution(module: str) -> str | None:
    """The project a third-party module comes from; ``None`` for the standard library and the package itself."""
    top = module.split(".")[0]
    if top in sys.stdlib_module_names or top in ("__future__", "airflow_provider_kaizala"):
        return None
    parts = module.split(".")
    if top == "airflow":
        if len(parts) > 2 and parts[1] == "providers":
            installed = _installed()
            for end in range(len(parts), 2, -1):
                candidate = "apache-airflow-providers-" + "-".join(parts[2:end])
                if candidate in installed:
                    return candidate
            raise AssertionError(f"no installed provider package has {module}")
        return "apache-airflow"  # airflow.sdk, airflow.triggers...: what `apache-airflow` brings
    owners = _owners().get(top)
    assert owners, f"{module} is imported but no installed distribution provides it"
    return _normalise(owners[0])


def _used(files: list[Path]) -> dict[str, list[str]]:
    used: dict[str, list[str]] = {}
    for path, module in _imports(files):
        if path == FORM_FILE and module.split(".")[0] in HOST_FORM_MODULES:
            continue
        dist = _distribution(module)
        if dist:
            used.setdefault(dist, []).append(f"{path.relative_to(REPO)}: {module}")
    return used


def _package_files() -> tuple[list[Path], list[Path]]:
    files = sorted(PACKAGE.rglob("*.py"))
    emulator = [p for p in files if EMULATOR in p.parents]
    return [p for p in files if p not in emulator], emulator


def test_every_import_outside_the_emulator_is_a_hard_requirement():
    core, extras = _requirements()
    outside, _ = _package_files()
    optional = {name: OPTIONAL[extra] for extra in OPTIONAL for name in extras[extra]}
    undeclared = {
        dist: where
        for dist, where in _used([p for p in outside if p not in OPTIONAL.values()]).items()
        if dist not in core
    }
    assert undeclared == {}, "imported by the provider but not in install_requires"
    for path in OPTIONAL.values():
        used = _used([path])
        assert set(used) - core - set(optional) == set(), f"{path.name} imports an undeclared project"
        assert "pip install 'airflow-provider-kaizala[" in path.read_text(), "the ImportError names the extra"
    for name, path in optional.items():
        assert name in _used([path]), f"the {name} extra is not imported by {path.name}"


def test_every_emulator_import_is_a_requirement_or_in_the_emulator_extra():
    core, extras = _requirements()
    _, emulator = _package_files()
    undeclared = {dist: where for dist, where in _used(emulator).items() if dist not in core | extras["emulator"]}
    assert undeclared == {}, "imported by the emulator but neither in install_requires nor in the emulator extra"


#: Requirements the emulator needs without importing them: the library that does (and why it is declared).
USED_THROUGH = {
    # Starlette's form parser (emulator/media.py) imports it; FastAPI does not require it.
    "python-multipart": "starlette",
}


def test_no_requirement_is_unused():
    core, extras = _requirements()
    outside, emulator = _package_files()
    assert core - set(_used(outside)) == set(), "in install_requires but imported nowhere outside the emulator"
    used = set(_used(emulator))
    assert {via for name, via in USED_THROUGH.items() if name in extras["emulator"]} <= used
    assert extras["emulator"] - used - set(USED_THROUGH) == set(), "in the emulator extra but not imported by it"
    assert extras["emulator"] & core == set(), "both a hard requirement and in the emulator extra"


def test_warehouses_are_optional_extras_that_the_tests_install():
    core, extras = _requirements()
    warehouses = extras["sqlite"] | extras["postgres"]
    assert warehouses == {"apache-airflow-providers-sqlite", "apache-airflow-providers-postgres"}
    assert warehouses & core == set()
    outside, emulator = _package_files()
    assert warehouses & set(_used(outside + emulator)) == set(), "a warehouse extra is imported by the package"
    test_extra = _setup_cfg()["options.extras_require"]["test"]
    assert "airflow-provider-kaizala[emulator,sqlite,postgres,redis]" in test_extra.split()


def test_only_the_tested_python_is_declared():
    pyproject = (REPO / "pyproject.toml").read_text()
    assert 'requires-python = ">=3.11"' in pyproject
    classifiers = _setup_cfg()["metadata"]["classifiers"].split("\n")
    versions = {c.strip() for c in classifiers if re.fullmatch(r"\s*Programming Language :: Python :: 3\.\d+", c)}
    assert versions == {"Programming Language :: Python :: 3.11"}
    assert _setup_cfg()["mypy"]["python_version"] == "3.11"


def test_readme_first_dag_builds(tmp_path):
    """The README's first DAG (the PyPI page's example) is valid: Airflow parses it into its two tasks."""
    from airflow.dag_processing.dagbag import DagBag

    readme = (REPO / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", readme, flags=re.DOTALL)
    first_dag = next(block for block in blocks if "with DAG(" in block)
    (tmp_path / "readme_dag.py").write_text(first_dag)
    bag = DagBag(dag_folder=str(tmp_path))
    assert bag.import_errors == {}
    (dag,) = bag.dags.values()
    assert sorted(dag.task_ids) == ["list_groups", "say_hello"]
