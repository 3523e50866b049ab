"""A load killed at about 90 % and retried: calls spent against one clean load (issue 17, point 4).

One emulator runs in a child process with a public group of 100,000 subscribers (``--quick``: 5,000); its
subscriber pages are answered after a few milliseconds (the ``slow`` fault), so a load can be killed where
it is meant to be. Each load is ``KaizalaToSqlOperator(group_id=..., kind="subscribers")`` in a process of
its own, into a SQLite file, run the way Airflow runs a task's try: the context names the task instance
(dag_id, task_id, run_id, map_index), and a retry is a new process given the same ones.

- ``clean``: one load from start to end;
- ``resumable``: a load killed with SIGKILL once its checkpoint passed 90 % of the pages, then its retry
  (checkpointed walks, the default);
- ``old``: the same kill and retry with ``resumable=False`` (how every load behaved before checkpoints: the
  retry walks from page 1); not with ``--quick``, which keeps to three processes.

Figures: the subscriber pages each fetched (from the emulator's call log), the total of the killed try and
its retry against the clean load, and whether each warehouse equals the emulator's ground truth (the open
spells of the group are exactly its subscribers). Target: killed + retry <= **1.15x** the clean load.

    python benchmarks/resumable_load.py            # 100,000 subscribers, a few minutes
    python benchmarks/resumable_load.py --quick    # 5,000 subscribers, about 15 s (three processes)
"""

from __future__ import annotations

import argparse
import json
import math
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))  # _common.py, however this script is started
from _common import (
    PAGE,
    child_env,
    conn_var,
    connector,
    emulator,
    hook_connection,
    public_group,
    read_setup,
    report,
    row,
    verdict,
    write_setup,
)

CONN_ID = "kaizala_bench"
SQL_CONN_ID = "kaizala_bench_sqlite"
OBSERVED_AT = "2026-11-01T00:00:00+00:00"
TARGET = 1.15
KILL_AT = 0.9
TABLE = "kaizala_membership"


# ------------------------------------------------------------------------------------------ child side


def child(setup_file: str, db: str, run_id: str, resumable: bool) -> None:
    """One try of the load, as a task's try on a worker; prints its result as one JSON line."""
    setup = read_setup(setup_file)
    from airflow_provider_kaizala.hooks.kaizala import KaizalaHook
    from airflow_provider_kaizala.hooks.token_store import MemoryRefreshTokenStore
    from airflow_provider_kaizala.transfers.kaizala_to_sql import KaizalaToSqlOperator

    os.environ[conn_var(SQL_CONN_ID)] = json.dumps({"conn_type": "sqlite", "host": db})
    op = KaizalaToSqlOperator(
        task_id="load",
        kaizala_conn_id=CONN_ID,
        sql_conn_id=SQL_CONN_ID,
        table=TABLE,
        group_id=setup["group"],
        kind="subscribers",
        observed_at=OBSERVED_AT,
        checkpoint_pages=setup["checkpoint_pages"],
        resumable=resumable,
    )
    op.__dict__["hook"] = KaizalaHook(CONN_ID, refresh_token_store=MemoryRefreshTokenStore())
    ti = SimpleNamespace(dag_id="bench", task_id="load", run_id=run_id, map_index=-1)
    report(op.execute({"ti": ti}))


# ----------------------------------------------------------------------------------------- parent side


def start(setup_file: str, env: dict[str, str], db: str, run_id: str, resumable: bool) -> subprocess.Popen[str]:
    args = ["--child", "--setup", setup_file, "--db", db, "--run-id", run_id]
    if not resumable:
        args.append("--old")
    return subprocess.Popen(
        [sys.executable, __file__, *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def finish(proc: subprocess.Popen[str], what: str) -> dict[str, Any]:
    out, err = proc.communicate(timeout=3600)
    if proc.returncode != 0:
        sys.stderr.write(out + err)
        raise RuntimeError(f"{what} failed (exit {proc.returncode})")
    return dict(json.loads([line for line in out.splitlines() if line.startswith("{")][-1]))


def staged_pages(db: str, resumable: bool) -> int:
    """How far the running try got: its checkpoint (resumable), or the rows in its staging table (old)."""
    try:
        with sqlite3.connect(db, timeout=0.05) as con:
            if resumable:
                rows = con.execute(f"SELECT pages FROM {TABLE}_walks").fetchall()
                return int(rows[0][0]) if rows else 0
            return 0
    except sqlite3.Error:
        return 0


def kill_at(
    proc: subprocess.Popen[str], db: str, pages: int, resumable: bool, started: float, clean_wall: float
) -> None:
    """SIGKILL ``proc`` at about ``KILL_AT`` of the walk: by its checkpoint, or (old) by the clean load's time."""
    while proc.poll() is None:
        if resumable and staged_pages(db, True) >= KILL_AT * pages:
            break
        if not resumable and time.perf_counter() - started >= KILL_AT * clean_wall:
            break
        time.sleep(0.005)
    if proc.poll() is not None:
        raise RuntimeError("the load ended before it could be killed; use a bigger group")
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=60)


def subscriber_calls(emu: Any, group: str, since: int) -> int:
    path = f"/v1/groups/{group}/subscribers"
    return sum(1 for c in emu.admin.calls(since) if c["path"] == path and c["method"] == "POST")


def seq(emu: Any) -> int:
    calls = emu.admin.calls()
    return int(calls[-1]["seq"]) if calls else 0


def matches_truth(db: str, truth: set[str], group: str) -> bool:
    with sqlite3.connect(db) as con:
        rows = con.execute(
            f"SELECT mobile_number FROM {TABLE} WHERE group_id = ? AND kind = 'subscribers' AND left_at IS NULL",
            (group,),
        ).fetchall()
    return {r[0] for r in rows} == truth and len(rows) == len(truth)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--subscribers", type=int, default=100_000)
    parser.add_argument("--quick", action="store_true", help="5,000 subscribers")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--setup", help=argparse.SUPPRESS)
    parser.add_argument("--db", help=argparse.SUPPRESS)
    parser.add_argument("--run-id", help=argparse.SUPPRESS)
    parser.add_argument("--old", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.setup, args.db, args.run_id, not args.old)
        return 0
    size = 5_000 if args.quick else args.subscribers
    pages = math.ceil(size / PAGE)
    checkpoint_pages = 5 if args.quick else 20
    with tempfile.TemporaryDirectory(prefix="kaizala-bench-") as tmp, emulator() as emu:
        app = connector(emu)
        group = public_group(emu, "Resumable", size)
        # Pages answered after a few ms, so the kill lands at about 90 % (quick: fewer, slower pages).
        emu.admin.faults(slow_rate=1.0, slow_seconds=0.02 if args.quick else 0.005, fault_paths=r"/subscribers$")
        setup_file = write_setup(tmp, {"group": group, "checkpoint_pages": checkpoint_pages})
        env = child_env(tmp, {CONN_ID: hook_connection(emu, app)})
        truth = {s["mobileNumber"] for s in emu.admin.subscribers(group)}
        print(
            f"setup: a public group of {size:,} subscribers ({pages:,} pages), SQLite warehouse, a checkpoint "
            f"every {checkpoint_pages} pages, kill at {KILL_AT:.0%} of the walk"
        )

        dbs = {name: os.path.join(tmp, f"{name}.db") for name in ("clean", "resumable", "old")}
        before = seq(emu)
        t0 = time.perf_counter()
        clean = finish(start(setup_file, env, dbs["clean"], "clean", True), "the clean load")
        clean_wall = time.perf_counter() - t0
        calls: dict[str, tuple[int, int]] = {"clean": (subscriber_calls(emu, group, before), 0)}
        ok = {"clean": clean["present"] == size and matches_truth(dbs["clean"], truth, group)}
        variants = (("resumable", True),) if args.quick else (("resumable", True), ("old", False))
        for name, resumable in variants:
            before = seq(emu)
            t0 = time.perf_counter()
            first = start(setup_file, env, dbs[name], name, resumable)
            kill_at(first, dbs[name], pages, resumable, t0, clean_wall)
            time.sleep(0.1)  # the killed try's last request is logged when the emulator answers it
            middle = seq(emu)
            killed = subscriber_calls(emu, group, before)
            retry = finish(start(setup_file, env, dbs[name], name, resumable), f"the {name} retry")
            calls[name] = (killed, subscriber_calls(emu, group, middle))
            ok[name] = retry["present"] == size and matches_truth(dbs[name], truth, group)

    widths = (34, 12, 12, 12, 10, 8)
    print(row(widths, "", "killed try", "retry", "total", "x clean", "= truth"))
    base = calls["clean"][0]
    for name, label in (
        ("clean", "clean load"),
        ("resumable", "killed + retry, checkpointed"),
        ("old", "killed + retry, from page 1 (old)"),
    ):
        if name not in calls:
            print(f"{label}: not run with --quick (its retry walks all {pages:,} pages again)")
            continue
        killed, retry_calls = calls[name]
        total = killed + retry_calls
        print(
            row(
                widths,
                label,
                f"{killed:,}" if name != "clean" else "-",
                f"{retry_calls:,}" if name != "clean" else "-",
                f"{total:,}",
                f"{total / base:.3f}x",
                "yes" if ok[name] else "NO",
            )
        )
    ratio = sum(calls["resumable"]) / base
    verdict(ratio <= TARGET, f"killed + retry spends {ratio:.3f}x the calls of one clean load (target <= {TARGET}x)")
    verdict(all(ok.values()), "every warehouse equals the emulator's ground truth")
    return 0


if __name__ == "__main__":
    sys.exit(main())
