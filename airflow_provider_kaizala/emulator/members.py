"""Members (M1-M4). Subscribers are not members."""

from __future__ import annotations

from airflow_provider_kaizala.emulator.access import get_group, require_admin
from airflow_provider_kaizala.emulator.routing import Router
from airflow_provider_kaizala.emulator.state import Group, Member, State, user_id
from airflow_provider_kaizala.emulator.wire import Reply, Request, bad_request, not_found, parse_phone_batch

ROLES = {"admin": "Admin", "member": "Member"}


def member_json(state: State, member: Member) -> dict[str, object]:
    return {
        "id": user_id(member.phone),
        "role": member.role,
        "mobileNumber": member.phone,
        "isProvisioned": state.is_provisioned(member.phone),
    }


def find_member(group: Group, member_id: str) -> Member:
    for member in group.members.values():
        if user_id(member.phone) == member_id:
            return member
    raise not_found(f"Member {member_id} is not a member of group {group.group_id}")


def list_members(req: Request) -> Reply:
    group = get_group(req, req.params["groupId"])
    state = req.app.state
    return Reply({"members": [member_json(state, m) for m in group.members.values()]})


def add_members(req: Request) -> Reply:
    group = get_group(req, req.params["groupId"])
    require_admin(req, group)
    raw = req.json().get("members")
    if not isinstance(raw, list) or not raw:
        raise bad_request("Parameter members must be a non-empty array of phone numbers")
    phones, invalid = parse_phone_batch(raw, "members")
    for phone in phones:
        group.members.setdefault(phone, Member(phone, "Member"))
    return Reply({"result": not invalid})  # "true only if all were added"; already a member counts as added


def remove_member(req: Request) -> Reply:
    group = get_group(req, req.params["groupId"])
    require_admin(req, group)
    member = find_member(group, req.params["memberId"])
    del group.members[member.phone]
    return Reply({"result": True})


def change_role(req: Request) -> Reply:
    group = get_group(req, req.params["groupId"])
    require_admin(req, group)
    role = req.json().get("role")
    if not isinstance(role, str) or role.lower() not in ROLES:
        raise bad_request("Parameter role must be Admin or Member")
    member = find_member(group, req.params["memberId"])
    member.role = ROLES[role.lower()]
    return Reply({"result": True})


def register(router: Router) -> None:
    router.add("GET", "/v1/groups/{groupId}/members", list_members, permission="groupmember.read")
    router.add("PUT", "/v1/groups/{groupId}/members", add_members, permission="groupmember.write")
    router.add("DELETE", "/v1/groups/{groupId}/members/{memberId}", remove_member, permission="groupmember.remove")
    router.add("PUT", "/v1/groups/{groupId}/members/{memberId}", change_role, permission="groupmember.write")
