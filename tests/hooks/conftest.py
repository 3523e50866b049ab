"""What the hook tests share: child processes that use a hook (and the call-log checks of the budget tests), a
real Redis server, an async hook on a tenant, and a faked actions API with whole-second ``sentAt``.

Test modules import these helpers from here and never from each other.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from airflow_provider_kaizala.hooks.async_kaizala import KaizalaAsyncHook

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


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """A real ``redis-server`` (Debian's package) on a free loopback port in a temp dir, stopped afterwards."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is not installed (Debian: apt-get install redis-server); Redis budget not tested")
    pytest.importorskip("redis", reason="the redis package is not installed (pip install '.[redis]')")
    import redis

    from tests.conftest import free_port

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


@pytest.fixture
def fresh_tokens() -> Iterator[None]:
    """An empty process-wide token cache before and after the test."""
    from airflow_provider_kaizala.hooks.config import TOKEN_CACHE

    TOKEN_CACHE.clear()
    yield
    TOKEN_CACHE.clear()


def resource_calls(tenant: Any, application_id: str | None = None) -> list[dict[str, Any]]:
    app = application_id or tenant.application_id
    return [c for c in tenant.calls() if c.get("applicationId") == app and "accessToken" not in c["path"]]


def max_in_window(stamps_ms: list[int], window_ms: float) -> int:
    stamps_ms = sorted(stamps_ms)
    best, lo = 0, 0
    for hi, t in enumerate(stamps_ms):
        while stamps_ms[lo] <= t - window_ms:
            lo += 1
        best = max(best, hi - lo + 1)
    return best


def walkers(
    tenant: Any, conn_json: str, settings: dict[str, Any], count: int, page_size: int, extra: list[Any] | None = None
) -> list[dict[str, Any]]:
    env = child_env({"kaizala_budget": conn_json}, settings)
    start_at = time.time() + 6  # every child is up (Airflow imported, token fetched) before anyone walks
    jobs: list[dict[str, Any]] = [
        {"job": "walk", "conn_id": "kaizala_budget", "group": tenant.public_group_id, "start_at": start_at}
        for _ in range(count)
    ]
    for job in jobs:
        job["page_size"] = page_size
    jobs += [{**job, "conn_id": "kaizala_budget", "start_at": start_at} for job in extra or []]
    return finish([start_child(job, env) for job in jobs])


def async_hook(tenant: Any, **extra: Any) -> KaizalaAsyncHook:
    """An async hook on a new connection to ``tenant`` (``extra`` overrides connection extras)."""
    from airflow_provider_kaizala.hooks.async_kaizala import KaizalaAsyncHook

    sync = tenant.hook(**extra)  # registers the connection
    return KaizalaAsyncHook(sync.kaizala_conn_id, refresh_token_store=tenant.store, retry_backoff=0.01)


SECOND = 1_795_000_000_000  # a whole second, in epoch ms


@pytest.fixture
def unused_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    """A connection for the hook's settings (max_pages); the faked ``call`` never uses it to send anything."""
    conn = {"conn_type": "kaizala", "login": "app", "password": "secret", "extra": {"refresh_token": "rt"}}
    monkeypatch.setenv("AIRFLOW_CONN_UNUSED", json.dumps(conn))


def fake_api(actions: list[dict[str, Any]]):
    """A fake ``KaizalaHook.call`` for the actions endpoint and the list of params it was called with.

    fromDate inclusive (ms), ascending, count-limited, hasMore; sentAt rendered with whole seconds."""
    import pendulum

    calls: list[dict[str, Any]] = []

    def call(endpoint: str, *, params: dict[str, Any], group_id: str, **_: Any) -> dict[str, Any]:
        calls.append(dict(params))
        start = params.get("fromDate", 0)
        matching = [a for a in actions if a["ms"] >= start]
        page = matching[: params["count"]]
        items = [
            {
                "referenceId": a["id"],
                "sentAt": pendulum.from_timestamp(a["ms"] // 1000).format("YYYY-MM-DDTHH:mm:ss[Z]"),
            }
            for a in page
        ]
        return {"actions": items, "hasMore": len(matching) > params["count"]}

    return call, calls
