"""Airflow's CLI sees the installed provider: providers get, providers hooks, connections test."""

from __future__ import annotations

import importlib.metadata
import json
import os
import subprocess

import pytest

from tests.conftest import airflow_cli

AIRFLOW = airflow_cli()

pytestmark = [
    pytest.mark.system,
    pytest.mark.skipif(
        not any(d.metadata["Name"] == "airflow-provider-kaizala" for d in importlib.metadata.distributions()),
        reason="the provider is not installed (pip install -e .), so Airflow's providers manager cannot see it",
    ),
]


def run_cli(*args: str, env: dict[str, str] | None = None) -> str:
    environment = {**os.environ, **(env or {})}
    environment.pop("AIRFLOW__CORE__UNIT_TEST_MODE", None)
    result = subprocess.run([AIRFLOW, *args], capture_output=True, text=True, timeout=180, env=environment)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result.stdout


def json_output(text: str) -> object:
    """The JSON document in a CLI's output (log lines may come first)."""
    start = min(i for i in (text.find("["), text.find("{")) if i >= 0)
    return json.loads(text[start:])


def test_providers_get_shows_the_provider():
    info = json_output(run_cli("providers", "get", "airflow-provider-kaizala", "-o", "json"))
    assert isinstance(info, list)
    assert info == [
        {"Provider": "airflow-provider-kaizala", "Version": importlib.metadata.version("airflow-provider-kaizala")}
    ]


def test_providers_hooks_lists_the_kaizala_connection_type():
    hooks = json_output(run_cli("providers", "hooks", "-o", "json"))
    assert isinstance(hooks, list)
    kaizala = [h for h in hooks if h.get("connection_type") == "kaizala"]
    assert len(kaizala) == 1
    assert kaizala[0]["class"] == "airflow_provider_kaizala.hooks.kaizala.KaizalaHook"
    assert kaizala[0]["package_name"] == "airflow-provider-kaizala"
    assert kaizala[0]["hook_name"] == "Microsoft Kaizala"
    assert kaizala[0]["conn_id_attribute_name"] == "kaizala_conn_id"


def test_connections_test_reaches_the_emulator(tenant, tmp_path):
    env = {
        "AIRFLOW_HOME": str(tmp_path),
        "AIRFLOW__CORE__TEST_CONNECTION": "Enabled",
        "AIRFLOW_CONN_KAIZALA_CLI": tenant.conn_json(),
    }
    output = run_cli("connections", "test", "kaizala_cli", env=env)
    assert "Connection success!" in output
    assert [c["path"] for c in tenant.calls()][:2] == ["/v1/accessToken", "/v1/groups"]
