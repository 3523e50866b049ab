"""Groups (G1-G3) and sub-groups (SG1-SG4)."""

from __future__ import annotations

from typing import Any

from airflow_provider_kaizala.emulator.access import (
    caller_role,
    get_group,
    require_admin,
    visible_group_ids,
)
from airflow_provider_kaizala.emulator.routing import Router
from airflow_provider_kaizala.emulator.state import GROUP_TYPES, Connector, Group, State
from airflow_provider_kaizala.emulator.wire import (
    Reply,
    Request,
    bad_request,
    not_found,
    parse_bool,
    parse_phone_batch,
    require_str,
)

MAX_MEMBERS_AT_CREATION = 100


def parse_group_type(value: Any) -> str:
    if value is None:
        return "Group"
    if not isinstance(value, str) or value.lower() not in GROUP_TYPES:
        raise bad_request("Parameter groupType must be Group or ConnectGroup")
    return GROUP_TYPES[value.lower()]


def group_summary(state: State, group: Group) -> dict[str, Any]:
    """The fields every group listing carries."""
    return {
        "groupId": group.group_id,
        "groupName": group.name,
        "groupImageUrl": group.image_url,
        "groupType": group.group_type,
        "hasSubGroups": bool(group.children),
        "hasParentGroups": bool(group.parents),
        "isMappedToTenant": bool(group.tenant_id),
        "userCount": len(state.hierarchy_users(group.group_id)),
        "currentLevelUserCount": len(group.members),
    }


def group_detail(state: State, conn: Connector, group: Group) -> dict[str, Any]:
    """Summary plus the detail-only fields (``showDetail=true`` and ``GET /groups/{id}``)."""
    out = group_summary(state, group)
    users = state.hierarchy_users(group.group_id)
    role = caller_role(state, conn, group.group_id)
    out.update(
        {
            "callerRole": role,
            "currentLevelSubGroupCount": len(group.children),
            "currentLevelParentGroupCount": len(group.parents),
            "uniqueUserCount": len(users),
            "currentLevelUnProvisionedUserCount": sum(1 for p in group.members if not state.is_provisioned(p)),
            "unProvisionedUserCount": sum(1 for p in users if not state.is_provisioned(p)),
            "isDuplicate": False,
            "isEditable": role == "Admin",
            "isDetailsReadable": True,
            "welcomeMessage": group.welcome_message,
        }
    )
    return out


def subgroup_item(state: State, group: Group, recurse: bool) -> dict[str, Any]:
    """A sub-group entry with the [S] fields; nested ``subGroups`` when ``recurse``."""
    item = {
        "groupId": group.group_id,
        "groupName": group.name,
        "groupImageUrl": group.image_url,
        "hasSubGroups": bool(group.children),
        "hasParentGroups": bool(group.parents),
        "isMappedToTenant": bool(group.tenant_id),
        "groupType": group.group_type,
        "isDuplicate": False,
        "welcomeMessage": group.welcome_message,
    }
    if recurse:
        item["subGroups"] = [subgroup_item(state, state.groups[c], True) for c in group.children]
    return item


def _new_group(
    req: Request, body: dict[str, Any], name: str, parent: Group | None, add_caller: bool = True
) -> tuple[Group, bool]:
    """The new group and whether every number of ``members`` was added (invalid numbers are left out)."""
    state = req.app.state
    conn = req.connector
    assert conn is not None
    welcome = require_str(body, "welcomemessage", "welcomeMessage", allow_empty=True)
    raw_members = body.get("members")
    if isinstance(raw_members, list) and len(raw_members) > MAX_MEMBERS_AT_CREATION:
        raise bad_request(f"At most {MAX_MEMBERS_AT_CREATION} members can be added when creating a group")
    members, invalid = parse_phone_batch(raw_members, "members")
    group_type = parse_group_type(body.get("grouptype"))
    image = body.get("groupimageurl") or ""
    admins = [conn.phone] if add_caller else []
    group = state.create_group(
        name=name,
        group_type=group_type,
        welcome_message=welcome,
        members=members,
        admins=admins,
        parent_id=parent.group_id if parent else None,
        tenant_id=conn.tenant_id,
        image_url=image if isinstance(image, str) else "",
    )
    return group, not invalid


# -- G1-G3 ------------------------------------------------------------------------------------------
def create_group(req: Request) -> Reply:
    body = req.json()
    name = require_str(body, "name", "name")
    conn = req.connector
    assert conn is not None
    parent = get_group(req, conn.group_id) if conn.group_id else None
    group, all_added = _new_group(req, body, name, parent)
    return Reply({"groupName": group.name, "groupId": group.group_id, "membersAdded": all_added})


def list_groups(req: Request) -> Reply:
    q = req.query
    show = parse_bool(q.get("showdetail", q.get("showdetails")), "showDetail")
    fetch_all = parse_bool(q.get("fetchallgroups"), "fetchAllGroups")
    state = req.app.state
    conn = req.connector
    assert conn is not None
    ids = visible_group_ids(state, conn)
    if not fetch_all:
        visible = set(ids)
        ids = [gid for gid in ids if not any(p in visible for p in state.groups[gid].parents)]
    render = (lambda g: group_detail(state, conn, g)) if show else (lambda g: group_summary(state, g))
    return Reply({"groups": [render(state.groups[gid]) for gid in ids]})


def get_one_group(req: Request) -> Reply:
    group = get_group(req, req.params["groupId"])
    assert req.connector is not None
    return Reply({"groups": [group_detail(req.app.state, req.connector, group)]})


# -- SG1-SG4 ----------------------------------------------------------------------------------------
def list_subgroups(req: Request) -> Reply:
    group = get_group(req, req.params["groupId"])
    fetch_all = parse_bool(req.query.get("fetchallgroups"), "fetchAllGroups")
    state = req.app.state
    top = subgroup_item(state, group, False)
    top["subGroups"] = [subgroup_item(state, state.groups[c], fetch_all) for c in group.children]
    return Reply({"groups": [top]})


def create_subgroup(req: Request) -> Reply:
    parent = get_group(req, req.params["groupId"])
    require_admin(req, parent)
    body = req.json()
    name = body.get("groupname", body.get("name"))
    if not isinstance(name, str) or not name.strip():
        raise bad_request("Parameter groupName is required and must be a string")
    add_caller = parse_bool(body.get("addusertogroup"), "addUserToGroup", default=True)
    group, _all_added = _new_group(req, body, name, parent, add_caller)  # SG2 documents no per-number outcome
    return Reply({"groupId": group.group_id, "groupName": group.name})


def attach_subgroups(req: Request) -> Reply:
    parent = get_group(req, req.params["groupId"])
    require_admin(req, parent)
    ids = req.json().get("subgroups")
    if not isinstance(ids, list) or not ids or not all(isinstance(i, str) for i in ids):
        raise bad_request("Parameter subGroups must be a non-empty array of group ids")
    state = req.app.state
    above = state.ancestors(parent.group_id) | {parent.group_id}
    for gid in ids:
        child = get_group(req, gid)
        if gid in above:
            raise bad_request(f"Group {gid} cannot be a sub-group of {parent.group_id} (cycle)")
        require_admin(req, child)
    for gid in ids:
        state.attach(parent.group_id, gid)
    return Reply({"result": True})


def detach_subgroup(req: Request) -> Reply:
    parent = get_group(req, req.params["groupId"])
    require_admin(req, parent)
    sub_id = req.params["subGroupId"]
    if sub_id not in parent.children:
        raise not_found(f"Group {sub_id} is not a sub-group of {parent.group_id}")
    req.app.state.detach(parent.group_id, sub_id)
    return Reply({"result": True})


def register(router: Router) -> None:
    router.add("POST", "/v1/groups", create_group, permission="groupinfo.write")
    router.add("GET", "/v1/groups", list_groups, permission="groupinfo.read")
    router.add("GET", "/v1/groups/{groupId}", get_one_group, permission="groupinfo.read")
    router.add("GET", "/v1/groups/{groupId}/subGroups", list_subgroups, permission="groupinfo.read")
    router.add("POST", "/v1/groups/{groupId}/subGroups", create_subgroup, permission="groupinfo.write")
    router.add("PUT", "/v1/groups/{groupId}/subGroups", attach_subgroups, permission="groupinfo.write")
    router.add("DELETE", "/v1/groups/{groupId}/subGroups/{subGroupId}", detach_subgroup, permission="groupinfo.remove")
