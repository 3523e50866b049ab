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
clear_refs is unavailable, the same difference without the reset, an upper bound).

    python benchmarks/transfer_scale.py            # 100,000 and 1,000,000 subscribers, 2-4 minutes
    python benchmarks/transfer_scale.py --quick    # 10,000 and 50,000, a few seconds
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
PAGE = 50
PHONE = "+919810000001"
CONN_ID = "kaizala_bench"
SQL_CONN_ID = "kaizala_bench_sqlite"
WARMUP_SQL_CONN_ID = "kaizala_bench_sqlite_warmup"
WARMUP_SUBSCRIBERS = 100
OBSERVED_AT = "2026-11-01T00:00:00+00:00"
MEMORY_TARGET = 1.2
THROUGHPUT_TARGET = 0.8


# ------------------------------------------------------------------------------------------ child side


def rss_kib() -> int:
    """Current resident set size in KiB (Linux /proc; 0 elsewhere)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 1024
    except (OSError, ValueError, IndexError):
        return 0


def reset_peak() -> bool:
    """Reset the kernel's peak-RSS mark to the current RSS; False where that is not possible."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def peak_kib() -> int:
    """The peak RSS since the last reset in KiB: ``VmHWM`` (what clear_refs resets), else ``ru_maxrss``.

    ``ru_maxrss`` alone is not enough here: at ``exec`` the kernel carries the spawning process's peak into
    it, so a child started by a parent bigger than itself would report the parent's peak.
    """
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)  # KiB on Linux


class Measure:
    """Peak RSS growth and wall time of one step: ``with Measure() as m: ...`` then ``m.mem_kib``, ``m.wall``."""

    def __enter__(self) -> Measure:
        import gc

        gc.collect()
        self.rss0 = rss_kib()
        self.reset = reset_peak()
        self.t0 = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = time.perf_counter() - self.t0
        self.mem_kib = max(0, peak_kib() - self.rss0)


def make_hook(api: dict[str, float]) -> Any:
    """A KaizalaHook whose page iterator adds the time spent inside it (HTTP, JSON, normalising) to ``api``."""
    from airflow_provider_kaizala.hooks.kaizala import KaizalaHook
    from airflow_provider_kaizala.hooks.token_store import MemoryRefreshTokenStore

    hook = KaizalaHook(CONN_ID, refresh_token_store=MemoryRefreshTokenStore())
    pages = hook.iter_subscriber_pages

    def timed_pages(*args: Any, **kwargs: Any) -> Iterator[list[dict[str, Any]]]:
        it = pages(*args, **kwargs)
        while True:
            t0 = time.perf_counter()
            try:
                page = next(it)
            except StopIteration:
                api["api"] += time.perf_counter() - t0
                return
            api["api"] += time.perf_counter() - t0
            api["pages"] += 1
            yield page

    hook.iter_subscriber_pages = timed_pages
    return hook


def load(group: str, conn_id: str, db: str, api: dict[str, float], merge: dict[str, float]) -> dict[str, Any]:
    """One ``KaizalaToSqlOperator.execute`` of ``group``'s subscribers into the SQLite file ``db``."""
    from airflow_provider_kaizala.transfers.kaizala_to_sql import KaizalaToSqlOperator

    os.environ[f"AIRFLOW_CONN_{conn_id.upper()}"] = json.dumps({"conn_type": "sqlite", "host": db})
    op = KaizalaToSqlOperator(
        task_id="load",
        kaizala_conn_id=CONN_ID,
        sql_conn_id=conn_id,
        group_id=group,
        kind="subscribers",
        observed_at=OBSERVED_AT,
    )
    op.__dict__["hook"] = make_hook(api)  # the cached_property, with the timed page iterator
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
    warm = make_hook(api)
    assert sum(len(p) for p in warm.iter_subscriber_pages(setup["warmup_group"], page_size=PAGE)) > 0
    api = {"api": 0.0, "pages": 0}
    with Measure() as m:
        hook = make_hook(api)
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
    setup = json.loads(Path(setup_file).read_text())
    # The same kind of process as an Airflow worker running the task: Airflow and the operator imported.
    import airflow_provider_kaizala.transfers.kaizala_to_sql  # noqa: F401

    result = step_paging(setup, size) if step == "paging" else step_transfer(setup, size)
    print(json.dumps({"step": step, "size": size, **result}), flush=True)


# ----------------------------------------------------------------------------------------- parent side


def run_child(step: str, size: str, setup_file: str, env: dict[str, str]) -> dict[str, Any]:
    """Start a fresh interpreter for one step and return its figures."""
    proc = subprocess.run(
        [sys.executable, __file__, "--child", step, "--size", size, "--setup", setup_file],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout + proc.stderr)
        raise RuntimeError(f"{step} of the {size} group failed (exit {proc.returncode})")
    last = [line for line in proc.stdout.splitlines() if line.startswith("{")][-1]
    return dict(json.loads(last))


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

    sys.path.insert(0, str(REPO))
    from airflow_provider_kaizala.emulator.server import KaizalaEmulator

    sizes = {"small": args.small, "big": args.big}
    r: dict[tuple[str, str], dict[str, Any]] = {}
    with (
        tempfile.TemporaryDirectory(prefix="kaizala-bench-") as tmp,
        KaizalaEmulator(subprocess=True, throttle_limit=0, tenant_throttle_limit=0) as emu,
    ):
        t0 = time.perf_counter()
        app = emu.admin.create_connector(phone=PHONE)
        groups = {
            size: emu.admin.create_group(name=f"Bench {n}", groupType="ConnectGroup", admins=[PHONE], subscriberCount=n)
            for size, n in sizes.items()
        }
        warmup_group = emu.admin.create_group(
            name="Warm-up", groupType="ConnectGroup", admins=[PHONE], subscriberCount=WARMUP_SUBSCRIBERS
        )
        print(
            f"setup: public groups of {args.small:,} and {args.big:,} subscribers in {time.perf_counter() - t0:.2f} s"
        )
        conn = json.loads(emu.connection_uri_json(app))
        conn["extra"]["rate_limit_per_minute"] = 1_000_000_000  # the limiter never waits
        setup_file = os.path.join(tmp, "setup.json")
        Path(setup_file).write_text(
            json.dumps({"groups": groups, "sizes": sizes, "warmup_group": warmup_group, "tmp": tmp})
        )
        env = dict(os.environ)
        env.update(
            {
                "PYTHONPATH": os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH")) if p),
                "AIRFLOW_HOME": os.path.join(tmp, "airflow"),
                "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
                f"AIRFLOW_CONN_{CONN_ID.upper()}": json.dumps(conn),
            }
        )
        for size in ("small", "big"):
            # Paging alone before and after the load, averaged: the machine's load drifts over minutes.
            before = run_child("paging", size, setup_file, env)
            r[("transfer", size)] = run_child("transfer", size, setup_file, env)
            after = before if args.quick else run_child("paging", size, setup_file, env)
            r[("paging", size)] = {
                **after,
                "walls": [before["wall"], after["wall"]],
                "wall": (before["wall"] + after["wall"]) / 2,
                "api": (before["api"] + after["api"]) / 2,
                "mem_kib": max(before["mem_kib"], after["mem_kib"]),
                "reset": before["reset"] and after["reset"],
            }

    print(f"\nsubscribers of a public group, pages of {PAGE}, into SQLite; each run in a fresh process")
    print(
        f"{'run':<30} {'rows':>10} {'wall s':>8} {'rows/s':>9} {'API s':>7} {'merge s':>8} {'rest s':>7} "
        f"{'peak RSS growth':>16} {'SQLite file':>12}"
    )
    for size in ("small", "big"):
        for step in ("paging", "transfer"):
            x = r[(step, size)]
            label = "paging alone (baseline)" if step == "paging" else "KaizalaToSqlOperator"
            rest = x["wall"] - x["api"] - x["merge"]
            db = f"{x['db_bytes'] / 1e6:,.0f} MB" if "db_bytes" in x else ""
            print(
                f"{label:<30} {x['rows']:>10,} {x['wall']:8.2f} "
                f"{x['rows'] / x['wall']:9,.0f} {x['api']:7.2f} {x['merge']:8.2f} {rest:7.2f} "
                f"{x['mem_kib'] / 1024:12.1f} MiB {db:>12}"
            )
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
    verdict = "PASS" if mem_ratio <= MEMORY_TARGET else "FAIL"
    print(f"{verdict}: load peak memory at {args.big:,} is {mem_ratio:.2f} x the peak at {args.small:,}")
    verdict = "PASS" if ratios["big"] >= THROUGHPUT_TARGET else "FAIL"
    print(f"{verdict}: load throughput at {args.big:,} is {ratios['big']:.2f} x paging alone")
    return 0


if __name__ == "__main__":
    sys.exit(main())
