"""Member operators against the emulator over HTTP, checked against the emulator's own member lists."""

from __future__ import annotations

import json

import pytest

from airflow_provider_kaizala.exceptions import KaizalaNotFoundError, KaizalaValidationError
from airflow_provider_kaizala.operators.members import (
    KaizalaAddMembersOperator,
    KaizalaListMembersOperator,
    KaizalaRemoveMemberOperator,
    KaizalaSetMemberRoleOperator,
)
from tests.conftest import Tenant
from tests.operators.conftest import calls_to, conn_id, new_phone, run


def members(tenant: Tenant, group_id: str | None = None) -> dict[str, dict]:
    """Ground truth: the emulator's members of the group, by phone number."""
    return {m["mobileNumber"]: m for m in tenant.emulator.admin.members(group_id or tenant.group_id)}


@pytest.fixture
def mixed_group(tenant: Tenant) -> tuple[str, list[str]]:
    """A group with two admins, three members of whom two are unprovisioned."""
    admins = [tenant.connector["phone"], new_phone()]
    plain = [new_phone() for _ in range(3)]
    group_id = tenant.emulator.admin.create_group(
        name="Mixed", groupType="Group", admins=admins, members=plain, unprovisioned=plain[:2]
    )
    return group_id, admins + plain


def test_list_members_counts_and_ids(tenant, mixed_group):
    group_id, phones = mixed_group
    truth = members(tenant, group_id)
    assert set(truth) == set(phones)
    result = run(KaizalaListMembersOperator(task_id="ls", kaizala_conn_id=conn_id(tenant), group_id=group_id))
    assert result == {
        "groupId": group_id,
        "count": 5,
        "admins": sum(m["role"] == "Admin" for m in truth.values()),
        "unprovisioned": sum(not m["isProvisioned"] for m in truth.values()),
        "memberIds": [m["id"] for m in tenant.emulator.admin.members(group_id)],
    }
    assert result["admins"] == 2
    assert result["unprovisioned"] >= 2  # the two marked unprovisioned, plus any the emulator deems so


def test_list_members_return_list_and_output_path(tenant, mixed_group, tmp_path):
    group_id, _ = mixed_group
    op = KaizalaListMembersOperator(
        task_id="ls",
        kaizala_conn_id=conn_id(tenant),
        group_id="{{ params.group }}",
        return_list="{{ params.full }}",
        output_path=str(tmp_path) + "/members/{{ ds }}.jsonl",
    )
    op.render_template_fields({"ds": "2026-11-27", "params": {"group": group_id, "full": True}})
    result = run(op)
    target = tmp_path / "members" / "2026-11-27.jsonl"
    assert result["path"] == target.as_uri()
    truth = tenant.emulator.admin.members(group_id)
    lines = [json.loads(line) for line in target.read_text().splitlines()]
    key = ("id", "mobileNumber", "role", "isProvisioned")
    assert [tuple(m[k] for k in key) for m in lines] == [tuple(m[k] for k in key) for m in truth]
    assert [tuple(m[k] for k in key) for m in result["members"]] == [tuple(m[k] for k in key) for m in truth]
    assert "memberIds" not in result
    assert result["count"] == len(truth)


def test_add_members_new_and_existing_is_safe_to_rerun(tenant):
    before = members(tenant)
    numbers = [new_phone(), new_phone(), next(iter(before))]
    args = {"kaizala_conn_id": conn_id(tenant), "group_id": tenant.group_id, "phone_numbers": numbers}
    first = run(KaizalaAddMembersOperator(task_id="add", **args))
    after_first = members(tenant)
    second = run(KaizalaAddMembersOperator(task_id="add_again", **args))
    expected = {"groupId": tenant.group_id, "requested": 3, "allAdded": True, "notAdded": []}
    assert first == second == expected
    assert set(after_first) == set(before) | set(numbers)
    assert members(tenant) == after_first
    # The existing member keeps its role.
    assert after_first[tenant.connector["phone"]]["role"] == "Admin"


def test_add_members_normalises_and_deduplicates(tenant):
    number = new_phone()
    spaced = f"{number[:3]} {number[3:8]} {number[8:]}"
    result = run(
        KaizalaAddMembersOperator(
            task_id="add", kaizala_conn_id=conn_id(tenant), group_id=tenant.group_id, phone_numbers=[spaced, number]
        )
    )
    assert result["requested"] == 1
    assert number in members(tenant)


def test_add_more_than_100_members_is_split_into_batches(tenant):
    numbers = [new_phone() for _ in range(250)]
    result = run(
        KaizalaAddMembersOperator(
            task_id="add", kaizala_conn_id=conn_id(tenant), group_id=tenant.group_id, phone_numbers=numbers
        )
    )
    assert result == {"groupId": tenant.group_id, "requested": 250, "allAdded": True, "notAdded": []}
    puts = calls_to(tenant, "PUT", f"/groups/{tenant.group_id}/members")
    assert len(puts) == 3
    assert all(c["status"] == 200 for c in puts)
    assert set(numbers) <= set(members(tenant))
    assert len(members(tenant)) == 255


@pytest.mark.parametrize(
    ("template", "value", "shown"),
    [
        (["{{ params.phone }}"], "12345", "'12345'"),
        (["{{ params.phone }}"], "+1 555", "'+1 555'"),
        ("{{ params.phone }}", "919020000001", "'919020000001'"),
    ],
)
def test_add_members_templated_bad_number_fails_before_any_call(tenant, template, value, shown):
    op = KaizalaAddMembersOperator(
        task_id="add", kaizala_conn_id=conn_id(tenant), group_id=tenant.group_id, phone_numbers=template
    )
    op.render_template_fields({"params": {"phone": value}})
    before = members(tenant)
    with pytest.raises(KaizalaValidationError, match="phone_numbers") as err:
        op.execute(context={})
    assert shown in str(err.value)
    assert tenant.calls() == []
    assert members(tenant) == before


def test_remove_member_by_phone_twice(tenant):
    phone = next(p for p, m in members(tenant).items() if m["role"] == "Member")
    member_id = members(tenant)[phone]["id"]
    args = {"kaizala_conn_id": conn_id(tenant), "group_id": tenant.group_id, "phone_number": phone}
    first = run(KaizalaRemoveMemberOperator(task_id="rm", **args))
    assert first == {"groupId": tenant.group_id, "memberId": member_id, "removed": True, "reason": None}
    assert phone not in members(tenant)
    assert len(members(tenant)) == 4
    second = run(KaizalaRemoveMemberOperator(task_id="rm_again", **args))
    assert second == {"groupId": tenant.group_id, "memberId": None, "removed": False, "reason": "NotAMember"}
    assert len(members(tenant)) == 4


def test_remove_member_by_id_twice(tenant):
    phone = [p for p, m in members(tenant).items() if m["role"] == "Member"][-1]
    member_id = members(tenant)[phone]["id"]
    args = {"kaizala_conn_id": conn_id(tenant), "group_id": tenant.group_id, "member_id": "{{ params.member }}"}
    first_op = KaizalaRemoveMemberOperator(task_id="rm", **args)
    first_op.render_template_fields({"params": {"member": member_id}})
    first = run(first_op)
    assert first == {"groupId": tenant.group_id, "memberId": member_id, "removed": True, "reason": None}
    assert phone not in members(tenant)
    second_op = KaizalaRemoveMemberOperator(task_id="rm_again", **args)
    second_op.render_template_fields({"params": {"member": member_id}})
    second = run(second_op)
    assert second == {"groupId": tenant.group_id, "memberId": member_id, "removed": False, "reason": "NotAMember"}
    assert len(members(tenant)) == 4


@pytest.mark.parametrize(
    "target",
    [{}, {"member_id": "abc@1", "phone_number": "+919020000009"}],
    ids=["neither", "both"],
)
def test_remove_member_needs_exactly_one_target(tenant, target):
    op = KaizalaRemoveMemberOperator(task_id="rm", kaizala_conn_id=conn_id(tenant), group_id=tenant.group_id, **target)
    with pytest.raises(KaizalaValidationError, match="exactly one"):
        op.execute(context={})
    assert tenant.calls() == []


def test_remove_member_templated_bad_phone_fails_before_any_call(tenant):
    op = KaizalaRemoveMemberOperator(
        task_id="rm", kaizala_conn_id=conn_id(tenant), group_id=tenant.group_id, phone_number="{{ params.phone }}"
    )
    op.render_template_fields({"params": {"phone": "0044 20 7946 0000"}})
    with pytest.raises(KaizalaValidationError, match=r"phone_number='0044 20 7946 0000'"):
        op.execute(context={})
    assert tenant.calls() == []
    assert len(members(tenant)) == 5


def test_set_member_role_by_phone_and_by_id(tenant):
    phone = next(p for p, m in members(tenant).items() if m["role"] == "Member")
    member_id = members(tenant)[phone]["id"]
    promoted = run(
        KaizalaSetMemberRoleOperator(
            task_id="promote",
            kaizala_conn_id=conn_id(tenant),
            group_id=tenant.group_id,
            phone_number=phone,
            role="admin",
        )
    )
    assert promoted == {"groupId": tenant.group_id, "memberId": member_id, "role": "Admin"}
    assert members(tenant)[phone]["role"] == "Admin"
    op = KaizalaSetMemberRoleOperator(
        task_id="demote",
        kaizala_conn_id=conn_id(tenant),
        group_id=tenant.group_id,
        member_id=member_id,
        role="{{ params.role }}",
    )
    op.render_template_fields({"params": {"role": "Member"}})
    demoted = run(op)
    assert demoted == {"groupId": tenant.group_id, "memberId": member_id, "role": "Member"}
    assert members(tenant)[phone]["role"] == "Member"
    assert sum(m["role"] == "Admin" for m in members(tenant).values()) == 1


def test_set_member_role_of_non_member_raises_not_found(tenant):
    op = KaizalaSetMemberRoleOperator(
        task_id="promote",
        kaizala_conn_id=conn_id(tenant),
        group_id=tenant.group_id,
        phone_number=new_phone(),
        role="Admin",
    )
    with pytest.raises(KaizalaNotFoundError):
        op.execute(context={})
    assert not any(c["method"] == "PUT" for c in tenant.calls())


def test_set_member_role_templated_bad_role_fails_before_any_call(tenant):
    phone = next(p for p, m in members(tenant).items() if m["role"] == "Member")
    op = KaizalaSetMemberRoleOperator(
        task_id="promote",
        kaizala_conn_id=conn_id(tenant),
        group_id=tenant.group_id,
        phone_number=phone,
        role="{{ params.role }}",
    )
    op.render_template_fields({"params": {"role": "Owner"}})
    with pytest.raises(KaizalaValidationError, match=r"role='Owner'"):
        op.execute(context={})
    assert tenant.calls() == []
    assert members(tenant)[phone]["role"] == "Member"
