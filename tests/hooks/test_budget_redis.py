"""The Redis budget backend against a real ``redis-server`` (started by the ``redis_url`` fixture): the same
rules as the in-process ones, atomic across processes, and shared by hooks walking in several processes."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest

from airflow_provider_kaizala.hooks.budget import (
    BudgetSettings,
    CallBudget,
    Limit,
    RedisStore,
    Ticket,
    connector_budget,
    store_for,
)
from tests.hooks.conftest import child_env, finish, max_in_window, resource_calls, start_child, walkers


def limits(limit: int = 100, window: float = 3600.0, tenant: int | None = None) -> tuple[Limit, ...]:
    result = [Limit(uuid.uuid4().hex, "connector", limit, window, 0.8)]
    if tenant is not None:
        result.append(Limit(uuid.uuid4().hex, "tenant", tenant, window, 0.8))
    return tuple(result)


def admitted(store: RedisStore, lims: tuple[Limit, ...], bulk: bool, tries: int) -> int:
    return sum(store.try_acquire(lims, uuid.uuid4().hex, bulk)[0] == 0 for _ in range(tries))


def test_interactive_calls_use_the_whole_budget_bulk_leaves_the_reserve(redis_url):
    store = RedisStore(redis_url)
    lims = limits()
    assert admitted(store, lims, True, 49) == 49  # the bulk burst (half the 98 bulk cap)...
    wait, reason = store.try_acquire(lims, "walk", True)
    assert reason == "connector budget"
    assert wait == pytest.approx(3600 / 98, rel=0.01)  # ...then one call per window / cap
    assert admitted(store, lims, False, 200) == 51  # interactive calls may take every slot left
    wait, reason = store.try_acquire(lims, "send", False)
    assert (reason, round(wait, -1)) == ("connector budget", 3600)
    usage = store.usage(lims)
    assert (usage[0].used, usage[0].limit, usage[0].factor) == (100, 100, 1.0)


def test_bulk_stands_back_while_an_interactive_call_waits(redis_url):
    store = RedisStore(redis_url)
    lims = limits(limit=4, window=1.0)
    assert admitted(store, lims, False, 4) == 4
    assert store.try_acquire(lims, "send", False)[0] > 0  # queued
    deadline = time.monotonic() + 10
    while store.usage(lims)[0].used:  # both slots leave the window
        assert time.monotonic() < deadline
        time.sleep(0.05)
    wait, reason = store.try_acquire(lims, "walk", True)
    assert (wait, reason) == (pytest.approx(0.25), "connector budget")  # free slots, but a send is waiting
    assert store.try_acquire(lims, "send", False) == (0.0, "")
    assert store.try_acquire(lims, "walk", True) == (0.0, "")


def test_a_429_frees_the_slot_holds_everyone_off_and_halves_the_rate(redis_url):
    store = RedisStore(redis_url)
    lims = limits()
    assert store.try_acquire(lims, "a", False) == (0.0, "")
    store.settle(lims, "a", 30.0)
    wait, reason = store.try_acquire(lims, "b", True)
    assert reason == "server 429 (Retry-After)"
    assert 29 < wait <= 30
    usage = store.usage(lims)[0]
    assert (usage.used, usage.factor) == (0, 0.5)


def test_a_call_needs_a_slot_in_the_connector_and_the_tenant_budget(redis_url):
    store = RedisStore(redis_url)
    lims = limits(tenant=3)
    assert admitted(store, lims, False, 3) == 3
    assert store.try_acquire(lims, "d", False)[1] == "tenant budget"
    assert [u.used for u in store.usage(lims)] == [3, 3]


def test_an_unreachable_redis_falls_back_to_the_host_budget(caplog):
    """The processes of one host keep sharing a budget when Redis is down (they used to fall back to one budget
    per process each, which lets a host's workers overrun the connector's limit together)."""
    port_url = "redis://127.0.0.1:1/0"  # nothing listens on port 1
    lims = limits(limit=2)
    budget = CallBudget(RedisStore(port_url), lims)
    assert budget.try_acquire(Ticket("a", False)) == (0.0, "")
    assert budget.backend == "host"
    other_process_view = CallBudget(store_for(BudgetSettings(backend="host")), lims)
    assert [u.used for u in other_process_view.usage()] == [1]
    assert "redis backend failed" in caplog.text
    assert "shared by the processes of this host" in caplog.text
    assert port_url not in caplog.text


def test_the_redis_budget_is_atomic_across_processes(redis_url):
    env = child_env({}, {"budget_backend": "redis", "budget_redis_url": redis_url})
    key = uuid.uuid4().hex
    start_at = time.time() + 4
    children = [
        start_child({"job": "hammer", "key": key, "limit": 150, "tries": 60, "start_at": start_at}, env)
        for _ in range(6)
    ]
    results = finish(children)
    assert sum(r["admitted"] for r in results) == 150
    assert sum(1 for r in results if r["admitted"]) >= 2


def test_processes_walking_one_connector_share_its_redis_budget(tenant, redis_url):
    """As with the host budget: four walkers in four processes, never a 429."""
    tenant.emulator.admin.faults(throttle_limit=20, throttle_window=1.0)
    conn = tenant.conn_json(rate_limit_per_minute=20, rate_limit_window=1.0)
    sender = {"job": "send", "group": tenant.group_id, "count": 3, "every": 0.5}
    settings: dict[str, Any] = {"budget_backend": "redis", "budget_redis_url": redis_url}
    results = walkers(tenant, conn, settings, 4, 12, [sender])
    assert [r["people"] for r in results[:4]] == [tenant.subscriber_count] * 4
    assert {r["backend"] for r in results} == {"redis"}
    calls = resource_calls(tenant)
    assert all(c["status"] == 200 for c in calls)
    assert max_in_window([c["ts"] for c in calls if c["path"].endswith("/subscribers")], 1000) <= 19


def test_redis_settings_select_the_redis_store(redis_url):
    budget = connector_budget(
        "https://x", "app", 100, 60.0, BudgetSettings(backend="redis", redis_url=redis_url, tenant="contoso")
    )
    assert budget.backend == "redis"
    assert [limit.name for limit in budget.limits] == ["connector", "tenant"]
