"""Rate-limit pacing: does KaizalaHook use the whole call budget without ever being answered HTTP 429?

The emulator (child process, its own core) throttles the connector at L calls per sliding window of W
seconds; the hook's connection has ``rate_limit_per_minute=L`` and ``rate_limit_window=W``. The hook walks
a public group of (k+1)·L pages (k waits for the window), then the emulator's call log is read back:

- max pages in any sliding window of W seconds, against the limit L;
- sustained throughput as a fraction of L/W: the pages after the first window's allowance (any client may
  burst L pages at once) divided by the time from the L-th page to the last, i.e. ``(n - L) / (t[n-1] -
  t[L-1])`` over ``L / W`` (target >= 0.95). This is right for a bursty limiter (period W: L pages, wait)
  and for a smooth one (a page every W/L s) alike;
- the number of HTTP 429 answers (target 0).

The baseline is the limit itself: L calls per W seconds is the most any client can get.

    python benchmarks/throttle_pacing.py            # L=100, W=5 s, 6 windows (~31 s)
    python benchmarks/throttle_pacing.py --quick    # L=20, W=1 s, 3 windows (~4 s)
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
from _common import PAGE, airflow_env, conn_var, connector, emulator, hook_connection, public_group, row, verdict

CONN_ID = "kaizala_pacing"
TARGET = 0.95


def max_in_window(stamps_ms: list[int], window_ms: float) -> int:
    """Most stamps in any half-open interval ``[t, t + window)`` (stamps sorted)."""
    best, lo = 0, 0
    for hi, t in enumerate(stamps_ms):
        while stamps_ms[lo] <= t - window_ms:
            lo += 1
        best = max(best, hi - lo + 1)
    return best


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--limit", type=int, default=100, help="calls per window (L)")
    parser.add_argument("--window", type=float, default=5.0, help="window in seconds (W)")
    parser.add_argument("--windows", type=int, default=6, help="windows to wait through (k)")
    parser.add_argument("--quick", action="store_true", help="L=20, W=1 s, 3 windows")
    args = parser.parse_args()
    if args.quick:
        args.limit, args.window, args.windows = 20, 1.0, 3
    limit, window = args.limit, args.window
    pages_wanted = (args.windows + 1) * limit

    tmp = tempfile.TemporaryDirectory(prefix="kaizala-bench-")
    os.environ.update(airflow_env(tmp.name))
    from airflow_provider_kaizala.hooks.kaizala import KaizalaHook
    from airflow_provider_kaizala.hooks.token_store import MemoryRefreshTokenStore

    with tmp, emulator(throttle_limit=limit, throttle_window=window) as emu:
        app = connector(emu)
        group = public_group(emu, "Pacing", pages_wanted * PAGE)
        conn = hook_connection(emu, app, rate_limit_per_minute=limit, rate_limit_window=window)
        os.environ[conn_var(CONN_ID)] = json.dumps(conn)
        hook = KaizalaHook(CONN_ID, refresh_token_store=MemoryRefreshTokenStore(), retry_backoff=0.1)
        print(f"emulator limit {limit} calls / {window:g} s; hook rate_limit_per_minute={limit}, window {window:g} s")
        print(f"walking {pages_wanted} pages ({pages_wanted * PAGE:,} subscribers, {args.windows} window waits)...")
        t0 = time.perf_counter()
        pages = sum(1 for _ in hook.iter_subscriber_pages(group, page_size=PAGE))
        wall = time.perf_counter() - t0
        calls: list[dict[str, Any]] = [
            c for c in emu.admin.calls(0) if c["method"] == "POST" and c["path"].endswith("/subscribers")
        ]

    ok = sorted(c["ts"] for c in calls if c["status"] == 200)
    throttled = sum(1 for c in calls if c["status"] == 429)
    others = sum(1 for c in calls if c["status"] not in (200, 429))
    assert pages == pages_wanted == len(ok), (pages, pages_wanted, len(ok))
    peak = max_in_window(ok, window * 1000)
    span = (ok[-1] - ok[limit - 1]) / 1000
    sustained = (len(ok) - limit) / span if span > 0 else float("inf")
    fraction = sustained / (limit / window)

    widths = (46, 10, 16)
    print("\n" + row(widths, "figure", "measured", "limit / target"))
    print(row(widths, "pages (HTTP 200)", len(ok)))
    print(row(widths, "wall time of the walk", f"{wall:.2f}s"))
    print(row(widths, "max pages in any sliding window of W", peak, limit))
    print(row(widths, "sustained pages/s after the first L pages", f"{sustained:.2f}", f"{limit / window:.2f}"))
    print(row(widths, "sustained throughput / (L/W)", f"{fraction:.3f}", f">= {TARGET}"))
    print(row(widths, "HTTP 429 answers", throttled, 0))
    if others:
        print(row(widths, "other non-200 answers", others))
    print()
    verdict(fraction >= TARGET, f"sustained throughput {fraction:.3f} x limit (target >= {TARGET})")
    verdict(throttled == 0, f"{throttled} HTTP 429 answers (target 0)")
    if peak > limit:
        verdict(False, f"{peak} pages in one window exceeds the limit {limit} (the emulator should have refused)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
