"""`make demo`: the provider's main job, membership ETL into a warehouse, against the Kaizala emulator.

1. starts the emulator with the demo tenant (groups, a sub-group hierarchy, a 5,000-subscriber public group);
2. prepares an embedded SQLite Airflow home and an SQLite warehouse under ``.demo/``;
3. runs the daily ETL DAG (``example_kaizala_membership_etl``) for one day;
4. lets the emulator churn the membership (people join and leave);
5. runs the DAG again for the next day;
6. prints the groups with member and subscriber counts, who joined and left between the runs, and where
   the warehouse is; then stops the emulator.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from airflow_provider_kaizala.emulator.server import KaizalaEmulator

REPO = Path(__file__).resolve().parent.parent
DEMO_DIR = REPO / ".demo"
DAG_ID = "example_kaizala_membership_etl"
DAYS = ("2026-11-26", "2026-11-27")
#: Kaizala allows 100 calls per minute per connector; the demo compresses that minute to one second on
#: both sides, so paging 5,000 subscribers takes seconds while still exercising the client's pacing.
WINDOW = 1.0
#: The emulator embeds this marker in every secret it issues (secret scan at the end).
SECRET_MARKER = os.environ.setdefault("KAIZALA_EMULATOR_SECRET_MARKER", "KZDEMOSECRET")


def airflow_env(home: Path, conn: dict, warehouse: Path, managers_group: str) -> dict[str, str]:
    """Environment of an isolated Airflow home that reaches the emulator and the warehouse."""
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "example_dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING",
        "AIRFLOW_CONN_KAIZALA_DEFAULT": json.dumps(conn),
        "AIRFLOW_CONN_KAIZALA_WAREHOUSE": json.dumps({"conn_type": "sqlite", "host": str(warehouse)}),
        "AIRFLOW_VAR_KAIZALA_MANAGERS_GROUP": managers_group,
    }
    env.pop("AIRFLOW__CORE__UNIT_TEST_MODE", None)
    return env


def run(args: list[str], env: dict[str, str]) -> str:
    """Run an Airflow CLI command; show its output only when it fails; return it."""
    result = subprocess.run(args, env=env, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        sys.stdout.write(result.stdout[-4000:])
        sys.stderr.write(result.stderr[-4000:])
        raise SystemExit(f"demo: `airflow {' '.join(args[1:4])}` failed with exit code {result.returncode}")
    return result.stdout + result.stderr


def secret_scan(outputs: list[str]) -> None:
    """Every secret the emulator issued carries SECRET_MARKER: look for it in the Airflow output and in every
    file of the demo (task logs, the metadata database with its XComs and rendered templates, the warehouse)."""
    files = [path for path in DEMO_DIR.rglob("*") if path.is_file()]
    leaks = [str(path) for path in files if SECRET_MARKER.encode() in path.read_bytes()]
    leaks += [f"airflow output {n}" for n, text in enumerate(outputs) if SECRET_MARKER in text]
    print(f"\nSecret scan: {len(leaks)} occurrence(s) of an issued secret in the Airflow output and {len(files)} files")
    if leaks:
        raise SystemExit("demo: secrets leaked into: " + ", ".join(leaks))


def report(warehouse: Path, day_one: str, day_two: str) -> None:
    """Print what a user wants to see from the two loads."""
    with sqlite3.connect(warehouse) as db:
        observed = [
            row[0]
            for row in db.execute("SELECT DISTINCT observed_at FROM kaizala_membership_loads ORDER BY observed_at")
        ]
        first, second = observed[0], observed[-1]
        groups = db.execute(
            "SELECT group_name, group_type, members, subscribers FROM kaizala_membership_groups "
            "WHERE observed_at = ? ORDER BY group_name",
            (second,),
        ).fetchall()
        changes = db.execute(
            "SELECT g.group_name, m.kind, "
            "SUM(CASE WHEN m.first_seen = ? THEN 1 ELSE 0 END), SUM(CASE WHEN m.left_at = ? THEN 1 ELSE 0 END) "
            "FROM kaizala_membership m JOIN kaizala_membership_groups g "
            "ON g.group_id = m.group_id AND g.observed_at = ? "
            "WHERE m.first_seen = ? OR m.left_at = ? GROUP BY g.group_name, m.kind ORDER BY g.group_name, m.kind",
            (second, second, second, second, second),
        ).fetchall()
        samples = [
            (what, number)
            for what, column in (("joined", "first_seen"), ("left", "left_at"))
            for (number,) in db.execute(
                f"SELECT mobile_number FROM kaizala_membership WHERE {column} = ? ORDER BY mobile_number LIMIT 3",
                (second,),
            )
        ]
        spells = db.execute("SELECT COUNT(*) FROM kaizala_membership").fetchone()[0]
    print(f"\nGroups on {day_two} (loaded at {second}):")
    print(f"  {'Group':<26}{'Type':<14}{'Members':>9}{'Subscribers':>13}")
    for name, kind, members, subscribers in groups:
        print(f"  {name:<26}{kind:<14}{members or 0:>9}{subscribers or 0:>13}")
    print(f"\nJoins and leaves between {day_one} and {day_two}:")
    print(f"  {'Group':<26}{'List':<14}{'Joined':>9}{'Left':>13}")
    for name, kind, joined, left in changes:
        print(f"  {name:<26}{kind:<14}{joined:>9}{left:>13}")
    print("  for example: " + ", ".join(f"{number} {what}" for what, number in samples))
    print(f"\nWarehouse: {warehouse} ({spells} membership spells since {first})")
    print(
        "  who was a member on a date D: SELECT * FROM kaizala_membership "
        "WHERE first_seen <= D AND (left_at IS NULL OR left_at > D)"
    )


def main() -> None:
    """Run the demo."""
    started = time.monotonic()
    home, warehouse = DEMO_DIR / "airflow_home", DEMO_DIR / "warehouse.db"
    if DEMO_DIR.exists():
        shutil.rmtree(DEMO_DIR)
    home.mkdir(parents=True)
    airflow = str(Path(sys.executable).with_name("airflow"))
    print("Starting the Kaizala emulator with the demo tenant ...")
    with KaizalaEmulator(seed="demo", subprocess=True, throttle_limit=100, throttle_window=WINDOW) as emulator:
        assert emulator.conn is not None
        assert emulator.demo is not None
        demo = emulator.demo
        print(f"  emulator on {emulator.url}: {len(demo['groups'])} groups, {demo['subscriberCount']} subscribers")
        conn = {**emulator.conn, "extra": {**emulator.conn["extra"], "rate_limit_window": WINDOW}}
        env = airflow_env(home, conn, warehouse, demo["groups"]["Managers"])
        print(f"Preparing the Airflow home {home.relative_to(REPO)} (SQLite) ...")
        outputs = [run([airflow, "db", "migrate"], env)]
        print(f"Day 1: `airflow dags test {DAG_ID} {DAYS[0]}` ...")
        outputs.append(run([airflow, "dags", "test", DAG_ID, DAYS[0]], env))
        print("The membership churns: people join and leave ...")
        emulator.admin.churn(demo["publicGroupId"], "subscribers", add=40, remove=25, seed=2026)
        emulator.admin.churn(demo["groups"]["Field Operations"], "members", add=2, remove=1, seed=2026)
        emulator.admin.churn(demo["groups"]["North Region"], "members", add=1, seed=2027)
        print(f"Day 2: `airflow dags test {DAG_ID} {DAYS[1]}` ...")
        outputs.append(run([airflow, "dags", "test", DAG_ID, DAYS[1]], env))
        messages = emulator.admin.messages(demo["groups"]["Managers"])
    report(warehouse, *DAYS)
    if messages:
        print("\nThe managers' group got this Kaizala message from the last run:")
        print("  " + messages[-1]["message"].replace("\n", "\n  "))
    secret_scan(outputs)
    print(f"\nDemo finished in {time.monotonic() - started:.1f} s.")


if __name__ == "__main__":
    main()
