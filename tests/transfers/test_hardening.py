"""KaizalaToSqlOperator against hostile names, overlapping loads and broken servers (issue 12, points 6, 7, 12).

Every test runs on SQLite and on the real PostgreSQL server of ``conftest.py``.
"""

from __future__ import annotations

import datetime
import json
import threading
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest

from airflow_provider_kaizala.exceptions import (
    KaizalaException,
    KaizalaLoadConflictError,
    KaizalaValidationError,
)
from airflow_provider_kaizala.hooks.config import TOKEN_CACHE
from airflow_provider_kaizala.transfers import kaizala_to_sql
from airflow_provider_kaizala.transfers.kaizala_to_sql import KaizalaToSqlOperator
from tests.transfers.conftest import open_spells, tables

T1, T2 = "2026-11-01T00:00:00+00:00", "2026-11-02T00:00:00+00:00"


def operator(tenant: Any, warehouse: Any, observed_at: str, cls: type = KaizalaToSqlOperator, **kwargs: Any) -> Any:
    return cls(
        task_id="load",
        kaizala_conn_id=tenant.hook().kaizala_conn_id,
        sql_conn_id=warehouse.conn_id,
        observed_at=observed_at,
        **kwargs,
    )


def load(tenant: Any, warehouse: Any, observed_at: str, **kwargs: Any) -> dict[str, Any]:
    result = operator(tenant, warehouse, observed_at, **kwargs).execute({})
    json.dumps(result)
    return dict(result)


def snapshot(warehouse: Any, table: str = "kaizala_membership") -> dict[str, list[tuple[Any, ...]]]:
    return {
        name: sorted(warehouse.query(f"SELECT * FROM {name}"), key=repr)
        for name in (table, f"{table}_loads", f"{table}_groups")
    }


def truth(tenant: Any) -> list[str]:
    return sorted(s["mobileNumber"] for s in tenant.emulator.admin.subscribers(tenant.public_group_id))


# -- point 6: staging never touches a table it did not create ---------------------------------------------------


def test_user_tables_named_like_a_stage_survive_loads(tenant, warehouse, monkeypatch):
    # The user's own tables: the old fixed staging name, and one with the new prefix and the exact suffix the
    # load is forced to draw, so the staging table has the very same name as a permanent table.
    collide = "kaizala_membership__kz_stage_0badcafe"
    monkeypatch.setattr(kaizala_to_sql, "_stage_suffix", lambda: "0badcafe", raising=False)
    for name in ("kaizala_stage", collide):
        warehouse.query(f"CREATE TABLE {name} (mobile_number TEXT, note TEXT)")
        warehouse.query(f"INSERT INTO {name} VALUES ('+910000000000', 'mine')")
    group = tenant.public_group_id
    load(tenant, warehouse, T1, group_id=group, kind="subscribers")
    tenant.emulator.admin.churn(group, "subscribers", add=3, remove=2, seed=4)
    result = load(tenant, warehouse, T2, group_id=group, kind="subscribers")
    assert (result["joined"], result["left"]) == (3, 2)
    assert open_spells(warehouse, group, "subscribers") == truth(tenant)
    for name in ("kaizala_stage", collide):
        assert warehouse.query(f"SELECT * FROM {name}") == [("+910000000000", "mine")]
    assert tables(warehouse) == {
        "kaizala_stage",
        collide,
        "kaizala_membership",
        "kaizala_membership_loads",
        "kaizala_membership_groups",
    }


def test_a_failed_load_leaves_no_staging_table_behind(tenant, warehouse):
    with pytest.raises(KaizalaException):
        load(tenant, warehouse, T1, group_id="missing-group-id", kind="subscribers")
    assert not any("__kz_stage_" in name for name in tables(warehouse))


# -- point 7: overlapping loads of one list are serialised ------------------------------------------------------


class _Overlapping(KaizalaToSqlOperator):
    """Waits at the end of its page walk until the other load got there too, so both really overlap."""

    barrier: threading.Barrier

    def _people(self, group_id: str, kind: str) -> Iterator[list[dict[str, Any]]]:
        yield from super()._people(group_id, kind)
        self.barrier.wait(timeout=120)


def overlap(tenant: Any, warehouse: Any, dates: tuple[str, str]) -> None:
    """Two loads of one list whose page walks overlap end with one consistent history."""
    group = tenant.public_group_id
    _Overlapping.barrier = threading.Barrier(2)
    ops = [operator(tenant, warehouse, day, cls=_Overlapping, group_id=group, kind="subscribers") for day in dates]
    outcomes: list[Any] = [None, None]

    def run(i: int) -> None:
        try:
            outcomes[i] = ops[i].execute({})
        except BaseException as err:
            outcomes[i] = err
            _Overlapping.barrier.abort()  # the other load stops waiting at once

    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert not any(thread.is_alive() for thread in threads)

    for outcome in outcomes:  # a load succeeds, or is refused because the other one moved history forward
        if isinstance(outcome, BaseException):
            assert isinstance(outcome, KaizalaValidationError), repr(outcome)
            assert "history" in str(outcome)
    assert any(isinstance(o, dict) for o in outcomes)
    spells = warehouse.query(
        "SELECT mobile_number, first_seen, last_seen FROM kaizala_membership "
        "WHERE group_id = %s AND kind = 'subscribers' AND left_at IS NULL",
        group,
    )
    assert sorted(r[0] for r in spells) == truth(tenant)  # one open spell per subscriber, no duplicates
    loaded = sorted(r[0] for r in warehouse.query("SELECT observed_at FROM kaizala_membership_loads"))
    assert loaded == sorted({d for d, o in zip(dates, outcomes, strict=True) if isinstance(o, dict)})
    assert {(r[1], r[2]) for r in spells} == {(loaded[0], loaded[-1])}


OVERLAPS = pytest.mark.parametrize("dates", [(T1, T2), (T2, T1), (T1, T1)], ids=["forward", "backward", "same-date"])


@OVERLAPS
def test_overlapping_loads_of_one_list_leave_one_consistent_history(tenant, warehouse, dates):
    overlap(tenant, warehouse, dates)


@OVERLAPS
def test_the_lock_row_fallback_serialises_overlapping_loads(tenant, warehouse, monkeypatch, dates):
    """The fallback of dialects without a native lock, run on SQLite and PostgreSQL."""
    monkeypatch.setattr(kaizala_to_sql, "NATIVE_LOCKS", ())
    overlap(tenant, warehouse, dates)
    assert "kaizala_membership_locks" in tables(warehouse)


def hold_lock(warehouse: Any, table: str, group_id: str, kind: str) -> Any:
    """Another session holding the load lock of one list (PostgreSQL) or the write lock (SQLite)."""
    if warehouse.dialect == "sqlite":
        import sqlite3

        con = sqlite3.connect(warehouse.uri, isolation_level=None)
        con.execute("BEGIN IMMEDIATE")
        return con
    import psycopg2

    con = psycopg2.connect(warehouse.uri)
    cur = con.cursor()
    cur.execute("SELECT CAST(%s AS regclass)::oid", (table,))
    cur.execute("SELECT pg_advisory_xact_lock(%s)", (kaizala_to_sql.lock_key(cur.fetchone()[0], group_id, kind),))
    return con


def test_a_load_waiting_too_long_for_the_lock_is_refused(tenant, warehouse):
    """A held lock and ``lock_timeout``: the second load gives up with KaizalaLoadConflictError."""
    group = tenant.group_id
    load(tenant, warehouse, T1, group_id=group)
    holder = hold_lock(warehouse, "kaizala_membership", group, "members")
    try:
        with pytest.raises(KaizalaLoadConflictError, match="kaizala_membership"):
            load(tenant, warehouse, T2, group_id=group, lock_timeout=0.2)
    finally:
        holder.close()
    assert load(tenant, warehouse, T2, group_id=group)["present"] == 5


# -- point 12: identifiers -----------------------------------------------------------------------------------


def test_a_reserved_word_is_a_valid_table_name(tenant, warehouse):
    group = tenant.public_group_id
    load(tenant, warehouse, T1, group_id=group, kind="subscribers", table="order")
    tenant.emulator.admin.churn(group, "subscribers", add=1, remove=1, seed=3)
    result = load(tenant, warehouse, T2, group_id=group, kind="subscribers", table="order")
    assert (result["joined"], result["left"]) == (1, 1)
    assert open_spells(warehouse, group, "subscribers", table='"order"') == truth(tenant)
    assert len(warehouse.query('SELECT * FROM "order_loads"')) == 2
    # an all-groups load writes the groups table too
    load(tenant, warehouse, "2026-11-03T00:00:00+00:00", table="order")
    assert warehouse.query('SELECT COUNT(*) FROM "order_groups"')[0][0] >= 2


def test_a_run_without_a_logical_date_observes_at_its_run_after(tenant, warehouse):
    """Airflow 3 runs triggered without a logical date: ``{{ ts }}`` fails there, the default uses run_after."""
    run_after = datetime.datetime(2026, 11, 5, 6, 30, tzinfo=datetime.UTC)
    context = {"logical_date": None, "data_interval_end": None, "dag_run": SimpleNamespace(run_after=run_after)}
    op = operator(tenant, warehouse, "", group_id=tenant.group_id)
    op.observed_at = None
    result = op.execute(context)
    assert result["observedAt"] == "2026-11-05T06:30:00+00:00"


def test_a_schema_qualified_table(tenant, warehouse):
    group = tenant.group_id
    if warehouse.dialect == "sqlite":
        # SQLite's schemas are the attached databases: "main" always exists, anything else is refused.
        load(tenant, warehouse, T1, group_id=group, table="main.members")
        assert len(open_spells(warehouse, group, "members", table="members")) == 5
        before = tenant.calls()
        with pytest.raises(KaizalaValidationError, match=r"(?s)analytics.*attached"):
            load(tenant, warehouse, T1, group_id=group, table="analytics.members")
        assert tenant.calls() == before
        return
    warehouse.query("DROP SCHEMA IF EXISTS analytics CASCADE")
    warehouse.query("CREATE SCHEMA analytics")
    try:
        load(tenant, warehouse, T1, group_id=group, table="analytics.members")
        load(tenant, warehouse, T2, group_id=group, table="analytics.members")
        assert len(open_spells(warehouse, group, "members", table="analytics.members")) == 5
        assert {"analytics.members", "analytics.members_loads", "analytics.members_groups"} <= tables(warehouse)
        assert "members" not in tables(warehouse)
    finally:
        warehouse.query("DROP SCHEMA analytics CASCADE")
    before = tenant.calls()
    with pytest.raises(KaizalaValidationError, match=r"(?s)nowhere.*schema"):
        load(tenant, warehouse, T1, group_id=group, table="nowhere.members")
    assert tenant.calls() == before


@pytest.mark.parametrize(
    "table",
    [
        "x; DROP TABLE y",
        'kaizala"membership',
        "kaizala'membership",
        "`members`",
        "[members]",
        "a.b.c",
        "members.",
        ".members",
        "1members",
        "mem bers",
        "members--",
        "membérs",
        "",
        "m" * 49,
        "s" * 64 + ".members",
        "sqlite_master",
        "main.sqlite_sequence",
        "pg_class",
        None,
        42,
    ],
)
def test_hostile_table_names_are_refused_before_any_call(tenant, warehouse, table):
    warehouse.query("CREATE TABLE y (n INTEGER)")
    with pytest.raises(KaizalaValidationError, match="table"):
        load(tenant, warehouse, T1, table=table)
    assert tenant.calls() == []
    assert tables(warehouse) == {"y"}


# -- an error in the middle of a page walk leaves the warehouse untouched ---------------------------------------

SPOILS = {
    "html-200": (200, "text/html", b"<html><body>Access denied by policy</body></html>"),
    "empty-200": (200, "application/json", b""),
    "null-list": (200, "application/json", b'{"subscribers": null}'),
    "wrong-types": (200, "application/json", b'{"subscribers": [{"mobileNumber": 919800000001}]}'),
    "no-number": (200, "application/json", b'{"subscribers": [{"id": "x"}], "cursor": null}'),
    "server-error": (503, "application/json", b'{"errorCode": "Unavailable", "message": "down"}'),
}


@pytest.mark.parametrize("spoil", sorted(SPOILS))
def test_an_error_mid_walk_leaves_the_warehouse_untouched(tenant, warehouse, hostile_proxy, monkeypatch, spoil):
    group = tenant.public_group_id
    load(tenant, warehouse, T1, group_id=group, kind="subscribers")
    tenant.emulator.admin.churn(group, "subscribers", add=4, remove=4, seed=5)
    before = snapshot(warehouse)
    conn = json.loads(tenant.conn_json(max_retries=0))
    conn["host"] = f"{hostile_proxy.url}/v1"
    monkeypatch.setenv("AIRFLOW_CONN_KAIZALA_THROUGH_PROXY", json.dumps(conn))
    TOKEN_CACHE.clear()
    status, content_type, body = SPOILS[spoil]
    hostile_proxy.spoil(r"/subscribers$", after=2, status=status, body=body, content_type=content_type)
    op = KaizalaToSqlOperator(
        task_id="load",
        kaizala_conn_id="kaizala_through_proxy",
        sql_conn_id=warehouse.conn_id,
        observed_at=T2,
        group_id=group,
        kind="subscribers",
    )
    with pytest.raises(KaizalaException):
        op.execute({})
    assert hostile_proxy.spoiled >= 1
    assert snapshot(warehouse) == before
