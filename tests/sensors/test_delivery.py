"""At-least-once delivery of membership changes, end to end: real DAG runs (``airflow dags test``) of the
welcome example against the emulator, with the sends of the first run failing through an emulator fault."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import airflow_provider_kaizala
from tests.conftest import QUIET_FAULTS, Tenant, airflow_cli

pytestmark = pytest.mark.system

DAG_ID = "example_kaizala_new_subscribers"
#: The examples of the package under test (so the same test can be pointed at another checkout).
EXAMPLES = Path(airflow_provider_kaizala.__file__).resolve().parent.parent / "example_dags"


@pytest.fixture(scope="module")
def airflow_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An embedded SQLite Airflow home, migrated once for this module."""
    home = tmp_path_factory.mktemp("delivery_home")
    env = {**os.environ, **_base_env(home)}
    subprocess.run([airflow_cli(), "db", "migrate"], env=env, check=True, capture_output=True, timeout=300)
    return home


def _base_env(home: Path) -> dict[str, str]:
    return {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(EXAMPLES),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        "AIRFLOW_CONN_KAIZALA_WAREHOUSE": json.dumps({"conn_type": "sqlite", "host": str(home / "warehouse.db")}),
    }


@pytest.fixture
def welcome_setup(tenant: Tenant, airflow_home: Path) -> Iterator[dict[str, Any]]:
    """A public group of this tenant's and the environment in which the welcome example reaches it."""
    name = f"Customer Updates {tenant.application_id[:8]}"
    group_id = tenant.emulator.admin.create_group(
        name=name, groupType="ConnectGroup", admins=[tenant.connector["phone"]], subscriberCount=20
    )
    env = {**os.environ, **_base_env(airflow_home)}
    # No client retries: a failed send fails its task at once.
    env["AIRFLOW_CONN_KAIZALA_DEFAULT"] = tenant.conn_json(max_retries=0)
    env.pop("AIRFLOW__CORE__UNIT_TEST_MODE", None)
    yield {"env": env, "group_id": group_id, "conf": json.dumps({"public_group_name": name}), "home": airflow_home}
    tenant.emulator.admin.faults(**QUIET_FAULTS)


def start_run(setup: dict[str, Any]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [airflow_cli(), "dags", "test", DAG_ID, "-c", setup["conf"]],
        env=setup["env"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def finish(process: subprocess.Popen[str]) -> str:
    try:
        output, _ = process.communicate(timeout=600)
    except subprocess.TimeoutExpired:
        process.kill()
        output, _ = process.communicate()
        raise AssertionError(f"the DAG run did not finish:\n{output[-5000:]}") from None
    return output


def wait_for_baseline(setup: dict[str, Any], process: subprocess.Popen[str]) -> None:
    """Until the sensor of the first run recorded its first baseline of this group (the file appears)."""
    root = setup["home"] / "kaizala" / "snapshots"
    token = setup["group_id"].split("@")[0]  # the group's folder name holds it, whatever the encoding
    deadline = time.monotonic() + 300
    while not any(token in str(p) for p in root.rglob("subscribers.snapshot")):
        if process.poll() is not None or time.monotonic() > deadline:
            output = finish(process)
            raise AssertionError(f"no baseline was recorded:\n{output[-5000:]}")
        time.sleep(0.5)


def welcomed(tenant: Tenant, group_id: str) -> list[str]:
    """Ground truth: every subscriber a message was sent to, one entry per send."""
    return [number for m in tenant.emulator.admin.messages(group_id) for number in m["subscribers"] or []]


def test_subscribers_whose_welcome_failed_are_welcomed_by_the_next_run(tenant, welcome_setup):
    """Run 1 detects new subscribers and every send fails; the user triggers a new run, which must welcome
    them (before: run 1 had already made them part of the baseline and they were never welcomed)."""
    group_id = welcome_setup["group_id"]
    first = start_run(welcome_setup)
    wait_for_baseline(welcome_setup, first)
    tenant.emulator.admin.faults(error_rate=1.0, error_statuses=[500], fault_paths=re.escape(f"{group_id}/messages"))
    joined = tenant.emulator.admin.churn(group_id, "subscribers", add=4, seed=11)["added"]
    output = finish(first)
    assert "wait_for_new_subscribers" in output
    assert welcomed(tenant, group_id) == [], "the fault let a welcome through"
    assert "state=failed" in output.replace(" ", "") or "failed" in output

    tenant.emulator.admin.faults(**QUIET_FAULTS)
    joined += tenant.emulator.admin.churn(group_id, "subscribers", add=1, seed=12)["added"]
    output = finish(start_run(welcome_setup))
    assert sorted(set(welcomed(tenant, group_id))) == sorted(joined), output[-3000:]
    assert "state=failed" not in output.replace(" ", ""), output[-5000:]
    for message in tenant.emulator.admin.messages(group_id):
        assert len(message["subscribers"]) == 1  # one mapped task per subscriber

    # Run 2 succeeded, so run 3 acknowledges its change first: only the newest subscriber is welcomed.
    before = welcomed(tenant, group_id)
    newest = tenant.emulator.admin.churn(group_id, "subscribers", add=1, seed=13)["added"]
    output = finish(start_run(welcome_setup))
    assert welcomed(tenant, group_id)[len(before) :] == newest, output[-3000:]


def test_clearing_the_failed_welcomes_delivers_them_and_the_next_run_does_not_repeat_them(tenant, welcome_setup):
    """Run 1's welcomes fail; the user clears the failed tasks, which re-run on run 1's diff file and
    succeed; the next run then finds run 1 acknowledged and welcomes only who joined since."""
    group_id = welcome_setup["group_id"]
    first = start_run(welcome_setup)
    wait_for_baseline(welcome_setup, first)
    tenant.emulator.admin.faults(error_rate=1.0, error_statuses=[500], fault_paths=re.escape(f"{group_id}/messages"))
    joined = tenant.emulator.admin.churn(group_id, "subscribers", add=3, seed=21)["added"]
    finish(first)
    assert welcomed(tenant, group_id) == []

    tenant.emulator.admin.faults(**QUIET_FAULTS)
    resumed = subprocess.run(
        [sys.executable, "-m", "tests.sensors.resume_run", DAG_ID],
        env=welcome_setup["env"],
        cwd=Path(__file__).resolve().parent.parent.parent,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert "final state: success" in resumed.stdout, (resumed.stdout + resumed.stderr)[-5000:]
    assert sorted(welcomed(tenant, group_id)) == sorted(joined)

    newest = tenant.emulator.admin.churn(group_id, "subscribers", add=1, seed=22)["added"]
    output = finish(start_run(welcome_setup))
    assert sorted(welcomed(tenant, group_id)) == sorted(joined + newest), output[-3000:]
