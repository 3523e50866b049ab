"""A rotated refresh token survives across task runs: stored in the Airflow Variable by a real task, then used
by the next run after the connection's own token has expired."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from airflow_provider_kaizala.emulator.server import KaizalaEmulator
from tests.conftest import airflow_cli

REPO = Path(__file__).resolve().parent.parent
AIRFLOW = airflow_cli()
DAY = 86400.0


def run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([AIRFLOW, *args], env=env, capture_output=True, text=True, timeout=300)


@pytest.mark.system
def test_rotated_refresh_token_is_kept_in_a_variable_and_used_after_the_old_one_expires(tmp_path):
    with KaizalaEmulator(seed="demo", demo_subscribers=60, throttle_limit=0, tenant_throttle_limit=0) as emulator:
        assert emulator.conn is not None
        env = {
            **os.environ,
            "AIRFLOW_HOME": str(tmp_path),
            "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "example_dags"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{tmp_path / 'airflow.db'}",
            "AIRFLOW_CONN_KAIZALA_DEFAULT": json.dumps(emulator.conn),
        }
        env.pop("AIRFLOW__CORE__UNIT_TEST_MODE", None)
        assert run(env, "db", "migrate").returncode == 0
        original = emulator.conn["extra"]["refresh_token"]

        emulator.admin.advance_clock(330 * DAY)  # past 90 % of the refresh token's 365 days: Kaizala rotates
        first = run(env, "dags", "test", "example_kaizala_hook_tour")
        assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
        assert "rotated the refresh token of connection kaizala_default" in first.stdout + first.stderr
        stored = run(env, "variables", "get", "kaizala_refresh_token_kaizala_default")
        assert stored.returncode == 0, stored.stderr[-2000:]
        rotated = stored.stdout.strip().splitlines()[-1]
        assert rotated
        assert rotated != original
        assert rotated not in first.stdout + first.stderr
        assert original not in first.stdout + first.stderr

        emulator.admin.advance_clock(40 * DAY)  # the connection's own refresh token has now expired
        since = emulator.admin.calls()[-1]["seq"]
        second = run(env, "dags", "test", "example_kaizala_hook_tour")
        output = second.stdout + second.stderr
        assert second.returncode == 0, output[-3000:]
        assert "state=failed" not in output.replace(" ", ""), output[-3000:]
        token_calls = [c for c in emulator.admin.calls(since) if c["path"].endswith("/accessToken")]
        assert token_calls
        assert [c["status"] for c in token_calls] == [200] * len(token_calls)
