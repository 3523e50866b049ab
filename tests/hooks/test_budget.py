"""The shared call budget: rules (pure), the host backend across processes, and real hooks in several
processes against the emulator. No test asserts a duration; the emulator's call log is the witness."""

from __future__ import annotations

import json
import logging
import time
import uuid

import pytest

from airflow_provider_kaizala.exceptions import KaizalaValidationError
from airflow_provider_kaizala.hooks.budget import (
    BudgetSettings,
    BudgetState,
    CallBudget,
    HostStore,
    Limit,
    LocalStore,
    Ticket,
    connector_budget,
    decide,
    settle,
)
from airflow_provider_kaizala.hooks.progress import WalkProgress, format_duration
from tests.hooks.conftest import child_env, finish, max_in_window, resource_calls, start_child, walkers

CONNECTOR = Limit("c", "connector", 100, 60.0, 0.8)
TENANT = Limit("t", "tenant", 300, 60.0, 0.8)


def fill(state: BudgetState, limit: Limit, bulk: bool, now: float, *, spaced: bool = False) -> int:
    """Admit calls at ``now`` until one is refused; return how many. Bulk pacing is skipped unless ``spaced``."""
    admitted = 0
    while True:
        if not spaced:
            state.next_bulk = 0.0
        if decide([state], (limit,), uuid.uuid4().hex, bulk, now)[0] > 0:
            return admitted
        admitted += 1
        assert admitted <= limit.limit


# ------------------------------------------------------------------------------------- settings


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"budget_backend": "disk"}, "budget_backend='disk'"),
        ({"bulk_share": "most"}, "bulk_share='most'"),
        ({"bulk_share": "1.5"}, "from 0.05 to 1"),
        ({"tenant_rate_limit_per_minute": "0"}, "tenant_rate_limit_per_minute='0'"),
        ({"budget_backend": "redis"}, "needs budget_redis_url"),
        ({"budget_redis_url": "http://x"}, "redis://"),
    ],
)
def test_bad_settings_are_refused_with_the_value_and_what_is_allowed(values, message):
    with pytest.raises(KaizalaValidationError, match=message):
        BudgetSettings.from_extras("kz", values)


def test_extras_win_over_the_airflow_config_section(monkeypatch):
    monkeypatch.setenv("AIRFLOW__KAIZALA__BULK_SHARE", "0.5")
    monkeypatch.setenv("AIRFLOW__KAIZALA__TENANT", "contoso")
    settings = BudgetSettings.from_extras("kz", {"bulk_share": "0.7"})
    assert (settings.bulk_share, settings.tenant, settings.backend) == (0.7, "contoso", "auto")
    redis = BudgetSettings.from_extras("kz", {"budget_backend": "redis", "budget_redis_url": "redis://:pw@h:6379/0"})
    assert "pw" not in repr(redis)


def test_a_bad_airflow_config_value_is_reported_as_a_kaizala_setting_not_a_connection_extra(monkeypatch):
    monkeypatch.setenv("AIRFLOW__KAIZALA__BULK_SHARE", "lots")
    with pytest.raises(KaizalaValidationError, match=r"^Invalid \[kaizala\] setting bulk_share='lots'"):
        BudgetSettings.from_extras("kz", {})
    with pytest.raises(KaizalaValidationError, match=r"^Invalid connection 'kz' extra bulk_share='2'"):
        BudgetSettings.from_extras("kz", {"bulk_share": "2"})


def test_auto_is_host_when_the_directory_is_usable_else_local(tmp_path, caplog):
    budget = connector_budget("https://x", "app", 100, 60.0, BudgetSettings(directory=str(tmp_path / "b")))
    assert budget.backend == "host"
    blocked = tmp_path / "file"
    blocked.write_text("")
    with caplog.at_level(logging.WARNING):
        budget = connector_budget("https://x", "app", 100, 60.0, BudgetSettings(directory=str(blocked / "b")))
    assert budget.backend == "local"
    assert "per process" in caplog.text
    with pytest.raises(KaizalaValidationError, match="budget_dir"):
        connector_budget("https://x", "app", 100, 60.0, BudgetSettings(backend="host", directory=str(blocked / "c")))


def test_an_unlimited_budget_is_not_tracked():
    budget = connector_budget("https://x", "app", 1_000_000_000, 60.0, BudgetSettings(backend="local"))
    assert budget.limits == ()
    assert budget.try_acquire(Ticket("a", True)) == (0.0, "")
    with pytest.raises(StopIteration):  # admitted without a pause
        next(budget.acquire("list_subscribers", lambda seconds, reason: seconds))


# ----------------------------------------------------------------------------------------- rules


def test_interactive_calls_may_use_the_whole_budget_bulk_walks_leave_a_reserve():
    state = BudgetState(calls={f"walk{n}": 0.0 for n in range(98)})
    wait, reason = decide([state], (CONNECTOR,), "walk", True, 1.0)
    assert (wait, reason) == (59.0, "connector budget")  # 98 = the bulk cap: 2 % idle reserve
    assert fill(state, CONNECTOR, False, 1.0) == 2  # the reserve is there at once for sends...
    wait, reason = decide([state], (CONNECTOR,), "send", False, 2.0)
    assert (wait, reason) == (58.0, "connector budget")
    assert "send" in state.waiting  # ...and a send beyond it is queued ahead of the walks


def test_the_reserve_follows_interactive_demand_up_to_one_minus_bulk_share():
    state = BudgetState()
    assert fill(state, CONNECTOR, False, 0.0) == 100
    assert fill(state, CONNECTOR, True, 61.0, spaced=True) == 49  # the burst: half the bulk cap (98)
    state = BudgetState()
    for n in range(5):
        assert decide([state], (CONNECTOR,), f"send{n}", False, 0.0) == (0.0, "")
    assert fill(state, CONNECTOR, True, 0.0) == 90 - 5  # reserve: 2 x 5 sends = 10 %
    state = BudgetState(interactive={"send": 0.0})
    assert fill(state, CONNECTOR, True, 0.0) == 98  # one send: the reserve stays at its 2 % floor
    state = BudgetState()
    for n in range(30):
        decide([state], (CONNECTOR,), f"send{n}", False, 0.0)
    assert fill(state, CONNECTOR, True, 0.0) == 80 - 30  # capped at 1 - bulk_share = 20 %


def test_bulk_calls_are_spaced_after_their_burst():
    state = BudgetState()
    admitted = [decide([state], (CONNECTOR,), f"b{n}", True, 0.0)[0] == 0 for n in range(60)]
    assert admitted.count(True) == 49  # half the bulk cap, 98
    wait, reason = decide([state], (CONNECTOR,), "next", True, 0.0)
    assert reason == "connector budget"
    assert wait == pytest.approx(60.0 / 98)  # one spacing, whatever the burst was


def test_bulk_stands_back_while_an_interactive_call_waits():
    state = BudgetState()
    assert fill(state, CONNECTOR, False, 0.0) == 100
    state.waiting.clear()  # fill's last, refused call
    wait, _ = decide([state], (CONNECTOR,), "send", False, 10.0)
    assert wait == pytest.approx(50.0)
    assert decide([state], (CONNECTOR,), "walk", True, 60.5)[0] > 0  # slots are free, but a send waits
    assert decide([state], (CONNECTOR,), "send", False, 60.5) == (0.0, "")
    assert decide([state], (CONNECTOR,), "walk", True, 60.5) == (0.0, "")


def test_a_slot_is_stamped_again_when_the_answer_arrives():
    state = BudgetState()
    limit = Limit("c", "connector", 1, 10.0, 0.8)
    assert decide([state], (limit,), "a", False, 0.0) == (0.0, "")
    settle([state], (limit,), "a", None, 2.0)  # a slow answer: the server may have counted it late
    wait, _ = decide([state], (limit,), "b", False, 10.5)
    assert wait == pytest.approx(1.5)


def test_a_429_holds_everyone_off_frees_the_slot_and_lowers_the_rate_until_it_recovers():
    state = BudgetState()
    assert decide([state], (CONNECTOR,), "a", False, 0.0) == (0.0, "")
    settle([state], (CONNECTOR,), "a", 30.0, 1.0)
    assert state.calls == {}
    wait, reason = decide([state], (CONNECTOR,), "b", True, 2.0)
    assert (wait, reason) == (29.0, "server 429 (Retry-After)")
    assert fill(state, CONNECTOR, False, 31.0) == 50  # halved
    later = BudgetState(factor=state.factor, since=state.since)
    assert fill(later, CONNECTOR, False, 31.0 + 60 * 5) == 75  # +5 % of the limit per window
    recovered = BudgetState(factor=state.factor, since=state.since)
    assert fill(recovered, CONNECTOR, False, 31.0 + 60 * 20) == 100


def test_a_call_needs_a_slot_in_the_connector_and_the_tenant_budget():
    connector, tenant = BudgetState(), BudgetState()
    small_tenant = Limit("t", "tenant", 3, 60.0, 0.8)
    for n in range(3):
        assert decide([connector, tenant], (CONNECTOR, small_tenant), f"s{n}", False, 0.0) == (0.0, "")
    wait, reason = decide([connector, tenant], (CONNECTOR, small_tenant), "s3", False, 1.0)
    assert (wait, reason) == (59.0, "tenant budget")
    assert len(connector.calls) == 3  # nothing was booked on the connector for the refused call


def test_waits_over_five_seconds_are_logged_with_their_reason(caplog):
    budget = CallBudget(LocalStore(), (Limit(uuid.uuid4().hex, "connector", 1, 3600.0, 0.8),))
    flow = budget.acquire("send_message", lambda seconds, reason: (seconds, reason))
    with pytest.raises(StopIteration):
        next(flow)
    flow = budget.acquire("send_message", lambda seconds, reason: (seconds, reason))
    with caplog.at_level(logging.INFO, logger="airflow_provider_kaizala.hooks.budget"):
        seconds, reason = next(flow)
    assert reason == "connector budget"
    assert seconds > 3500
    assert "send_message: waiting 3600.0 s for the connector budget" in caplog.text


def test_short_waits_are_not_logged(caplog):
    limit = Limit(uuid.uuid4().hex, "connector", 100, 3.0, 0.8)
    budget = CallBudget(LocalStore(), (limit,))
    with caplog.at_level(logging.INFO, logger="airflow_provider_kaizala.hooks.budget"):
        for _ in range(12):
            flow = budget.acquire("list_subscribers", lambda seconds, reason: seconds)
            try:
                assert next(flow) < 5
            except StopIteration:
                pass
    assert "waiting" not in caplog.text


# ---------------------------------------------------------------------------------------- progress


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_progress_is_reported_by_time_with_rate_budget_share_and_eta(caplog):
    clock = Clock()
    budget = CallBudget(LocalStore(), (Limit(uuid.uuid4().hex, "connector", 100, 60.0, 0.8),))
    for _ in range(40):
        budget.try_acquire(Ticket(uuid.uuid4().hex, False))
    progress = WalkProgress("subscribers of group g1", total=10_000, budget=budget, clock=clock)
    with caplog.at_level(logging.INFO, logger="airflow_provider_kaizala.hooks.progress"):
        for _ in range(9):
            clock.now += 3.0
            progress.page(50)
        assert progress.lines == 0  # 27 s
        clock.now += 3.0
        progress.page(50)
        assert progress.lines == 1
        clock.now += 5.0
        progress.page(50)
        assert progress.lines == 1
        clock.now += 60.0  # one slow page (a long wait) still gives a line when it comes back
        progress.page(50)
        progress.done()
    lines = [r.getMessage() for r in caplog.records]
    assert lines[0] == (
        "Kaizala walk of subscribers of group g1: 10 pages, 500 people in 30s (1,000 people/min); budget in use 40% "
        "(connector 40/100 per 60s, local backend); about 9m30s left for 9,500 of 10,000."
    )
    assert lines[1].startswith("Kaizala walk of subscribers of group g1: 12 pages, 600 people in 1m35s")
    assert lines[2].startswith("Kaizala walk of subscribers of group g1: done, 12 pages, 600 people")
    assert "left" not in lines[2]


def test_progress_without_budget_or_total():
    clock = Clock()
    progress = WalkProgress("actions", clock=clock)
    assert progress.budget_text() == ""
    clock.now = 29.0
    progress.page(30)
    progress.done()
    assert progress.lines == 0  # a short walk ends silently
    progress.done(always=True)
    assert progress.lines == 1
    assert format_duration(3725) == "1h02m"
    with pytest.raises(ValueError, match="interval"):
        WalkProgress("x", interval=0)


# ------------------------------------------------------------------------------ host backend, processes


def test_the_host_budget_is_atomic_across_processes(tmp_path):
    """Six processes book slots of one budget as fast as they can: exactly ``limit`` get one."""
    env = child_env({}, {"budget_backend": "host", "budget_dir": tmp_path})
    start_at = time.time() + 4
    key = uuid.uuid4().hex
    children = [
        start_child({"job": "hammer", "key": key, "limit": 150, "tries": 60, "start_at": start_at}, env)
        for _ in range(6)
    ]
    results = finish(children)
    assert sum(r["admitted"] for r in results) == 150
    assert sum(1 for r in results if r["admitted"]) >= 2  # they really competed
    state = json.loads((tmp_path / f"{key}.json").read_text())
    assert len(state["c"]) == 150


def test_a_damaged_budget_file_is_reset(tmp_path, caplog):
    store = HostStore(str(tmp_path))
    limit = Limit("k", "connector", 2, 60.0, 0.8)
    (tmp_path / "k.json").write_text("{not json")
    with caplog.at_level(logging.WARNING):
        assert store.try_acquire((limit,), "a", False) == (0.0, "")
    assert "reset" in caplog.text


# --------------------------------------------------------------------- hooks in processes vs the emulator


@pytest.mark.parametrize("backend", ["local", "host"])
def test_processes_walking_one_connector_share_its_budget(tenant, tmp_path, backend):
    """Four processes walk at once. Per process (``local``, the limiter of earlier releases) each believes it
    owns the whole budget and the server answers 429; with the host budget, never."""
    tenant.emulator.admin.faults(throttle_limit=20, throttle_window=1.0)
    conn = tenant.conn_json(rate_limit_per_minute=20, rate_limit_window=1.0)
    results = walkers(tenant, conn, {"budget_backend": backend, "budget_dir": tmp_path}, 4, 12)
    assert [r["people"] for r in results] == [tenant.subscriber_count] * 4
    assert {r["backend"] for r in results} == {backend}
    statuses = [c["status"] for c in resource_calls(tenant)]
    assert statuses.count(200) == 4 * 20
    if backend == "host":
        assert statuses.count(429) == 0
    else:
        assert statuses.count(429) > 0


def test_the_triggerer_and_the_workers_draw_from_one_budget(tenant, tmp_path):
    """Two worker processes walk with the sync hook while two walk with the async hook (as triggers do)."""
    tenant.emulator.admin.faults(throttle_limit=20, throttle_window=1.0)
    conn = tenant.conn_json(rate_limit_per_minute=20, rate_limit_window=1.0)
    triggers = [{"job": "awalk", "group": tenant.public_group_id, "page_size": 12} for _ in range(2)]
    results = walkers(tenant, conn, {"budget_backend": "host", "budget_dir": tmp_path}, 2, 12, triggers)
    assert [r["people"] for r in results] == [tenant.subscriber_count] * 4
    assert {r["backend"] for r in results} == {"host"}
    statuses = [c["status"] for c in resource_calls(tenant)]
    assert (statuses.count(200), statuses.count(429)) == (4 * 20, 0)


def test_walks_leave_the_reserve_and_sends_go_through(tenant, tmp_path):
    """Three walkers and a sender: in no window of the server do walks take more than the bulk cap."""
    tenant.emulator.admin.faults(throttle_limit=20, throttle_window=1.0)
    conn = tenant.conn_json(rate_limit_per_minute=20, rate_limit_window=1.0)
    sender = {"job": "send", "group": tenant.group_id, "count": 4, "every": 0.4}
    results = walkers(tenant, conn, {"budget_backend": "host", "budget_dir": tmp_path}, 3, 12, [sender])
    assert [r["people"] for r in results[:3]] == [tenant.subscriber_count] * 3
    calls = resource_calls(tenant)
    assert [c["status"] for c in calls if c["method"] == "POST" and c["path"].endswith("/messages")] == [200] * 4
    assert all(c["status"] == 200 for c in calls)
    walks = [c["ts"] for c in calls if c["path"].endswith("/subscribers")]
    assert max_in_window(walks, 1000) <= 19  # 20 less the 2 % idle reserve (one slot)


def test_a_429_holds_off_every_process_of_the_host(tenant, tmp_path, monkeypatch):
    """A process answered 429 (the server allows less than the connection says) stores the hold-off: another
    process asking for a slot is told to wait for the server, not for the budget."""
    tenant.emulator.admin.faults(throttle_limit=3, throttle_window=30.0)
    conn = tenant.conn_json(rate_limit_per_minute=100, rate_limit_window=30.0)
    env = child_env({"kaizala_budget": conn}, {"budget_backend": "host", "budget_dir": tmp_path})
    child = start_child({"job": "walk", "conn_id": "kaizala_budget", "group": tenant.public_group_id}, env)
    try:
        monkeypatch.setenv("AIRFLOW__KAIZALA__BUDGET_BACKEND", "host")
        monkeypatch.setenv("AIRFLOW__KAIZALA__BUDGET_DIR", str(tmp_path))
        budget = tenant.hook(rate_limit_per_minute=100, rate_limit_window=30.0).kaizala_session.budget
        assert budget.backend == "host"
        deadline = time.monotonic() + 60
        reason = ""
        while reason != "server 429 (Retry-After)":
            assert time.monotonic() < deadline, "the walker's 429 never reached the shared budget"
            assert child.poll() is None
            wait, reason = budget.try_acquire(Ticket(uuid.uuid4().hex, True))
            time.sleep(0.1)
        assert 0 < wait <= 30
        assert [c["status"] for c in resource_calls(tenant)] == [200, 200, 200, 429]
    finally:
        child.kill()
        child.communicate()


def test_connectors_of_one_tenant_share_the_tenant_budget(tenant, tmp_path):
    """Two connectors of one tenant, each walking in its own process: the tenant budget (named by the
    ``tenant`` setting) keeps the pair within the tenant's limit, which neither connector budget would."""
    emu = tenant.emulator
    emu.admin.faults(throttle_limit=0, tenant_throttle_limit=12, throttle_window=1.0)
    second = emu.admin.create_connector(phone="+919899990001", tenantId=tenant.connector["tenantId"])
    group = emu.admin.create_group(
        name="Tenant walk", groupType="ConnectGroup", admins=[second["phone"]], subscriberCount=tenant.subscriber_count
    )
    conn_b = json.loads(emu.connection_uri_json(second))
    conn_b["extra"].update(rate_limit_per_minute=12, rate_limit_window=1.0)
    env = child_env(
        {
            "kaizala_a": tenant.conn_json(rate_limit_per_minute=12, rate_limit_window=1.0),
            "kaizala_b": json.dumps(conn_b),
        },
        {"budget_backend": "host", "budget_dir": tmp_path, "tenant": "contoso", "tenant_rate_limit_per_minute": 12},
    )
    start_at = time.time() + 6
    jobs = [
        {"job": "walk", "conn_id": "kaizala_a", "group": tenant.public_group_id, "start_at": start_at, "page_size": 20},
        {"job": "walk", "conn_id": "kaizala_b", "group": group, "start_at": start_at, "page_size": 20},
    ]
    results = finish([start_child(job, env) for job in jobs])
    assert [r["people"] for r in results] == [tenant.subscriber_count] * 2
    calls = resource_calls(tenant) + resource_calls(tenant, second["applicationId"])
    assert [c["status"] for c in calls].count(429) == 0
    assert max_in_window([c["ts"] for c in calls], 1000) <= 12
