"""Every example DAG imports cleanly and runs end to end with `airflow dags test` against the emulator."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import EXAMPLES, SECRET_MARKER, dags_test

DAG_FILES = sorted(p for p in EXAMPLES.glob("example_*.py"))


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
    result = dags_test(airflow_env, dag_id)
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
    result = dags_test(airflow_env, "example_kaizala_notifications")
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
    result = dags_test(airflow_env, "example_kaizala_webhooks")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    delivered = webhook_receiver.wait(before + 1)[before:]
    assert delivered, "the emulator delivered nothing to the receiver"
    assert all(h["kz-callback-token"] == airflow_env["AIRFLOW_VAR_KAIZALA_WEBHOOK_TOKEN"] for h, _ in delivered)
    assert SECRET_MARKER not in result.stdout + result.stderr
