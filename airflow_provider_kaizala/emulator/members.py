"""Members (M1-M4), served by FastAPI. Subscribers are not members.

Annotations are evaluated eagerly: FastAPI reads the dependencies declared inside :func:`router` from them.
"""

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path
from pydantic import Field, StrictStr
from starlette.responses import Response

from airflow_provider_kaizala.emulator.access import GroupAccess
from airflow_provider_kaizala.emulator.models import Answer, AnsweredPhone, Body, Result, any_case
from airflow_provider_kaizala.emulator.services import Services, answers, resource
from airflow_provider_kaizala.emulator.state import Group, Member, State, split_phones, user_id
from airflow_provider_kaizala.emulator.wire import json_response, not_found


class MembersToAdd(Body):
    """M2 body: the numbers to add (one that is not valid makes ``result`` false)."""

    members: Annotated[list[StrictStr], Field(min_length=1)]


class RoleChange(Body):
    """M4 body: the member's new role, in any case."""

    role: any_case("Admin", "Member")  # type: ignore[valid-type]


class MemberItem(Answer):
    """A member of an M1 answer (``id`` is what M3/M4 take)."""

    id: str
    role: Literal["Admin", "Member"]
    mobileNumber: AnsweredPhone
    isProvisioned: bool


class MemberList(Answer):
    """M1 answer: every member of the group (no paging)."""

    members: list[MemberItem]


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


MemberId = Annotated[str, Path(description="Member id (as listed by M1)")]


def router(services: Services) -> APIRouter:
    """M1-M4 bound to ``services``."""
    api = APIRouter()
    state = services.state

    access = GroupAccess(state)

    @api.get(
        "/v1/groups/{groupId}/members",
        openapi_extra=resource("groupmember.read"),
        response_model=MemberList,
        responses=answers(403, 404),
    )
    async def list_members(group: Annotated[Group, Depends(access.visible)]) -> Response:
        return json_response({"members": [member_json(state, m) for m in group.members.values()]})

    @api.put(
        "/v1/groups/{groupId}/members",
        openapi_extra=resource("groupmember.write"),
        response_model=Result,
        responses=answers(400, 403, 404),
        description="`result` is true only if every number was added.",
    )
    async def add_members(group: Annotated[Group, Depends(access.administered)], body: MembersToAdd) -> Response:
        phones, invalid = split_phones(body.members)
        for phone in phones:
            group.members.setdefault(phone, Member(phone, "Member"))
        return json_response({"result": not invalid})  # "true only if all were added"; already a member counts as added

    @api.delete(
        "/v1/groups/{groupId}/members/{memberId}",
        openapi_extra=resource("groupmember.remove"),
        response_model=Result,
        responses=answers(403, 404),
    )
    async def remove_member(group: Annotated[Group, Depends(access.administered)], memberId: MemberId) -> Response:
        member = find_member(group, memberId)
        del group.members[member.phone]
        return json_response({"result": True})

    @api.put(
        "/v1/groups/{groupId}/members/{memberId}",
        openapi_extra=resource("groupmember.write"),
        response_model=Result,
        responses=answers(400, 403, 404),
    )
    async def change_role(
        group: Annotated[Group, Depends(access.administered)], memberId: MemberId, body: RoleChange
    ) -> Response:
        member = find_member(group, memberId)
        member.role = body.role
        return json_response({"result": True})

    return api
