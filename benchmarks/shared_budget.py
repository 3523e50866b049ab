"""One call budget shared by every process: four walkers and a sender on one connector.

The emulator (child process) throttles the connector at L calls per sliding window of W seconds (100 per 3 s,
a compressed minute). Four processes walk a public group's subscribers page by page while a fifth sends a
message now and then (every 0.5-1.5 W, starting once the walks saturate the budget), as parallel tasks of
a Celery or Kubernetes worker and a notifier do. Every process uses the default connection settings with
``rate_limit_per_minute=L`` and ``rate_limit_window=W``; only the budget backend changes between columns:

- ``old``: the per-process limiter of earlier releases (a copy of its sliding window, put in the budget's place
  in each child) - the baseline;
- ``local``: each process keeps its own budget, with the rules and the 429 feedback of the shared ones;
- ``host``: the budget lives in fcntl-locked files shared by every process of the host;
- ``redis``: the budget lives in a real ``redis-server`` (started here on a free port), as several hosts
  would share it;
- ``2 hosts``: two ``host`` budgets that cannot see each other (walkers 1-2 and the sender on one, walkers
  3-4 on the other), i.e. two worker hosts without Redis: only the 429 feedback (hold-off + AIMD) adapts them.

Figures, from the emulator's call log over the run (after the first window, when every walker is going):

- sustained throughput: answered calls (walk pages and sends) per second over L/W (target >= 0.95);
- HTTP 429 answers as a share of all calls (target <= 1 %);
- send wait: the wall time of ``send_message`` (budget wait + the HTTP call), in windows W (target <= 0.1).

    python benchmarks/shared_budget.py            # L=100, W=3 s, 12 windows per column (~8 min)
    python benchmarks/shared_budget.py --quick    # smoke run: W=1 s, 3 windows, 2 walkers, old and host only
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import deque
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))  # _common.py, however this script is started
from _common import PAGE, airflow_env, child_env, connector, emulator, hook_connection, public_group, row, verdict

CONN_ID = "kaizala_budget"
WALKERS = 4
SUSTAINED_TARGET = 0.95
THROTTLED_TARGET = 0.01
SEND_WAIT_TARGET = 0.1


# -------------------------------------------------------------------------------------------- children


def child(setup: dict[str, Any]) -> None:
    """One walker or the sender: get ready, wait for the go file, work until ``stop``, print figures."""
    from airflow_provider_kaizala.hooks.kaizala import KaizalaHook
    from airflow_provider_kaizala.hooks.token_store import MemoryRefreshTokenStore

    hook = KaizalaHook(CONN_ID, refresh_token_store=MemoryRefreshTokenStore(), retry_backoff=0.1)
    hook.get_access_token()
    if setup["old"]:
        config = hook.config
        hook.kaizala_session.budget = OldLimiter(  # type: ignore[assignment]
            config.token_root, config.application_id, config.rate_limit_per_minute, config.rate_limit_window
        )
    backend = hook.kaizala_session.budget.backend
    Path(setup["ready"]).touch()
    go_file = Path(setup["go"])
    while not go_file.exists():
        time.sleep(0.02)
    go = float(go_file.read_text())
    window = setup["window"]
    stop = go + setup["windows"] * window
    time.sleep(max(0.0, go - time.time()))
    result: dict[str, Any] = {"backend": backend}
    if setup["role"] == "walk":
        pages = 0
        for _ in hook.iter_subscriber_pages(setup["group"], page_size=PAGE):
            pages += 1
            if time.time() >= stop:
                break
        result["pages"] = pages
    else:
        rng = random.Random(7)
        waits = []
        next_send = go + 1.5 * window
        while next_send < stop - 0.5 * window:
            time.sleep(max(0.0, next_send - time.time()))
            t0 = time.perf_counter()
            hook.send_message(setup["group"], f"build {len(waits)} failed")
            waits.append(time.perf_counter() - t0)
            next_send += rng.uniform(0.5, 1.5) * window
        result["waits"] = waits
    print(json.dumps(result), flush=True)


class OldLimiter:
    """The per-process limiter of earlier releases, in the budget's place: book a slot in this process's
    sliding window (1 % + 20 ms margin) and sleep; no priorities, no shared state, no 429 feedback."""

    backend = "old"

    def __init__(self, token_root: str, application_id: str, limit: int, window: float) -> None:
        self.limit = limit
        self.window = window * 1.01 + 0.02  # the old limiter's margin for clock differences
        self.slots: deque[float] = deque()

    def reserve(self) -> float:
        """Book a slot in this process's sliding window; the seconds to wait before using it."""
        now = time.monotonic()
        while self.slots and self.slots[0] <= now - self.window:
            self.slots.popleft()
        if len(self.slots) < self.limit:
            self.slots.append(now)
            return 0.0
        slot = max(now, self.slots.popleft() + self.window)
        self.slots.append(slot)
        return slot - now

    def acquire(self, endpoint: str, pause: Any) -> Any:
        """Flow step: one pause if the process's window is full."""
        delay = self.reserve()
        if delay > 0:
            yield pause(delay, "rate limit")

    def settle_outcome(self, ticket: Any, outcome: Any) -> None:
        """Nothing is learnt from the answer."""


# -------------------------------------------------------------------------------------------- parent


def free_port() -> int:
    """A free loopback port."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RedisServer:
    """Debian's ``redis-server`` on a free loopback port in a temp dir (None when it is not installed)."""

    def __init__(self, workdir: str) -> None:
        self.url: str | None = None
        self.proc: subprocess.Popen[bytes] | None = None
        binary = shutil.which("redis-server")
        try:
            import redis
        except ImportError:
            return
        if binary is None:
            return
        port = free_port()
        self.proc = subprocess.Popen(
            [binary, "--port", str(port), "--bind", "127.0.0.1", "--dir", workdir, "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        url = f"redis://127.0.0.1:{port}/0"
        client = redis.Redis.from_url(url)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                client.ping()
                self.url = url
                break
            except redis.exceptions.ConnectionError:
                time.sleep(0.05)
        client.close()

    def stop(self) -> None:
        """Stop the server."""
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=10)


def run_column(emu: Any, tmp: str, column: str, args: argparse.Namespace, redis_url: str | None) -> dict[str, Any]:
    """The walkers and a sender on a fresh connector with one budget backend; the figures of the column."""
    limit, window = args.limit, args.window
    app = connector(emu)
    pages = (args.windows + 2) * limit
    walk_group = public_group(emu, f"Walk {column}", pages * PAGE)
    send_group = str(
        emu.admin.create_group(name=f"Notify {column}", groupType="Group", admins=[app["phone"]], members=[])
    )
    conn = hook_connection(emu, app, rate_limit_per_minute=limit, rate_limit_window=window)
    work = tempfile.mkdtemp(dir=tmp)
    settings: dict[str, dict[str, str]] = {}
    for host in ("a", "b"):
        settings[host] = {"AIRFLOW__KAIZALA__BUDGET_DIR": os.path.join(work, f"budget-{host}")}
        if column == "redis":
            settings[host].update(
                {"AIRFLOW__KAIZALA__BUDGET_BACKEND": "redis", "AIRFLOW__KAIZALA__BUDGET_REDIS_URL": str(redis_url)}
            )
        else:
            settings[host]["AIRFLOW__KAIZALA__BUDGET_BACKEND"] = "local" if column == "local" else "host"
    half = args.walkers // 2
    roles = [("walk", walk_group, "a" if i < half or column != "2 hosts" else "b") for i in range(args.walkers)]
    roles.append(("send", send_group, "a"))
    go = os.path.join(work, "go")
    procs = []
    for index, (role, group, host) in enumerate(roles):
        setup = {
            "role": role,
            "group": group,
            "window": window,
            "windows": args.windows,
            "ready": os.path.join(work, f"ready-{index}"),
            "go": go,
            "old": column == "old",
        }
        env = child_env(os.path.join(work, f"airflow-{index}"), {CONN_ID: conn})
        env.update(settings[host])
        procs.append(
            subprocess.Popen(
                [sys.executable, __file__, "--child", json.dumps(setup)],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    deadline = time.monotonic() + 120
    while not all(os.path.exists(os.path.join(work, f"ready-{i}")) for i in range(len(roles))):
        if time.monotonic() > deadline or any(p.poll() not in (None, 0) for p in procs):
            for p in procs:
                p.kill()
            raise RuntimeError(f"column {column}: a child did not get ready")
        time.sleep(0.05)
    start = time.time() + 0.3
    Path(go).write_text(repr(start))
    results = []
    for p in procs:
        out, err = p.communicate(timeout=args.windows * window + 300)
        if p.returncode != 0:
            sys.stderr.write(out + err)
            raise RuntimeError(f"column {column}: a child failed (exit {p.returncode})")
        results.append(json.loads([line for line in out.splitlines() if line.startswith("{")][-1]))
    stop_ms = (start + args.windows * window) * 1000
    calls = [
        c
        for c in emu.admin.calls(0)
        if c.get("applicationId") == app["applicationId"] and "accessToken" not in c["path"] and c["ts"] <= stop_ms
    ]
    ok = sorted(c["ts"] for c in calls if c["status"] == 200)
    throttled = sum(1 for c in calls if c["status"] == 429)
    steady_from = start * 1000 + window * 1000
    steady = [t for t in ok if t >= steady_from]
    span = (stop_ms - steady_from) / 1000
    waits = [w for r in results for w in r.get("waits", [])]
    return {
        "backends": sorted({r["backend"] for r in results}),
        "pages": sum(r.get("pages", 0) for r in results),
        "sends": len(waits),
        "calls": len(calls),
        "sustained": len(steady) / span / (limit / window),
        "throttled": throttled / max(1, len(calls)),
        "throttled_n": throttled,
        "send_max": max(waits) / window if waits else float("nan"),
        "send_median": statistics.median(waits) / window if waits else float("nan"),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--limit", type=int, default=100, help="calls per window (L)")
    parser.add_argument("--window", type=float, default=3.0, help="window in seconds (W)")
    parser.add_argument("--windows", type=int, default=12, help="windows each column runs")
    parser.add_argument("--walkers", type=int, default=WALKERS, help="walking processes")
    parser.add_argument("--quick", action="store_true", help="W=1 s, 3 windows, 2 walkers, columns old and host")
    parser.add_argument("--columns", default="old,local,host,redis,2 hosts", help="comma-separated columns to run")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(json.loads(args.child))
        return 0
    if args.quick:
        args.window, args.windows, args.columns, args.walkers = 1.0, 3, "old,host", 2
    columns = [c.strip() for c in args.columns.split(",") if c.strip()]

    tmp = tempfile.TemporaryDirectory(prefix="kaizala-bench-")
    os.environ.update(airflow_env(tmp.name))
    redis_server = RedisServer(tmp.name) if "redis" in columns else None
    if redis_server is not None and redis_server.url is None:
        print("redis column skipped: redis-server or the redis package is not installed")
        columns.remove("redis")
    figures: dict[str, dict[str, Any]] = {}
    try:
        with tmp, emulator(throttle_limit=args.limit, throttle_window=args.window) as emu:
            print(
                f"emulator limit {args.limit} calls / {args.window:g} s; {args.walkers} walking processes + 1 sending; "
                f"{args.windows} windows per column"
            )
            for column in columns:
                print(f"running {column}...", flush=True)
                figures[column] = run_column(emu, tmp.name, column, args, redis_server.url if redis_server else None)
    finally:
        if redis_server is not None:
            redis_server.stop()

    widths = (40, *([12] * len(columns)), 10)
    print("\n" + row(widths, "figure", *columns, "target"))
    print(row(widths, "budget backend in the processes", *(",".join(figures[c]["backends"]) for c in columns)))
    print(row(widths, "walk pages + sends answered or not", *(figures[c]["calls"] for c in columns)))
    print(row(widths, "messages sent", *(figures[c]["sends"] for c in columns)))
    print(
        row(
            widths,
            "sustained throughput / (L/W)",
            *(f"{figures[c]['sustained']:.3f}" for c in columns),
            f">= {SUSTAINED_TARGET}",
        )
    )
    print(
        row(
            widths,
            "HTTP 429 share of calls",
            *(f"{figures[c]['throttled']:.1%} ({figures[c]['throttled_n']})" for c in columns),
            f"<= {THROTTLED_TARGET:.0%}",
        )
    )
    print(
        row(
            widths,
            "send wait, max (windows)",
            *(f"{figures[c]['send_max']:.3f}" for c in columns),
            f"<= {SEND_WAIT_TARGET}",
        )
    )
    print(row(widths, "send wait, median (windows)", *(f"{figures[c]['send_median']:.3f}" for c in columns)))
    print()
    for column in columns:
        if column in ("old", "local", "2 hosts"):  # baselines, and the fallback without a shared store
            continue
        f = figures[column]
        verdict(f["sustained"] >= SUSTAINED_TARGET, f"{column}: sustained {f['sustained']:.3f} x limit")
        verdict(f["throttled"] <= THROTTLED_TARGET, f"{column}: {f['throttled']:.1%} of calls answered 429")
        verdict(f["send_max"] <= SEND_WAIT_TARGET, f"{column}: a send waited at most {f['send_max']:.3f} window")
    return 0


if __name__ == "__main__":
    sys.exit(main())
