"""Fixtures of the call-budget tests: child processes that use a hook, and a real Redis server."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]

#: What a child process runs: ``python -c CHILD <json args>``; prints one JSON line.
CHILD = "import sys; from tests.hooks.conftest import child_main; child_main(sys.argv[1])"


def child_main(raw: str) -> None:
    """Child side: run one job and print its result as a JSON line.

    Jobs: ``walk`` (walk ``group`` with ``conn_id``'s hook, page by page, from ``start_at`` on), ``awalk``
    (the same with the async hook, as a trigger does),
    ``send`` (send ``count`` messages to ``group``), ``hammer`` (book interactive slots on a host or Redis
    store until refused; reports how many were admitted).
    """
    args = json.loads(raw)
    job = args["job"]
    delay = args.get("start_at", 0) - time.time()
    if job == "hammer":
        from airflow_provider_kaizala.hooks.budget import BudgetSettings, Limit, store_for

        store = store_for(BudgetSettings.from_airflow_config())
        limits = (Limit(args["key"], "connector", args["limit"], 3600.0, 0.8),)
        if delay > 0:
            time.sleep(delay)
        admitted = 0
        for n in range(args["tries"]):
            wait, _ = store.try_acquire(limits, f"{os.getpid()}-{n}", False)
            admitted += wait == 0
        sys.stdout.write(json.dumps({"admitted": admitted}) + "\n")
        return
    from airflow_provider_kaizala.hooks.kaizala import KaizalaHook
    from airflow_provider_kaizala.hooks.token_store import MemoryRefreshTokenStore

    if job == "awalk":
        import asyncio

        sys.stdout.write(json.dumps(asyncio.run(async_walk(args))) + "\n")
        return
    hook = KaizalaHook(args["conn_id"], refresh_token_store=MemoryRefreshTokenStore(), retry_backoff=0.05)
    hook.get_access_token()
    delay = args.get("start_at", 0) - time.time()
    if delay > 0:
        time.sleep(delay)
    result: dict[str, Any] = {"backend": hook.kaizala_session.budget.backend}
    if job == "walk":
        pages = hook.iter_subscriber_pages(args["group"], page_size=args.get("page_size", 50))
        result["people"] = sum(len(page) for page in pages)
    else:
        waits = []
        for n in range(args["count"]):
            time.sleep(args.get("every", 0))
            t0 = time.monotonic()
            hook.send_message(args["group"], f"message {n}")
            waits.append(time.monotonic() - t0)
        result["waits"] = waits
    sys.stdout.write(json.dumps(result) + "\n")


def child_env(connections: Mapping[str, str], settings: Mapping[str, Any]) -> dict[str, str]:
    """This environment, the checkout on ``PYTHONPATH``, the connections and ``[kaizala]`` settings as env vars."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH")) if p)
    for conn_id, conn_json in connections.items():
        env[f"AIRFLOW_CONN_{conn_id.upper()}"] = conn_json
    for name, value in settings.items():
        env[f"AIRFLOW__KAIZALA__{name.upper()}"] = str(value)
    return env


def start_child(args: Mapping[str, Any], env: Mapping[str, str]) -> subprocess.Popen[str]:
    """Start one child process (see ``tests/hooks/budget_child.py``)."""
    return subprocess.Popen(
        [sys.executable, "-c", CHILD, json.dumps(args)],
        env=dict(env),
        cwd=str(REPO),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(children: list[subprocess.Popen[str]], timeout: float = 120.0) -> list[dict[str, Any]]:
    """Wait for every child; return the last JSON line each printed (a failed child fails the test)."""
    results = []
    try:
        for child in children:
            out, err = child.communicate(timeout=timeout)
            assert child.returncode == 0, f"child failed ({child.returncode}):\n{out}\n{err[-3000:]}"
            results.append(json.loads([line for line in out.splitlines() if line.startswith("{")][-1]))
    finally:
        for child in children:
            if child.poll() is None:
                child.kill()
                child.wait()
    return results


async def async_walk(args: dict[str, Any]) -> dict[str, Any]:
    """Walk ``group`` with the async hook (as a trigger on the triggerer does), from ``start_at`` on."""
    import asyncio

    from airflow_provider_kaizala.hooks.async_kaizala import KaizalaAsyncHook
    from airflow_provider_kaizala.hooks.token_store import MemoryRefreshTokenStore

    hook = KaizalaAsyncHook(args["conn_id"], refresh_token_store=MemoryRefreshTokenStore(), retry_backoff=0.05)
    session = await hook.get_kaizala_session()
    await asyncio.sleep(max(0.0, args.get("start_at", 0) - time.time()))
    people = 0
    try:
        async for page in hook.iter_subscriber_pages(args["group"], page_size=args.get("page_size", 50)):
            people += len(page)
    finally:
        await hook.aclose()
    return {"backend": session.budget.backend, "people": people}


def free_port() -> int:
    """A free loopback TCP port."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """A real ``redis-server`` (Debian's package) on a free loopback port in a temp dir, stopped afterwards."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is not installed (Debian: apt-get install redis-server); Redis budget not tested")
    pytest.importorskip("redis", reason="the redis package is not installed (pip install '.[redis]')")
    import redis

    workdir = tempfile.mkdtemp(prefix="kaizala-redis-")
    port = free_port()
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--dir", workdir, "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    try:
        client = redis.Redis.from_url(url)
        deadline = time.monotonic() + 20
        while True:
            try:
                client.ping()
                break
            except redis.exceptions.ConnectionError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("redis-server did not start") from None
                time.sleep(0.05)
        client.close()
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        shutil.rmtree(workdir, ignore_errors=True)
