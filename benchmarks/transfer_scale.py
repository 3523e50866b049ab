"""KaizalaToSqlOperator at scale: loading 100,000 and 1,000,000 subscribers into SQLite.

One emulator runs in a child process (its own core, throttling disabled) with two public groups, a small
and a big one (100,000 and 1,000,000 subscribers; quick 10,000 and 50,000). For each size, in its own
fresh child process each:

- ``paging``: the baseline, ``KaizalaHook.iter_subscriber_pages`` over the group alone (what any load must
  at least pay: HTTP, JSON, normalisation), run before and after the load and averaged (``--quick``: before);
- ``transfer``: ``KaizalaToSqlOperator(group_id=..., kind="subscribers").execute({})`` into a fresh SQLite
  file (an Airflow ``sqlite`` connection from ``AIRFLOW_CONN_*``): pages streamed into the staging table in
  batches, then one merge into the history table.

Figures: wall time, rows per second, the time spent inside the hook's page iterator (API), in the merge
(``_merge``: the set-based SQL after the last page) and the rest (building rows and staging inserts), the
SQLite file size and the peak RSS growth. Targets: the peak at the big size within **1.2x** of the peak at
the small size (the load streams), and the load's throughput at the big size at least **0.8x** of paging
alone.

The transfer children first load a 100-subscriber group into a throw-away SQLite file, so one-off imports
and first-use costs (connection lookup, SQL hook, ``pendulum``) stay out of the figures. The hook keeps
rotated refresh tokens in memory (``MemoryRefreshTokenStore``), as in ``hook_paging.py``; its limiter is
set so high that it never waits.
Memory is the peak RSS growth during the walk or the load, as in ``hook_paging.py``:
``/proc/self/clear_refs`` resets the peak to the current RSS just before it, and the peak after it (``VmHWM``
of ``/proc/self/status``; ``ru_maxrss`` without /proc) minus the RSS before it is reported (where
clear_refs is unavailable, the same difference without the reset, an upper bound); see ``_common.py``.

    python benchmarks/transfer_scale.py            # 100,000 and 1,000,000 subscribers, 2-4 minutes
    python benchmarks/transfer_scale.py --quick    # 10,000 and 50,000, a few seconds
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))  # _common.py, however this script is started
from _common import (
    PAGE,
    Measure,
    child_env,
    conn_var,
    connector,
    emulator,
    hook_connection,
    public_group,
    read_setup,
    report,
    row,
    run_child,
    timed_hook,
    verdict,
    write_setup,
)

CONN_ID = "kaizala_bench"
SQL_CONN_ID = "kaizala_bench_sqlite"
WARMUP_SQL_CONN_ID = "kaizala_bench_sqlite_warmup"
WARMUP_SUBSCRIBERS = 100
OBSERVED_AT = "2026-11-01T00:00:00+00:00"
MEMORY_TARGET = 1.2
THROUGHPUT_TARGET = 0.8


# ------------------------------------------------------------------------------------------ child side


def load(group: str, conn_id: str, db: str, api: dict[str, float], merge: dict[str, float]) -> dict[str, Any]:
    """One ``KaizalaToSqlOperator.execute`` of ``group``'s subscribers into the SQLite file ``db``."""
    from airflow_provider_kaizala.transfers.kaizala_to_sql import KaizalaToSqlOperator

    os.environ[conn_var(conn_id)] = json.dumps({"conn_type": "sqlite", "host": db})
    op = KaizalaToSqlOperator(
        task_id="load",
        kaizala_conn_id=CONN_ID,
        sql_conn_id=conn_id,
        group_id=group,
        kind="subscribers",
        observed_at=OBSERVED_AT,
    )
    op.__dict__["hook"] = timed_hook(CONN_ID, api)  # the cached_property, with the timed page iterator
    merge_one = op._merge

    def timed_merge(*args: Any, **kwargs: Any) -> dict[str, int]:
        t0 = time.perf_counter()
        try:
            return merge_one(*args, **kwargs)
        finally:
            merge["merge"] += time.perf_counter() - t0

    op._merge = timed_merge  # type: ignore[method-assign]
    return op.execute({})


def step_paging(setup: dict[str, Any], size: str) -> dict[str, Any]:
    """The baseline: the hook's page iterator alone over the group."""
    api = {"api": 0.0, "pages": 0}
    warm = timed_hook(CONN_ID, api)
    assert sum(len(p) for p in warm.iter_subscriber_pages(setup["warmup_group"], page_size=PAGE)) > 0
    api = {"api": 0.0, "pages": 0}
    with Measure() as m:
        hook = timed_hook(CONN_ID, api)
        rows = 0
        for page in hook.iter_subscriber_pages(setup["groups"][size], page_size=PAGE):
            rows += len(page)
    assert rows == setup["sizes"][size], (rows, setup["sizes"][size])
    return {"rows": rows, "wall": m.wall, "api": api["api"], "merge": 0.0, "mem_kib": m.mem_kib, "reset": m.reset}


def step_transfer(setup: dict[str, Any], size: str) -> dict[str, Any]:
    """The load into a fresh SQLite file, after a warm-up load of the small group into another one."""
    tmp = setup["tmp"]
    api = {"api": 0.0, "pages": 0}
    merge = {"merge": 0.0}
    warm = load(setup["warmup_group"], WARMUP_SQL_CONN_ID, os.path.join(tmp, f"warmup-{size}.db"), api, merge)
    assert warm["present"] == WARMUP_SUBSCRIBERS, warm
    db = os.path.join(tmp, f"load-{size}.db")
    api = {"api": 0.0, "pages": 0}
    merge = {"merge": 0.0}
    with Measure() as m:
        result = load(setup["groups"][size], SQL_CONN_ID, db, api, merge)
    n = setup["sizes"][size]
    assert (result["present"], result["joined"], result["left"]) == (n, n, 0), result
    return {
        "rows": result["present"],
        "wall": m.wall,
        "api": api["api"],
        "merge": merge["merge"],
        "mem_kib": m.mem_kib,
        "reset": m.reset,
        "db_bytes": os.path.getsize(db),
        "operator_rows_per_s": result["rowsPerSecond"],
    }


def child(step: str, size: str, setup_file: str) -> None:
    """Run one step at one size and print one JSON line with its figures."""
    setup = read_setup(setup_file)
    # The same kind of process as an Airflow worker running the task: Airflow and the operator imported.
    import airflow_provider_kaizala.transfers.kaizala_to_sql  # noqa: F401

    result = step_paging(setup, size) if step == "paging" else step_transfer(setup, size)
    report({"step": step, "size": size, **result})


# ----------------------------------------------------------------------------------------- parent side


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--small", type=int, default=100_000, help="subscribers of the small group")
    parser.add_argument("--big", type=int, default=1_000_000, help="subscribers of the big group")
    parser.add_argument("--quick", action="store_true", help="10,000 and 50,000 subscribers, paging alone once")
    parser.add_argument("--child", choices=("paging", "transfer"), help=argparse.SUPPRESS)
    parser.add_argument("--size", choices=("small", "big"), help=argparse.SUPPRESS)
    parser.add_argument("--setup", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.size, args.setup)
        return 0
    if args.quick:
        args.small, args.big = 10_000, 50_000

    sizes = {"small": args.small, "big": args.big}
    r: dict[tuple[str, str], dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="kaizala-bench-") as tmp, emulator() as emu:
        t0 = time.perf_counter()
        app = connector(emu)
        groups = {size: public_group(emu, f"Bench {n}", n) for size, n in sizes.items()}
        warmup_group = public_group(emu, "Warm-up", WARMUP_SUBSCRIBERS)
        print(
            f"setup: public groups of {args.small:,} and {args.big:,} subscribers in {time.perf_counter() - t0:.2f} s"
        )
        setup = {"groups": groups, "sizes": sizes, "warmup_group": warmup_group, "tmp": tmp}
        setup_file = write_setup(tmp, setup)
        env = child_env(tmp, {CONN_ID: hook_connection(emu, app)})

        def run_step(step: str, size: str) -> dict[str, Any]:
            """One step at one size in a fresh interpreter: its figures."""
            argv = ["--child", step, "--size", size, "--setup", setup_file]
            return run_child(__file__, argv, env, f"{step} of the {size} group")

        for size in ("small", "big"):
            # Paging alone before and after the load, averaged: the machine's load drifts over minutes.
            before = run_step("paging", size)
            r[("transfer", size)] = run_step("transfer", size)
            after = before if args.quick else run_step("paging", size)
            r[("paging", size)] = {
                **after,
                "walls": [before["wall"], after["wall"]],
                "wall": (before["wall"] + after["wall"]) / 2,
                "api": (before["api"] + after["api"]) / 2,
                "mem_kib": max(before["mem_kib"], after["mem_kib"]),
                "reset": before["reset"] and after["reset"],
            }

    print(f"\nsubscribers of a public group, pages of {PAGE}, into SQLite; each run in a fresh process")
    widths = (30, 10, 8, 9, 7, 8, 7, 16, 12)
    headers = ("rows", "wall s", "rows/s", "API s", "merge s", "rest s", "peak RSS growth", "SQLite file")
    print(row(widths, "run", *headers))
    for size in ("small", "big"):
        for step in ("paging", "transfer"):
            x = r[(step, size)]
            label = "paging alone (baseline)" if step == "paging" else "KaizalaToSqlOperator"
            rest = x["wall"] - x["api"] - x["merge"]
            db = f"{x['db_bytes'] / 1e6:,.0f} MB" if "db_bytes" in x else ""
            times = (f"{t:.2f}" for t in (x["api"], x["merge"], rest))
            figures = (f"{x['rows']:,}", f"{x['wall']:.2f}", f"{x['rows'] / x['wall']:,.0f}", *times)
            print(row(widths, label, *figures, f"{x['mem_kib'] / 1024:.1f} MiB", db))
    for size in () if args.quick else ("small", "big"):
        walls = r[("paging", size)]["walls"]
        print(
            f"  paging alone at {sizes[size]:,}: mean of {walls[0]:.2f} s (before the load), {walls[1]:.2f} s (after)"
        )
    if not all(x["reset"] for x in r.values()):
        print("  note: /proc/self/clear_refs unavailable; memory is the peak minus RSS before (upper bound)")

    small, big = r[("transfer", "small")], r[("transfer", "big")]
    mem_ratio = big["mem_kib"] / max(small["mem_kib"], 1)
    ratios = {size: r[("paging", size)]["wall"] / r[("transfer", size)]["wall"] for size in sizes}
    print(
        f"\npeak RSS growth of the load: {small['mem_kib'] / 1024:.1f} MiB at {args.small:,}, "
        f"{big['mem_kib'] / 1024:.1f} MiB at {args.big:,}: ratio {mem_ratio:.2f} (target <= {MEMORY_TARGET})"
    )
    print(
        f"throughput of the load / paging alone: {ratios['small']:.2f} at {args.small:,}, "
        f"{ratios['big']:.2f} at {args.big:,} (target >= {THROUGHPUT_TARGET} at {args.big:,})"
    )
    verdict(
        mem_ratio <= MEMORY_TARGET, f"load peak memory at {args.big:,} is {mem_ratio:.2f} x the peak at {args.small:,}"
    )
    verdict(
        ratios["big"] >= THROUGHPUT_TARGET, f"load throughput at {args.big:,} is {ratios['big']:.2f} x paging alone"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
