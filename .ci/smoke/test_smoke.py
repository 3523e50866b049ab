"""Smoke set for one installed Airflow: the smoke DAG end to end against the emulator, and the connection form.

Run by ``.ci/floors.sh`` and ``.ci/matrix.sh`` in a throw-away virtual environment where the provider is
installed from its wheel, with the working directory here, so the package under test is the installed one
and not the source tree.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import os
import re
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_kaizala.emulator.server import KaizalaEmulator
from airflow_provider_kaizala.get_provider_info import get_provider_info

HERE = Path(__file__).resolve().parent
REPORT = re.compile(r"smoke report: groups=(\d+) subscribers=(\d+) loaded=(\d+) poke_added=(\d+) deferred_added=(\d+)")
SEEDED_SUBSCRIBERS = 120


def _airflow() -> str:
    return str(Path(sys.executable).with_name("airflow"))


@pytest.fixture(scope="module")
def emulator() -> Iterator[KaizalaEmulator]:
    """The emulator on free loopback ports, without throttling or injected faults."""
    with KaizalaEmulator(throttle_limit=0) as emu:
        yield emu


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory, emulator: KaizalaEmulator) -> dict[str, Any]:
    """One ``airflow dags test kaizala_smoke`` in a fresh SQLite Airflow home; what it printed and left."""
    home = tmp_path_factory.mktemp("airflow_home")
    demo = emulator.admin.seed_demo(subscribers=SEEDED_SUBSCRIBERS)
    # Subscribers keep joining, so both sensors see a change after their first (baseline) check.
    emulator.admin.churn(demo["publicGroupId"], "subscribers", add=2, every_seconds=1.0, seed=7)
    warehouse = home / "warehouse.db"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")},
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(HERE / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        "AIRFLOW_CONN_KAIZALA_DEFAULT": json.dumps(demo["conn"]),
        "AIRFLOW_CONN_SMOKE_WAREHOUSE": json.dumps({"conn_type": "sqlite", "host": str(warehouse)}),
        "AIRFLOW_VAR_KAIZALA_MANAGERS_GROUP": demo["groups"]["Managers"],
    }
    migrate = subprocess.run([_airflow(), "db", "migrate"], env=env, capture_output=True, text=True, timeout=600)
    if migrate.returncode != 0:
        pytest.fail(f"airflow db migrate failed:\n{(migrate.stdout + migrate.stderr)[-4000:]}")
    result = subprocess.run(
        [_airflow(), "dags", "test", "kaizala_smoke"], env=env, capture_output=True, text=True, timeout=900
    )
    messages = [m["message"] for m in emulator.admin.messages(demo["groups"]["Managers"])]
    return {
        "result": result,
        "output": result.stdout + result.stderr,
        "messages": messages,
        "demo": demo,
        "warehouse": warehouse,
        "env": env,
    }


def _airflow_version() -> tuple[int, int]:
    major, minor = importlib.metadata.version("apache-airflow-core").split(".")[:2]
    return int(major), int(minor)


def _report(run: dict[str, Any]) -> dict[str, int]:
    for text in run["messages"]:
        if match := REPORT.search(text):
            keys = ("groups", "subscribers", "loaded", "poke_added", "deferred_added")
            return dict(zip(keys, map(int, match.groups()), strict=True))
    pytest.fail("no smoke report reached the emulator: the DAG run failed (see test_dag_run_succeeds...)")


def _failure(output: str) -> str:
    """The error lines of a `dags test` output (task tracebacks end up in its middle), then its end."""
    errors = [line for line in output.splitlines() if re.search(r"Error|Exception|Traceback|failed", line)]
    return "\n".join(errors[-40:]) + "\n...\n" + output[-3000:]


def test_dag_run_succeeds_and_keeps_secrets(run: dict[str, Any]) -> None:
    assert run["result"].returncode == 0, _failure(run["output"])
    assert "state=failed" not in run["output"].replace(" ", ""), _failure(run["output"])
    # Airflow 3.0's `dags test` prints the supervisor's debug trace, which includes the provider's own
    # requests to mask a value (`MaskSecret(value=...)`): those lines are Airflow's, every other line is checked.
    output = "\n".join(line for line in run["output"].splitlines() if "MaskSecret(" not in line)
    conn = run["demo"]["conn"]
    for secret in (conn["password"], conn["extra"]["refresh_token"]):
        assert secret not in output


def test_hook_pages_groups_and_subscribers(run: dict[str, Any]) -> None:
    report = _report(run)
    assert report["groups"] == len(run["demo"]["groups"])
    assert report["subscribers"] >= SEEDED_SUBSCRIBERS


def test_operators_list_groups_and_send_the_report(run: dict[str, Any]) -> None:
    """find_public_group's XCom fed the other tasks, and the report (a send-message operator) arrived."""
    report = _report(run)
    assert report["subscribers"] >= SEEDED_SUBSCRIBERS


def test_transfer_loads_the_warehouse(run: dict[str, Any]) -> None:
    report = _report(run)
    assert report["loaded"] >= SEEDED_SUBSCRIBERS
    with sqlite3.connect(run["warehouse"]) as db:
        (rows,) = db.execute("SELECT COUNT(*) FROM smoke_membership").fetchone()
    assert rows >= report["loaded"]


def test_sensor_in_poke_mode_sees_new_subscribers(run: dict[str, Any]) -> None:
    assert _report(run)["poke_added"] >= 1


def test_deferred_sensor_and_its_trigger_see_new_subscribers(run: dict[str, Any]) -> None:
    assert _report(run)["deferred_added"] >= 1
    # How `dags test` reports running a trigger in-line differs between Airflow versions.
    assert re.search(r"KaizalaMembershipTrigger|running trigger in line", run["output"]), run["output"][-6000:]


def test_notifier_runs_as_a_task_callback(run: dict[str, Any]) -> None:
    assert "smoke notifier: hook_paging done" in run["messages"], run["messages"]


FORM_PROBE = """
import json
from airflow.api_fastapi.core_api.services.ui.connections import HookMetaService
(meta,) = [m for m in HookMetaService.hook_meta_data() if m.connection_type == "kaizala"]
print("FORM=" + json.dumps(meta.model_dump(mode="json")))
"""


def test_connection_form_shows_every_declared_field(run: dict[str, Any]) -> None:
    """What the UI's /ui/connections/hook_meta serves for ``kaizala`` on this Airflow version."""
    probe = subprocess.run(
        [sys.executable, "-c", FORM_PROBE], env=run["env"], capture_output=True, text=True, timeout=300
    )
    if _airflow_version() < (3, 2) and importlib.util.find_spec("flask_appbuilder") is None:
        pytest.fail("Airflow 3.0 and 3.1 build provider connection forms only with Flask-AppBuilder (FAB provider)")
    lines = [line for line in probe.stdout.splitlines() if line.startswith("FORM=")]
    assert lines, probe.stdout[-3000:] + probe.stderr[-3000:]
    form = json.loads(lines[0][len("FORM=") :])
    (declared,) = get_provider_info()["connection-types"]
    extra = form["extra_fields"] or {}
    assert set(extra) == set(declared["conn-fields"])
    for name, field in declared["conn-fields"].items():
        assert extra[name]["schema"]["title"] == field["label"], name
    assert extra["refresh_token"]["schema"].get("format") == "password"
    behaviour = declared["ui-field-behaviour"]
    standard = form["standard_fields"]
    for name, label in behaviour["relabeling"].items():
        assert standard[name]["title"] == label
    for name in behaviour["hidden-fields"]:
        field = standard["url_schema" if name == "schema" else name]
        assert field["hidden"] is True, name


def test_every_registered_module_imports() -> None:
    """Every module Airflow discovers through get_provider_info imports with these versions."""
    info = get_provider_info()
    modules = [
        m
        for section in ("hooks", "operators", "sensors", "triggers")
        for e in info[section]
        for m in e["python-modules"]
    ]
    modules += [e["python-module"] for e in info["transfers"]]
    modules += [name.rpartition(".")[0] for name in info["notifications"]]
    probe = "import importlib, sys\nfor name in sys.argv[1:]:\n    importlib.import_module(name)\n"
    result = subprocess.run([sys.executable, "-c", probe, *modules], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
