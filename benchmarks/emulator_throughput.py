"""Throughput of the Kaizala emulator: subscriber pages of 50 per second in a cursor walk.

Starts the emulator in a child process (its own core) with a public group of N subscribers and walks it
with a plain ``requests.Session``. Printed side by side in the same run:

- baseline: the same session on the cheapest route the emulator has (``GET /_emulator/faults``), i.e. the
  ceiling the client library itself imposes;
- the ``requests`` cursor walk (pages/s);
- the same walk with ``http.client`` (a much cheaper client, so closer to what the server can do);
- the emulator's own CPU time per page (from ``/proc/<pid>/stat``; Linux only), i.e. pages per
  server-CPU-second on one core.

    python benchmarks/emulator_throughput.py            # 100,000 subscribers, ~10 s per client
    python benchmarks/emulator_throughput.py --quick    # smoke run of a few seconds
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))  # _common.py, however this script is started
from _common import PAGE, access_token, connector, emulator, public_group


def cpu_seconds(pid: int | None) -> float | None:
    """User + system CPU seconds used so far by process ``pid`` (None where /proc is unavailable)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, TypeError):
        return None


def timed_walks(fetch: Callable[[str | None], dict], seconds: float, expected: int) -> tuple[int, int, float]:
    """Walk the cursor repeatedly for ``seconds``; returns (pages, complete walks, elapsed)."""
    pages = walks = 0
    t0 = time.perf_counter()
    # A walk cut short by the time limit is not checked.
    while time.perf_counter() - t0 < seconds:
        cursor, seen = None, 0
        while True:
            data = fetch(cursor)
            pages += 1
            seen += len(data["subscribers"])
            cursor = data.get("cursor")
            if not cursor or time.perf_counter() - t0 >= seconds:
                break
        if not cursor:
            walks += 1
            assert seen == expected, (seen, expected)
    return pages, walks, time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--subscribers", type=int, default=100_000)
    parser.add_argument("--seconds", type=float, default=10.0, help="walking time per client")
    parser.add_argument("--quick", action="store_true", help="10,000 subscribers, 2 s per client")
    args = parser.parse_args()
    if args.quick:
        args.subscribers, args.seconds = 10_000, 2.0

    with emulator() as em:
        t0 = time.perf_counter()
        app = connector(em)
        gid = public_group(em, "Bench", args.subscribers)
        print(f"setup: {args.subscribers:,} subscribers in {time.perf_counter() - t0:.2f} s")
        session = requests.Session()
        token = access_token(session.get, em.url, app)
        headers = {"accessToken": token}
        url = f"{em.url}/v1/groups/{gid}/subscribers"

        n, t0 = 0, time.perf_counter()
        while time.perf_counter() - t0 < min(2.0, args.seconds / 2):
            session.get(f"{em.url}/_emulator/faults").raise_for_status()
            n += 1
        base_rate = n / (time.perf_counter() - t0)

        def fetch_requests(cursor: str | None) -> dict:
            body = {"count": PAGE} if cursor is None else {"count": PAGE, "cursor": cursor}
            resp = session.post(url, json=body, headers=headers)
            resp.raise_for_status()
            return resp.json()  # type: ignore[no-any-return]

        split = urlsplit(em.url)
        conn = http.client.HTTPConnection(split.hostname or "127.0.0.1", split.port)
        raw_headers = {"accessToken": token, "Content-Type": "application/json"}

        def fetch_raw(cursor: str | None) -> dict:
            body = {"count": PAGE} if cursor is None else {"count": PAGE, "cursor": cursor}
            conn.request("POST", urlsplit(url).path, body=json.dumps(body), headers=raw_headers)
            resp = conn.getresponse()
            data = resp.read()
            assert resp.status == 200, data
            return json.loads(data)  # type: ignore[no-any-return]

        results = []
        for name, fetch in (("requests.Session", fetch_requests), ("http.client", fetch_raw)):
            timed_walks(fetch, min(1.0, args.seconds / 4), args.subscribers)  # warm-up
            cpu0 = cpu_seconds(em.pid)
            pages, walks, elapsed = timed_walks(fetch, args.seconds, args.subscribers)
            cpu1 = cpu_seconds(em.pid)
            cpu = None if cpu0 is None or cpu1 is None else cpu1 - cpu0
            results.append((name, pages, walks, elapsed, cpu))
        conn.close()

    print(f"baseline, requests.Session on GET /_emulator/faults: {base_rate:8.0f} req/s")
    for name, pages, walks, elapsed, cpu in results:
        line = f"subscriber pages of {PAGE}, {name + ':':<18} {pages / elapsed:8.0f} pages/s"
        line += f"  ({pages * PAGE / elapsed:,.0f} subscribers/s, {walks} complete walks)"
        if cpu:
            line += f"; emulator CPU {cpu / pages * 1e6:.0f} us/page = {pages / cpu:,.0f} pages per CPU-second"
        print(line)


if __name__ == "__main__":
    main()
