"""KaizalaToSqlOperator against the emulator, into SQLite and PostgreSQL."""

from __future__ import annotations

import json

import pytest

from airflow_provider_kaizala.exceptions import KaizalaValidationError
from airflow_provider_kaizala.transfers.kaizala_to_sql import KaizalaToSqlOperator

T1, T2, T3 = "2026-11-01T00:00:00+00:00", "2026-11-02T00:00:00+00:00", "2026-11-03T00:00:00+00:00"


def load(tenant, warehouse, observed_at: str, **kwargs) -> dict:
    op = KaizalaToSqlOperator(
        task_id="load",
        kaizala_conn_id=tenant.hook().kaizala_conn_id,
        sql_conn_id=warehouse.conn_id,
        observed_at=observed_at,
        **kwargs,
    )
    result = op.execute({})
    json.dumps(result)
    return result


def subscribers_truth(tenant) -> list[str]:
    return sorted(s["mobileNumber"] for s in tenant.emulator.admin.subscribers(tenant.public_group_id))


def open_spells(warehouse, group_id: str, kind: str) -> list[str]:
    rows = warehouse.query(
        "SELECT mobile_number FROM kaizala_membership WHERE group_id = %s AND kind = %s AND left_at IS NULL",
        group_id,
        kind,
    )
    return sorted(r[0] for r in rows)


def members_on(warehouse, group_id: str, kind: str, moment: str) -> list[str]:
    rows = warehouse.query(
        "SELECT mobile_number FROM kaizala_membership WHERE group_id = %s AND kind = %s AND first_seen <= %s "
        "AND (left_at IS NULL OR left_at > %s)",
        group_id,
        kind,
        moment,
        moment,
    )
    return sorted(r[0] for r in rows)


def test_history_joins_leaves_and_idempotent_reruns(tenant, warehouse):
    group = tenant.public_group_id
    first = load(tenant, warehouse, T1, group_id=group, kind="subscribers")
    assert (first["present"], first["joined"], first["left"]) == (237, 237, 0)
    at_t1 = subscribers_truth(tenant)
    assert open_spells(warehouse, group, "subscribers") == at_t1

    churn = tenant.emulator.admin.churn(group, "subscribers", add=5, remove=3, seed=9)
    second = load(tenant, warehouse, T2, group_id=group, kind="subscribers")
    assert (second["present"], second["joined"], second["left"]) == (239, 5, 3)
    assert open_spells(warehouse, group, "subscribers") == subscribers_truth(tenant)
    left = warehouse.query("SELECT mobile_number FROM kaizala_membership WHERE left_at = %s", T2)
    assert sorted(r[0] for r in left) == sorted(churn["removed"])

    tenant.emulator.admin.churn(group, "subscribers", add=2, remove=1, seed=10)
    rerun = load(tenant, warehouse, T2, group_id=group, kind="subscribers")  # same logical date, newer data
    assert (rerun["present"], rerun["joined"], rerun["left"]) == (240, 7, 4)
    assert open_spells(warehouse, group, "subscribers") == subscribers_truth(tenant)
    keys = warehouse.query("SELECT mobile_number, first_seen FROM kaizala_membership")
    assert len(keys) == len(set(keys))
    assert warehouse.query("SELECT COUNT(*) FROM kaizala_membership_loads WHERE observed_at = %s", T2) == [(1,)]
    assert members_on(warehouse, group, "subscribers", T1) == at_t1


def test_older_dates_are_refused_after_newer_ones(tenant, warehouse):
    load(tenant, warehouse, T2, group_id=tenant.group_id, kind="members")
    with pytest.raises(KaizalaValidationError, match="history"):
        load(tenant, warehouse, T1, group_id=tenant.group_id, kind="members")


def test_all_groups_with_role_changes(tenant, warehouse):
    result = load(tenant, warehouse, T1)
    truth_groups = {g["groupId"] for g in tenant.hook().list_groups(fetch_all_groups=True)}
    assert result["groups"] == len(truth_groups)
    rows = warehouse.query("SELECT group_id, members, subscribers FROM kaizala_membership_groups")
    by_group = {r[0]: (r[1], r[2]) for r in rows}
    assert set(by_group) == truth_groups
    assert by_group[tenant.group_id] == (5, None)
    assert by_group[tenant.public_group_id][1] == 237
    hook = tenant.hook()
    member = next(m for m in hook.list_members(tenant.group_id) if m["role"] == "Member")
    hook.set_member_role(tenant.group_id, member["id"], "Admin")
    again = load(tenant, warehouse, T3)
    assert (again["joined"], again["left"], again["changed"]) == (0, 0, 1)
    role = warehouse.query(
        "SELECT role FROM kaizala_membership WHERE mobile_number = %s AND group_id = %s",
        member["mobileNumber"],
        tenant.group_id,
    )
    assert role == [("Admin",)]


def test_bad_input_fails_before_any_call(tenant, warehouse):
    for kwargs, field in (
        ({"table": "members; DROP TABLE x"}, "table"),
        ({"group_id": "a/b"}, "group_id"),
        ({"group_id": tenant.group_id, "kind": "owners"}, "kind"),
        ({"observed_at": "yesterday"}, "observed_at"),
    ):
        with pytest.raises(KaizalaValidationError, match=field):
            load(tenant, warehouse, kwargs.pop("observed_at", T1), **kwargs)
    assert tenant.calls() == []
