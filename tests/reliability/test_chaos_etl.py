"""Chaos ETL: the subscriber transfer of a large public group under seeded faults equals the ground truth.

Every seed loads a public group twice (two logical dates with churn in between) while the emulator injects 5xx
answers, dropped connections, responses slower than the connection timeout, a relocation (308) mid-run, access
tokens revoked every few dozen calls and, in the first load, 429 bursts (the server's throttle is tighter than the
hook's own pacing).
After each load the open spells in the warehouse must be exactly the emulator's subscribers: nothing missing,
nothing duplicated. A run that cannot finish must fail loudly, leave the warehouse as it was, and a re-run of the
same logical date must complete it.

The default run covers 2 seeds at 20,000 subscribers on SQLite; ``-m slow`` runs 10 seeds at 100,000.
Figures (rows checked, faults seen, wall time) are attached to each test with ``record_property``.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from functools import cached_property
from typing import Any

import pytest

from airflow_provider_kaizala.exceptions import KaizalaException
from airflow_provider_kaizala.hooks.kaizala import KaizalaHook
from airflow_provider_kaizala.transfers.kaizala_to_sql import KaizalaToSqlOperator

T1, T2 = "2026-12-01T00:00:00+00:00", "2026-12-02T00:00:00+00:00"
PAGE_SIZE = 50  # the hook's default page size: pages per load = subscribers / 50
#: Client side of the connection: a short read timeout (slow answers time out), generous retries, and a
#: client-side limit far above the emulator's throttle so that 429 bursts really happen.
CHAOS_EXTRAS: dict[str, Any] = {"timeout": 0.5, "max_retries": 8, "rate_limit_per_minute": 1_000_000}
FAST_SEEDS = [11, 12]
SLOW_SEEDS = list(range(101, 111))
FAILING_SEED = 34  # with error_rate 0.3 the first injected 5xx comes after several good pages
EXPECTED_FAULTS = ("error", "drop", "client_timeout", "throttle", "relocate", "expired")


@pytest.fixture
def quick_retries(monkeypatch, tenant):
    """Make the operator's own KaizalaHook back off 10 ms instead of 1 s (and keep tokens in the tenant's store)."""

    def hook(self: KaizalaToSqlOperator) -> KaizalaHook:
        return KaizalaHook(self.kaizala_conn_id, refresh_token_store=tenant.store, retry_backoff=0.01)

    prop = cached_property(hook)
    prop.__set_name__(KaizalaToSqlOperator, "hook")
    monkeypatch.setattr(KaizalaToSqlOperator, "hook", prop)


def chaos_faults(seed: int, subscribers: int, *, throttle: bool = True) -> dict[str, Any]:
    """The seeded fault mix of one load (drop phase alternates between before and after processing).

    Each 429 costs the hook at least a second (Retry-After is whole seconds), so only the first load of a
    seed is throttled."""
    pages = subscribers // PAGE_SIZE
    return {
        "fault_seed": seed,
        "error_rate": 0.05,
        "error_statuses": [500, 502, 503],
        "drop_rate": 0.02,
        "drop_phase": "before" if seed % 2 else "after",
        "slow_rate": 0.006,
        "slow_seconds": 1.0,
        "slow_phase": "before",
        # Relocated after three quarters of the first load's pages, and again in the middle of the second load.
        "relocate_after": pages * 3 // 4,
        "token_expire_every": 40,
        # A 429 burst whenever the hook goes faster than 60 calls/s (it manages about 100 on loopback).
        "throttle_limit": 120 if throttle else 0,
        "throttle_window": 2.0,
    }


def public_group(tenant, subscribers: int) -> str:
    return tenant.emulator.admin.create_group(
        name=f"Chaos {tenant.application_id[:8]}",
        groupType="ConnectGroup",
        admins=[tenant.connector["phone"]],
        subscriberCount=subscribers,
    )


def load(conn_id: str, warehouse, group_id: str, observed_at: str) -> dict[str, Any]:
    op = KaizalaToSqlOperator(
        task_id="chaos_load",
        kaizala_conn_id=conn_id,
        sql_conn_id=warehouse.conn_id,
        group_id=group_id,
        kind="subscribers",
        observed_at=observed_at,
        batch_size=500,
    )
    return op.execute({})


def truth(tenant, group_id: str) -> list[str]:
    return sorted(s["mobileNumber"] for s in tenant.emulator.admin.subscribers(group_id))


def open_spells(warehouse, group_id: str) -> list[str]:
    rows = warehouse.query(
        "SELECT mobile_number FROM kaizala_membership WHERE group_id = %s AND kind = 'subscribers' AND left_at IS NULL",
        group_id,
    )
    return sorted(r[0] for r in rows)


def table_dump(warehouse) -> list[tuple[Any, ...]]:
    return sorted(
        warehouse.query(
            "SELECT group_id, kind, mobile_number, person_id, role, first_seen, last_seen, left_at "
            "FROM kaizala_membership"
        ),
        key=repr,
    )


def assert_equals_truth(warehouse, tenant, group_id: str) -> int:
    """Open spells equal the ground truth and no person has two open spells. Returns the rows checked."""
    expected = truth(tenant, group_id)
    got = open_spells(warehouse, group_id)
    missing = sorted(set(expected) - set(got))
    extra = sorted(set(got) - set(expected))
    duplicated = [number for number, n in Counter(got).items() if n > 1]
    assert not missing, f"{len(missing)} subscribers missing from the warehouse, e.g. {missing[:5]}"
    assert not extra, f"{len(extra)} people in the warehouse who are not subscribers, e.g. {extra[:5]}"
    assert not duplicated, f"{len(duplicated)} subscribers with several open spells, e.g. {duplicated[:5]}"
    assert got == expected
    return len(expected)


def client_timeouts(caplog) -> int:
    """Read timeouts the hook saw (a slow call answered after the token expired is logged ``expired`` by the
    emulator, so the call log alone undercounts the slow faults)."""
    return sum("timeout error (" in record.getMessage() for record in caplog.records)  # one record per timeout


def run_chaos_seed(tenant, warehouse, seed: int, subscribers: int, caplog) -> dict[str, Any]:
    """Two loads of a fresh public group under the seed's faults; returns the figures of the run."""
    admin = tenant.emulator.admin
    caplog.clear()
    group_id = public_group(tenant, subscribers)
    conn_id = tenant.hook(**CHAOS_EXTRAS).kaizala_conn_id
    since = admin.calls()[-1]["seq"] if admin.calls() else 0
    admin.faults(**chaos_faults(seed, subscribers))
    started = time.monotonic()

    first = load(conn_id, warehouse, group_id, T1)
    admin.faults(error_rate=0.0, drop_rate=0.0, slow_rate=0.0)  # churn and ground truth are admin calls: unfaulted
    rows = assert_equals_truth(warehouse, tenant, group_id)
    assert (first["present"], first["joined"], first["left"]) == (subscribers, subscribers, 0)

    churn = admin.churn(group_id, "subscribers", add=120, remove=80, seed=seed)
    admin.faults(**chaos_faults(seed + 1000, subscribers, throttle=False))
    second = load(conn_id, warehouse, group_id, T2)
    elapsed = time.monotonic() - started
    admin.faults(error_rate=0.0, drop_rate=0.0, slow_rate=0.0, throttle_limit=0, relocate_after=0)
    rows += assert_equals_truth(warehouse, tenant, group_id)
    assert (second["present"], second["joined"], second["left"]) == (subscribers + 40, 120, 80)
    left = warehouse.query(
        "SELECT mobile_number FROM kaizala_membership WHERE group_id = %s AND left_at = %s", group_id, T2
    )
    assert sorted(r[0] for r in left) == sorted(churn["removed"])
    keys = warehouse.query(
        "SELECT kind, mobile_number, first_seen FROM kaizala_membership WHERE group_id = %s", group_id
    )
    assert len(keys) == len(set(keys)) == subscribers + 120

    calls = [c for c in admin.calls(since) if c.get("applicationId") == tenant.application_id]
    faults = Counter(c["fault"] for c in calls if c["fault"])
    faults["client_timeout"] = client_timeouts(caplog)
    statuses = Counter(c["status"] for c in calls if c["fault"] == "error")
    # The chaos must really have happened, or the equality above proves nothing.
    for kind in EXPECTED_FAULTS:
        assert faults[kind] > 0, f"seed {seed}: no {kind!r} fault was injected ({dict(faults)})"
    return {
        "seed": seed,
        "subscribers": subscribers,
        "rows_checked": rows,
        "calls": len(calls),
        "faults": dict(faults),
        "error_statuses": {str(k): v for k, v in statuses.items()},
        "seconds": round(elapsed, 1),
    }


def _run_seeds(tenant, warehouse, seeds: list[int], subscribers: int, record_property, caplog) -> None:
    caplog.set_level(logging.INFO, logger="airflow_provider_kaizala.hooks.core")
    figures = [run_chaos_seed(tenant, warehouse, seed, subscribers, caplog) for seed in seeds]
    record_property("chaos_figures", figures)
    record_property("rows_checked", sum(f["rows_checked"] for f in figures))
    # Slowed calls are counted by the timeouts the hook saw, not by the call log's "slow" entries.
    injected = sum(n for f in figures for kind, n in f["faults"].items() if kind != "slow")
    record_property("faults_injected", injected)


def test_chaos_transfer_equals_ground_truth_fast(tenant, sqlite_warehouse, quick_retries, record_property, caplog):
    _run_seeds(tenant, sqlite_warehouse, FAST_SEEDS, 20_000, record_property, caplog)


@pytest.mark.slow
@pytest.mark.timeout(3600)
def test_chaos_transfer_equals_ground_truth_full(tenant, sqlite_warehouse, quick_retries, record_property, caplog):
    _run_seeds(tenant, sqlite_warehouse, SLOW_SEEDS, 100_000, record_property, caplog)


def list_calls(tenant, since: int) -> list[dict[str, Any]]:
    return [
        c
        for c in tenant.emulator.admin.calls(since)
        if c.get("applicationId") == tenant.application_id and c["path"].endswith("/subscribers")
    ]


def warehouse_state(warehouse) -> dict[str, list[tuple[Any, ...]]]:
    return {
        "membership": table_dump(warehouse),
        "loads": sorted(
            warehouse.query(
                "SELECT group_id, kind, observed_at, present, joined, left_count, changed, loaded_at "
                "FROM kaizala_membership_loads"
            )
        ),
    }


def fail_to_load(tenant, warehouse, group_id: str, observed_at: str) -> int:
    """A run with no retries under a heavy 5xx rate: it must give up loudly part-way. Returns the pages it got."""
    admin = tenant.emulator.admin
    brittle = tenant.hook(**{**CHAOS_EXTRAS, "max_retries": 0}).kaizala_conn_id
    since = admin.calls()[-1]["seq"]
    admin.faults(error_rate=0.3, error_statuses=[500, 502], fault_seed=FAILING_SEED, fault_paths="/subscribers$")
    op = KaizalaToSqlOperator(
        task_id="chaos_load",
        kaizala_conn_id=brittle,
        sql_conn_id=warehouse.conn_id,
        group_id=group_id,
        kind="subscribers",
        observed_at=observed_at,
        batch_size=100,  # two pages per staging insert, so the failed run had written staging rows
    )
    try:
        with pytest.raises(KaizalaException, match=r"Gave up after 0 retries \(server error \(HTTP 50[02]\)\)"):
            op.execute({})
    finally:
        admin.faults(error_rate=0.0, fault_paths=None)
    calls = list_calls(tenant, since)
    assert calls[-1]["fault"] == "error"
    return sum(c["status"] == 200 for c in calls)


def test_run_that_cannot_finish_fails_loudly_rolls_back_and_rerun_completes(tenant, warehouse, quick_retries):
    admin = tenant.emulator.admin
    group_id = public_group(tenant, 3_000)  # 60 pages
    conn_id = tenant.hook(**CHAOS_EXTRAS).kaizala_conn_id
    load(conn_id, warehouse, group_id, T1)
    assert_equals_truth(warehouse, tenant, group_id)

    # A first load of T2 that cannot finish leaves the warehouse exactly as it was ...
    churn = admin.churn(group_id, "subscribers", add=30, remove=20, seed=5)
    before = warehouse_state(warehouse)
    pages = fail_to_load(tenant, warehouse, group_id, T2)
    assert pages >= 4, f"the fault seed failed the run too early ({pages} pages) to prove anything"
    assert warehouse_state(warehouse) == before, "the failed run left changes behind: it did not roll back"
    # ... and the re-run of the same logical date, faults off, completes it.
    result = load(conn_id, warehouse, group_id, T2)
    assert (result["present"], result["joined"], result["left"]) == (3_010, 30, 20)
    assert_equals_truth(warehouse, tenant, group_id)
    left = warehouse.query(
        "SELECT mobile_number FROM kaizala_membership WHERE group_id = %s AND left_at = %s", group_id, T2
    )
    assert sorted(r[0] for r in left) == sorted(churn["removed"])

    # A failing re-run of T2 first undoes T2's load inside the transaction: that undo must roll back too.
    admin.churn(group_id, "subscribers", add=7, remove=4, seed=6)
    before = warehouse_state(warehouse)
    pages = fail_to_load(tenant, warehouse, group_id, T2)
    assert pages >= 4
    assert warehouse_state(warehouse) == before, "the failed re-run left its undo (or staged rows) behind"
    result = load(conn_id, warehouse, group_id, T2)
    assert (result["present"], result["joined"], result["left"]) == (3_013, 37, 24)
    assert_equals_truth(warehouse, tenant, group_id)
    assert warehouse.query("SELECT COUNT(*) FROM kaizala_membership_loads WHERE observed_at = %s", T2) == [(1,)]
