"""`make demo`: start the Kaizala emulator with the demo tenant and run the demo DAG against it.

Prepares an embedded SQLite Airflow home under ``.demo/``, runs ``airflow dags test`` on
``example_kaizala_hook_tour``, prints what the DAG found and what the emulator saw, and stops the emulator.
"""

from __future__ import annotations

import collections
import json
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from airflow_provider_kaizala.emulator.server import KaizalaEmulator

REPO = Path(__file__).resolve().parent.parent
DEMO_DIR = REPO / ".demo"
DAG_ID = "example_kaizala_hook_tour"
WINDOW = 1.0


def airflow_env(home: Path, conn: dict) -> dict[str, str]:
    """Environment of an isolated Airflow home that reaches the emulator."""
    return {
        **os.environ,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "example_dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING",
        "AIRFLOW_CONN_KAIZALA_DEFAULT": json.dumps(conn),
    }


def run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run an Airflow CLI command; show its output only when it fails."""
    result = subprocess.run(args, env=env, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        sys.stdout.write(result.stdout[-4000:])
        sys.stderr.write(result.stderr[-4000:])
        raise SystemExit(f"demo: {' '.join(args[1:3])} failed with exit code {result.returncode}")
    return result


def latest_xcom(db: Path, task_id: str) -> object:
    """The return value of ``task_id`` in the latest run of the demo DAG."""
    with sqlite3.connect(db) as con:
        row = con.execute(
            "SELECT value FROM xcom WHERE dag_id = ? AND task_id = ? AND key = 'return_value' "
            "ORDER BY timestamp DESC LIMIT 1",
            (DAG_ID, task_id),
        ).fetchone()
    if row is None:
        raise SystemExit(f"demo: no result from task {task_id}")
    value = row[0]
    return json.loads(value) if isinstance(value, (str, bytes)) else value


def route_of(path: str) -> str:
    """``/v1/groups/<id>/members`` -> ``/v1/groups/{id}/members``."""
    return "/".join("{id}" if "@" in part or len(part) >= 32 else part for part in path.split("/"))


def main() -> None:
    """Run the demo."""
    started = time.monotonic()
    home = DEMO_DIR / "airflow_home"
    home.mkdir(parents=True, exist_ok=True)
    airflow = str(Path(sys.executable).with_name("airflow"))
    print("Starting the Kaizala emulator with the demo tenant ...")
    # Kaizala allows 100 calls per minute per connector; the demo compresses that minute to one second
    # (on both sides) so that paging 5,000 subscribers takes seconds while still exercising the pacing.
    with KaizalaEmulator(seed="demo", subprocess=True, throttle_limit=100, throttle_window=WINDOW) as emulator:
        assert emulator.conn is not None
        print(f"  emulator: {emulator.url} (alternate endpoint {emulator.alt_url})")
        conn = {**emulator.conn, "extra": {**emulator.conn["extra"], "rate_limit_window": WINDOW}}
        env = airflow_env(home, conn)
        print(f"Preparing the Airflow home {home.relative_to(REPO)} (SQLite) ...")
        run([airflow, "db", "migrate"], env)
        print(f"Running `airflow dags test {DAG_ID}` ...")
        run([airflow, "dags", "test", DAG_ID], env)
        rows = latest_xcom(home / "airflow.db", "count_people")
        calls = emulator.admin.calls()
    assert isinstance(rows, list)
    print()
    print(f"{'Group':<28}{'Members':>9}{'Admins':>8}{'Subscribers':>13}")
    for row in rows:
        print(f"{row['group']:<28}{row['members']:>9}{row['admins']:>8}{row['subscribers']:>13}")
    by_path = collections.Counter(f"{call['method']} {route_of(call['path'])}" for call in calls)
    print()
    print(f"The emulator answered {len(calls)} calls: " + ", ".join(f"{k} x{v}" for k, v in by_path.most_common()))
    print(f"Demo finished in {time.monotonic() - started:.1f} s.")


if __name__ == "__main__":
    main()
