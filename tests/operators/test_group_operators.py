"""Group and sub-group operators against the emulator over HTTP, checked against the emulator's own state."""

from __future__ import annotations

import pytest

from airflow_provider_kaizala.exceptions import KaizalaNotFoundError, KaizalaValidationError
from airflow_provider_kaizala.operators.groups import (
    KaizalaAddSubGroupOperator,
    KaizalaCreateGroupOperator,
    KaizalaCreateSubGroupOperator,
    KaizalaGetGroupOperator,
    KaizalaListGroupsOperator,
    KaizalaListSubGroupsOperator,
    KaizalaRemoveSubGroupOperator,
)
from tests.conftest import Tenant
from tests.operators.conftest import conn_id, new_phone, run


def admin_group(tenant: Tenant, group_id: str) -> dict:
    return next(g for g in tenant.emulator.admin.groups() if g["groupId"] == group_id)


def visible_groups(tenant: Tenant) -> dict[str, dict]:
    """Ground truth: every group in which the tenant's connector phone is a member."""
    phone = tenant.connector["phone"]
    return {
        g["groupId"]: g
        for g in tenant.emulator.admin.groups()
        if any(m["mobileNumber"] == phone for m in tenant.emulator.admin.members(g["groupId"]))
    }


def test_create_group_with_members(tenant):
    members = [new_phone(), new_phone()]
    result = run(
        KaizalaCreateGroupOperator(
            task_id="create", kaizala_conn_id=conn_id(tenant), name="Night shift", welcome_message="Hi", members=members
        )
    )
    truth = admin_group(tenant, result["groupId"])
    assert truth["groupName"] == "Night shift"
    assert truth["groupType"] == "Group"
    assert result == {"groupId": truth["groupId"], "groupName": "Night shift", "membersAdded": True}
    roles = {m["mobileNumber"]: m["role"] for m in tenant.emulator.admin.members(result["groupId"])}
    assert roles == {tenant.connector["phone"]: "Admin", members[0]: "Member", members[1]: "Member"}


def test_create_public_group_from_templates(tenant):
    op = KaizalaCreateGroupOperator(
        task_id="create",
        kaizala_conn_id="{{ params.conn }}",
        name="Offers {{ ds }}",
        welcome_message="{{ params.welcome }}",
        group_type="{{ params.kind }}",
    )
    op.render_template_fields(
        {"ds": "2026-11-27", "params": {"conn": conn_id(tenant), "welcome": "Welcome!", "kind": "ConnectGroup"}}
    )
    result = run(op)
    truth = admin_group(tenant, result["groupId"])
    assert (truth["groupName"], truth["groupType"]) == ("Offers 2026-11-27", "ConnectGroup")
    assert result["groupName"] == "Offers 2026-11-27"


def test_create_group_rejects_more_than_100_members_before_any_call(tenant):
    op = KaizalaCreateGroupOperator(
        task_id="create",
        kaizala_conn_id=conn_id(tenant),
        name="Too big",
        welcome_message="Hi",
        members=[new_phone() for _ in range(101)],
    )
    before = len(tenant.emulator.admin.groups())
    with pytest.raises(KaizalaValidationError, match="members"):
        op.execute(context={})
    assert tenant.calls() == []
    assert len(tenant.emulator.admin.groups()) == before


def test_list_groups_counts_and_ids(tenant):
    truth = visible_groups(tenant)
    assert set(truth) == {tenant.group_id, tenant.public_group_id}
    result = run(KaizalaListGroupsOperator(task_id="list", kaizala_conn_id=conn_id(tenant)))
    assert result["count"] == 2
    assert sorted(result["groupIds"]) == sorted(truth)
    assert "groups" not in result


def test_list_groups_return_list_and_fetch_all(tenant):
    child = tenant.emulator.admin.create_group(
        name="Child", groupType="Group", admins=[tenant.connector["phone"]], parentId=tenant.group_id
    )
    truth = visible_groups(tenant)
    assert child in truth
    top = run(KaizalaListGroupsOperator(task_id="top", kaizala_conn_id=conn_id(tenant), return_list=True))
    # Without fetch_all_groups a sub-group whose parent is visible is not listed on its own.
    assert {g["groupId"] for g in top["groups"]} == {tenant.group_id, tenant.public_group_id}
    everything = run(
        KaizalaListGroupsOperator(
            task_id="all", kaizala_conn_id=conn_id(tenant), fetch_all_groups="true", show_details=True, return_list=True
        )
    )
    assert everything["count"] == 3
    assert sorted(everything["groups"], key=lambda g: g["groupId"]) == sorted(
        ({"groupId": g["groupId"], "groupName": g["groupName"], "groupType": g["groupType"]} for g in truth.values()),
        key=lambda g: g["groupId"],
    )


def test_a_name_filter_that_renders_empty_matches_no_group(tenant):
    op = KaizalaListGroupsOperator(task_id="list", kaizala_conn_id=conn_id(tenant), name="{{ params.name }}")
    op.render_template_fields({"params": {"name": ""}})
    assert run(op) == {"count": 0, "groupIds": []}


def test_list_groups_rejects_bad_return_list(tenant):
    op = KaizalaListGroupsOperator(task_id="list", kaizala_conn_id=conn_id(tenant), return_list="{{ params.x }}")
    op.render_template_fields({"params": {"x": "maybe"}})
    with pytest.raises(KaizalaValidationError, match="return_list='maybe'"):
        op.execute(context={})
    assert tenant.calls() == []


def test_get_group(tenant):
    result = run(
        KaizalaGetGroupOperator(task_id="get", kaizala_conn_id=conn_id(tenant), group_id=tenant.public_group_id)
    )
    truth = admin_group(tenant, tenant.public_group_id)
    assert (result["groupId"], result["groupName"], result["groupType"]) == (
        truth["groupId"],
        truth["groupName"],
        "ConnectGroup",
    )
    assert result["callerRole"] == "Admin"


def test_get_unknown_group_raises_not_found(tenant):
    op = KaizalaGetGroupOperator(task_id="get", kaizala_conn_id=conn_id(tenant), group_id="no-such-group@1")
    with pytest.raises(KaizalaNotFoundError):
        op.execute(context={})


def test_get_group_templated_bad_id_fails_before_any_call(tenant):
    op = KaizalaGetGroupOperator(task_id="get", kaizala_conn_id=conn_id(tenant), group_id="{{ params.group }}")
    op.render_template_fields({"params": {"group": "team a/b"}})
    with pytest.raises(KaizalaValidationError, match=r"group_id='team a/b'"):
        op.execute(context={})
    assert tenant.calls() == []


def test_create_subgroup_and_list_subgroups(tenant):
    member = new_phone()
    created = run(
        KaizalaCreateSubGroupOperator(
            task_id="sub",
            kaizala_conn_id=conn_id(tenant),
            group_id=tenant.group_id,
            name="North",
            welcome_message="Hi north",
            members=[member],
        )
    )
    truth = admin_group(tenant, created["groupId"])
    assert truth["parentIds"] == [tenant.group_id]
    assert truth["groupName"] == "North"
    assert created == {"groupId": truth["groupId"], "groupName": "North", "parentGroupId": tenant.group_id}
    roles = {m["mobileNumber"]: m["role"] for m in tenant.emulator.admin.members(created["groupId"])}
    assert roles == {tenant.connector["phone"]: "Admin", member: "Member"}

    grandchild = tenant.emulator.admin.create_group(
        name="North-East", groupType="Group", admins=[tenant.connector["phone"]], parentId=created["groupId"]
    )
    listed = run(KaizalaListSubGroupsOperator(task_id="ls", kaizala_conn_id=conn_id(tenant), group_id=tenant.group_id))
    assert listed == {"count": 1, "groupIds": admin_group(tenant, tenant.group_id)["subGroupIds"]}
    nested = run(
        KaizalaListSubGroupsOperator(
            task_id="ls_all",
            kaizala_conn_id=conn_id(tenant),
            group_id=tenant.group_id,
            fetch_all_groups=True,
            return_list="True",
        )
    )
    assert nested["count"] == 1
    [north] = nested["subGroups"]
    assert north["groupId"] == created["groupId"]
    assert [g["groupId"] for g in north["subGroups"]] == [grandchild]


def test_create_subgroup_without_caller(tenant):
    member = new_phone()
    created = run(
        KaizalaCreateSubGroupOperator(
            task_id="sub",
            kaizala_conn_id=conn_id(tenant),
            group_id=tenant.group_id,
            name="South",
            welcome_message="Hi south",
            members=[member],
            add_caller=False,
        )
    )
    assert [m["mobileNumber"] for m in tenant.emulator.admin.members(created["groupId"])] == [member]


def test_add_subgroup_is_safe_to_rerun(tenant):
    phone = tenant.connector["phone"]
    others = [tenant.emulator.admin.create_group(name=f"Other {i}", groupType="Group", admins=[phone]) for i in (1, 2)]
    op_args = {"kaizala_conn_id": conn_id(tenant), "group_id": tenant.group_id, "subgroup_ids": [*others, others[0]]}
    first = run(KaizalaAddSubGroupOperator(task_id="attach", **op_args))
    second = run(KaizalaAddSubGroupOperator(task_id="attach_again", **op_args))
    assert first == second == {"groupId": tenant.group_id, "attached": others}
    assert admin_group(tenant, tenant.group_id)["subGroupIds"] == others
    for other in others:
        assert admin_group(tenant, other)["parentIds"] == [tenant.group_id]


def test_add_subgroup_rejects_a_single_string_before_any_call(tenant):
    op = KaizalaAddSubGroupOperator(
        task_id="attach", kaizala_conn_id=conn_id(tenant), group_id=tenant.group_id, subgroup_ids="{{ params.ids }}"
    )
    op.render_template_fields({"params": {"ids": ["a@1", "b@1"]}})
    with pytest.raises(KaizalaValidationError, match="subgroup_ids"):
        op.execute(context={})
    assert tenant.calls() == []


def test_remove_subgroup_twice(tenant):
    other = tenant.emulator.admin.create_group(
        name="Other", groupType="Group", admins=[tenant.connector["phone"]], parentId=tenant.group_id
    )
    assert admin_group(tenant, tenant.group_id)["subGroupIds"] == [other]
    args = {"kaizala_conn_id": conn_id(tenant), "group_id": tenant.group_id, "subgroup_id": other}
    first = run(KaizalaRemoveSubGroupOperator(task_id="detach", **args))
    assert first == {"groupId": tenant.group_id, "subGroupId": other, "detached": True, "reason": None}
    assert admin_group(tenant, tenant.group_id)["subGroupIds"] == []
    assert admin_group(tenant, other)["parentIds"] == []
    second = run(KaizalaRemoveSubGroupOperator(task_id="detach_again", **args))
    assert second == {"groupId": tenant.group_id, "subGroupId": other, "detached": False, "reason": "NotASubGroup"}
    assert admin_group(tenant, tenant.group_id)["subGroupIds"] == []


def test_remove_subgroup_of_unknown_parent_still_fails(tenant):
    op = KaizalaRemoveSubGroupOperator(
        task_id="detach", kaizala_conn_id=conn_id(tenant), group_id="no-such-group@1", subgroup_id=tenant.group_id
    )
    with pytest.raises(KaizalaNotFoundError):
        op.execute(context={})
