"""Paging a public group's subscribers: KaizalaHook vs a bare ``requests`` loop vs Airflow's HttpOperator.

One emulator runs in a child process (its own core, throttling disabled) with a public group of N
subscribers. Each variant then walks the whole group, pages of 50, in its own fresh child process:

- ``bare``: a ``requests.Session`` cursor loop, the baseline (what any client must at least pay);
- ``hook``: ``KaizalaHook.iter_subscribers`` (connection extra ``rate_limit_per_minute`` so high that the
  limiter never waits), i.e. the cost of the hook's policy, limiter, validation and normalisation;
- ``operator``: ``HttpOperator`` (apache-airflow-providers-http) with a ``pagination_function`` that follows
  the cursor, run by ``op.execute(context={})`` outside a DAG.

``bare`` and ``hook`` are run interleaved 3 times (1 in ``--quick``) and the median is reported. Besides
wall time, each child reports its own CPU time per page (``time.process_time``), which shows the client's
cost even when a busy machine makes wall times noisy.
Memory is the peak RSS growth while paging: ``/proc/self/clear_refs`` resets the peak to the current RSS
just before the walk, and the peak after it (``VmHWM`` of ``/proc/self/status``; ``ru_maxrss`` without /proc)
minus the RSS before it is reported (where clear_refs is unavailable, the same difference without the reset,
an upper bound); see ``_common.py``.

    python benchmarks/hook_paging.py            # 100,000 subscribers
    python benchmarks/hook_paging.py --quick    # 5,000 subscribers, a few seconds
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))  # _common.py, however this script is started
from _common import (
    PAGE,
    Measure,
    access_token,
    child_env,
    connector,
    emulator,
    hook_connection,
    public_group,
    read_setup,
    report,
    row,
    run_child,
    verdict,
    write_setup,
)

HOOK_CONN_ID = "kaizala_bench"
HTTP_CONN_ID = "kaizala_bench_http"
TARGET = 0.95


# ------------------------------------------------------------------------------------------ child side


def walk_bare(setup: dict[str, Any]) -> int:
    """Cursor loop with a bare ``requests.Session``; returns the number of pages."""
    import requests

    session = requests.Session()
    token = access_token(session.get, setup["url"], setup["app"])
    url = f"{setup['url']}/v1/groups/{setup['group']}/subscribers"
    headers = {"accessToken": token}
    cursor: str | None = None
    pages = seen = 0
    while True:
        body: dict[str, Any] = {"count": PAGE} if cursor is None else {"count": PAGE, "cursor": cursor}
        resp = session.post(url, json=body, headers=headers)
        resp.raise_for_status()
        data = resp.json()
        pages += 1
        seen += len(data["subscribers"])
        cursor = data.get("cursor")
        if not cursor:
            break
    assert seen == setup["subscribers"], (seen, setup["subscribers"])
    return pages


def walk_hook(setup: dict[str, Any]) -> int:
    """``KaizalaHook.iter_subscriber_pages``/``iter_subscribers``; returns the number of pages."""
    from airflow_provider_kaizala.hooks.kaizala import KaizalaHook
    from airflow_provider_kaizala.hooks.token_store import MemoryRefreshTokenStore

    hook = KaizalaHook(HOOK_CONN_ID, refresh_token_store=MemoryRefreshTokenStore())
    seen = 0
    for _ in hook.iter_subscribers(setup["group"], page_size=PAGE):
        seen += 1
    assert seen == setup["subscribers"], (seen, setup["subscribers"])
    return -(-seen // PAGE)


def walk_operator(setup: dict[str, Any]) -> int:
    """``HttpOperator`` with a cursor-following ``pagination_function``; returns the number of pages."""
    import requests
    from airflow.providers.http.operators.http import HttpOperator

    token = access_token(requests.get, setup["url"], setup["app"])
    counts = {"pages": 0, "subscribers": 0}

    def next_page(response: requests.Response) -> dict[str, Any] | None:
        data = response.json()
        counts["pages"] += 1
        counts["subscribers"] += len(data["subscribers"])
        cursor = data.get("cursor")
        return {"data": json.dumps({"count": PAGE, "cursor": cursor})} if cursor else None

    op = HttpOperator(
        task_id="page_subscribers",
        http_conn_id=HTTP_CONN_ID,
        endpoint=f"v1/groups/{setup['group']}/subscribers",
        method="POST",
        # HttpHook.run sends ``data`` as the form body: a JSON string plus Content-Type gives a JSON body.
        data=json.dumps({"count": PAGE}),
        headers={"accessToken": token, "Content-Type": "application/json"},
        pagination_function=next_page,
        # The default result is the list of every page's text; return just the page count instead.
        response_filter=lambda responses: len(responses),
    )
    pages = op.execute(context={})
    assert counts["subscribers"] == setup["subscribers"], (counts, setup["subscribers"])
    assert pages == counts["pages"], (pages, counts)
    return int(pages)


WALKS = {"bare": walk_bare, "hook": walk_hook, "operator": walk_operator}


def child(variant: str, setup_file: str) -> None:
    """Run one variant and print one JSON line with its figures."""
    import logging

    setup = read_setup(setup_file)
    # Every variant starts from the same kind of process as an Airflow task: requests and Airflow (with the
    # hook module) already imported. Import cost is benchmarks/import_cost.py's subject.
    import requests

    import airflow_provider_kaizala.hooks.kaizala  # noqa: F401

    if variant == "operator":
        import airflow.providers.http.operators.http  # noqa: F401
    # One throw-away request loads what requests imports lazily on first use, for every variant alike.
    requests.get(f"{setup['url']}/_emulator/faults", timeout=10).raise_for_status()
    logging.disable(logging.WARNING)  # HttpOperator warns it runs outside a task runner: expected here
    with Measure() as m:
        pages = WALKS[variant](setup)
    report(
        {"variant": variant, "pages": pages, "wall": m.wall, "cpu": m.cpu, "mem_kib": m.mem_kib, "peak_reset": m.reset}
    )


# ----------------------------------------------------------------------------------------- parent side


def median_run(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The run with the median wall time (its memory figure alongside)."""
    ordered = sorted(runs, key=lambda r: r["wall"])
    chosen = dict(ordered[len(ordered) // 2])
    chosen["walls"] = [r["wall"] for r in runs]
    chosen["mem_kib"] = statistics.median(r["mem_kib"] for r in runs)
    chosen["cpu"] = statistics.median(r["cpu"] for r in runs)
    return chosen


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--subscribers", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=3, help="interleaved repeats of bare and hook")
    parser.add_argument("--quick", action="store_true", help="5,000 subscribers, 1 repeat")
    parser.add_argument("--child", choices=sorted(WALKS), help=argparse.SUPPRESS)
    parser.add_argument("--setup", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.setup)
        return 0
    if args.quick:
        args.subscribers, args.repeats = 5_000, 1

    with tempfile.TemporaryDirectory(prefix="kaizala-bench-") as tmp, emulator() as emu:
        t0 = time.perf_counter()
        app = connector(emu)
        group = public_group(emu, "Bench", args.subscribers)
        print(f"setup: public group of {args.subscribers:,} subscribers in {time.perf_counter() - t0:.2f} s")
        host, port = emu.url.split("://", 1)[1].rsplit(":", 1)
        setup_file = write_setup(tmp, {"url": emu.url, "app": app, "group": group, "subscribers": args.subscribers})
        http_conn = {"conn_type": "http", "host": host, "port": int(port), "schema": "http"}
        env = child_env(tmp, {HOOK_CONN_ID: hook_connection(emu, app), HTTP_CONN_ID: http_conn})

        def run_variant(variant: str) -> dict[str, Any]:
            """One variant in a fresh interpreter: its figures."""
            return run_child(__file__, ["--child", variant, "--setup", setup_file], env, f"variant {variant}")

        runs: dict[str, list[dict[str, Any]]] = {"bare": [], "hook": [], "operator": []}
        for _ in range(args.repeats):
            for variant in ("bare", "hook"):
                runs[variant].append(run_variant(variant))
        if importlib.util.find_spec("airflow.providers.http") is not None:
            runs["operator"].append(run_variant("operator"))
        else:
            print("HttpOperator variant skipped: apache-airflow-providers-http is not installed")
            del runs["operator"]

    results = {name: median_run(r) for name, r in runs.items()}
    labels = {
        "bare": "bare requests.Session (baseline)",
        "hook": "KaizalaHook.iter_subscribers",
        "operator": "HttpOperator + pagination_function",
    }
    print(f"\npaging {args.subscribers:,} subscribers in pages of {PAGE}; bare and hook: median of {args.repeats}")
    widths = (36, 9, 14, 8, 16, 16)
    print(row(widths, "variant", "pages/s", "subscribers/s", "wall s", "client CPU/page", "peak RSS growth"))
    for name, r in results.items():
        pages_s = r["pages"] / r["wall"]
        cpu_page, mem = f"{r['cpu'] / r['pages'] * 1e6:.0f} us", f"{r['mem_kib'] / 1024:.1f} MiB"
        print(row(widths, labels[name], f"{pages_s:.0f}", f"{pages_s * PAGE:,.0f}", f"{r['wall']:.2f}", cpu_page, mem))
    for name in ("bare", "hook"):
        print(f"  {name} wall times: " + ", ".join(f"{w:.2f}" for w in results[name]["walls"]) + " s")
    if not all(r["peak_reset"] for rs in runs.values() for r in rs):
        print("  note: /proc/self/clear_refs unavailable; memory is ru_maxrss minus RSS before (upper bound)")
    hook_ratio = results["bare"]["wall"] / results["hook"]["wall"]
    print(f"\nthroughput ratio hook/bare:         {hook_ratio:.2f}  (target >= {TARGET})")
    if "operator" in results:
        op_ratio = results["bare"]["wall"] / results["operator"]["wall"]
        print(f"throughput ratio HttpOperator/bare: {op_ratio:.2f}  (no target; for comparison)")
    cpu_extra = (results["hook"]["cpu"] - results["bare"]["cpu"]) / results["hook"]["pages"] * 1e6
    print(f"hook's own client CPU per page over bare: {cpu_extra:+.0f} us (less sensitive to a busy machine)")
    verdict(hook_ratio >= TARGET, f"hook paging throughput {hook_ratio:.2f} x bare")
    return 0


if __name__ == "__main__":
    sys.exit(main())
