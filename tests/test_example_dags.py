"""Every example DAG imports cleanly and runs end to end with `airflow dags test` against the emulator."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import SECRET_MARKER
from tests.operators.conftest import Receiver

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "example_dags"
DAG_FILES = sorted(p for p in EXAMPLES.glob("example_*.py"))


@pytest.fixture(scope="session")
def webhook_receiver() -> Iterator[Receiver]:
    """A loopback receiver for the webhook example (the emulator validates and delivers to it)."""
    receiver = Receiver()
    receiver.thread.start()
    yield receiver
    receiver.server.shutdown()
    receiver.server.server_close()


@pytest.fixture(scope="session")
def airflow_env(tmp_path_factory, emulator, webhook_receiver) -> dict[str, str]:
    """An embedded SQLite Airflow home, migrated once, with a connection to a demo tenant."""
    home = tmp_path_factory.mktemp("airflow_home")
    demo = emulator.admin.seed_demo(subscribers=300)
    # Subscribers keep joining and leaving, so the change-driven examples have something to see.
    emulator.admin.churn(demo["publicGroupId"], "subscribers", add=2, remove=1, every_seconds=1.0, seed=7)
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(EXAMPLES),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        "AIRFLOW_CONN_KAIZALA_DEFAULT": json.dumps(demo["conn"]),
        "AIRFLOW_VAR_KAIZALA_MANAGERS_GROUP": demo["groups"]["Managers"],
        "AIRFLOW_VAR_KAIZALA_WEBHOOK_URL": webhook_receiver.url,
        "AIRFLOW_VAR_KAIZALA_WEBHOOK_TOKEN": f"{SECRET_MARKER}-callback-token",
        "AIRFLOW_CONN_KAIZALA_WAREHOUSE": json.dumps({"conn_type": "sqlite", "host": str(home / "warehouse.db")}),
    }
    env.pop("AIRFLOW__CORE__UNIT_TEST_MODE", None)
    subprocess.run([airflow_cli(), "db", "migrate"], env=env, check=True, capture_output=True, timeout=300)
    return env


def airflow_cli() -> str:
    return str(Path(sys.executable).with_name("airflow"))


def dag_ids() -> list[str]:
    return [p.stem for p in DAG_FILES]


def test_every_example_imports_without_errors():
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(EXAMPLES))
    assert bag.import_errors == {}
    assert sorted(bag.dag_ids) == dag_ids()


@pytest.mark.system
@pytest.mark.parametrize("dag_id", dag_ids())
def test_example_dag_runs_against_the_emulator(airflow_env, dag_id):
    result = subprocess.run(
        [airflow_cli(), "dags", "test", dag_id], env=airflow_env, capture_output=True, text=True, timeout=600
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-5000:]
    assert "state=failed" not in output.replace(" ", ""), output[-5000:]
    assert "could not be sent" not in output, output[-5000:]
    conn = json.loads(airflow_env["AIRFLOW_CONN_KAIZALA_DEFAULT"])
    for secret in (conn["password"], conn["extra"]["refresh_token"], SECRET_MARKER):
        assert secret not in output


@pytest.mark.system
def test_notification_example_delivers_its_messages(airflow_env, emulator):
    managers = airflow_env["AIRFLOW_VAR_KAIZALA_MANAGERS_GROUP"]
    before = len(emulator.admin.messages(managers))
    result = subprocess.run(
        [airflow_cli(), "dags", "test", "example_kaizala_notifications"],
        env=airflow_env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    texts = [m["message"] for m in emulator.admin.messages(managers)[before:]]
    assert any(t.startswith("Nightly numbers are ready for") and t.endswith(": 42 rows.") for t in texts), texts
    # The DAG-level on_success_callback runs in the DAG processor, which `airflow dags test` does not
    # start; tests/notifications exercises the notifier on its own.


@pytest.mark.system
def test_no_secret_in_the_airflow_home(airflow_env):
    """After the example runs: task logs, XComs, rendered templates and trigger rows (all under AIRFLOW_HOME,
    in log files and the metadata database) hold no secret the emulator issued."""
    home = Path(airflow_env["AIRFLOW_HOME"])
    files = [p for p in home.rglob("*") if p.is_file()]
    assert any(p.suffix == ".db" for p in files)
    leaks = [str(p) for p in files if SECRET_MARKER.encode() in p.read_bytes()]
    assert leaks == []


@pytest.mark.system
def test_webhook_example_delivers_with_the_callback_token(airflow_env, webhook_receiver):
    before = len(webhook_receiver.events)
    result = subprocess.run(
        [airflow_cli(), "dags", "test", "example_kaizala_webhooks"],
        env=airflow_env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    delivered = webhook_receiver.wait(before + 1)[before:]
    assert delivered, "the emulator delivered nothing to the receiver"
    assert all(h["kz-callback-token"] == airflow_env["AIRFLOW_VAR_KAIZALA_WEBHOOK_TOKEN"] for h, _ in delivered)
    assert SECRET_MARKER not in result.stdout + result.stderr
