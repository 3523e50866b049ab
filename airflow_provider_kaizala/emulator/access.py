"""Who may see and change which group (shared by every resource module), and the FastAPI dependencies that look the
path's group up for a route (:class:`GroupAccess`).

Annotations are evaluated eagerly: FastAPI reads the dependencies' parameters from them.
"""

from typing import Annotated

from fastapi import Path

from airflow_provider_kaizala.emulator.services import Caller
from airflow_provider_kaizala.emulator.state import Connector, Group, State, split_phones
from airflow_provider_kaizala.emulator.wire import bad_request, forbidden, not_found

#: The ``{groupId}`` path parameter of the group routes.
GroupId = Annotated[str, Path(description="Group id (`<guid>@1`)")]


def effective_role(state: State, conn: Connector, group_id: str) -> str | None:
    """``Admin``/``Member`` for the token's user in ``group_id``, or ``None`` when the group is not visible.

    A group token acts as Admin of its group and every group below it. A user token sees the groups the user
    is a member of and everything below them; an Admin of an ancestor is Admin below it too.
    """
    if conn.group_id is not None:
        if group_id == conn.group_id or conn.group_id in state.ancestors(group_id):
            return "Admin"
        return None
    group = state.groups[group_id]
    member = group.members.get(conn.phone)
    role = member.role if member else None
    if role == "Admin":
        return role
    for gid in state.ancestors(group_id):
        above = state.groups[gid].members.get(conn.phone)
        if above is not None:
            if above.role == "Admin":
                return "Admin"
            role = role or "Viewer"
    return role


def caller_role(state: State, conn: Connector, group_id: str) -> str:
    """The role shown as ``callerRole``: ``Admin``, ``Member`` or ``""`` (visible through a parent only)."""
    role = effective_role(state, conn, group_id)
    return role if role in ("Admin", "Member") else ""


def existing_group(state: State, group_id: str) -> Group:
    """The group, or 404 if it does not exist."""
    group = state.groups.get(group_id)
    if group is None:
        raise not_found(f"Group {group_id} not found")
    return group


def visible_group(state: State, conn: Connector, group_id: str) -> Group:
    """The group, or 404 if it does not exist, or 403 if the connector's user cannot see it."""
    group = existing_group(state, group_id)
    if effective_role(state, conn, group_id) is None:
        raise forbidden(f"Caller is not a member of group {group_id}")
    return group


def check_admin(state: State, conn: Connector, group: Group) -> None:
    """403 unless the connector's user is an admin of ``group``."""
    if effective_role(state, conn, group.group_id) != "Admin":
        raise forbidden(f"Caller is not an admin of group {group.group_id}")


def check_member(state: State, conn: Connector, group: Group) -> None:
    """403 unless the connector's user is a member (or admin) of ``group``."""
    if effective_role(state, conn, group.group_id) not in ("Admin", "Member"):
        raise forbidden(f"Caller is not a member of group {group.group_id}")


def member_group(state: State, conn: Connector, group_id: str) -> Group:
    """The group, which the connector's user must be a member (or an admin) of: 404, then 403."""
    group = visible_group(state, conn, group_id)
    check_member(state, conn, group)
    return group


def audience(
    state: State, conn: Connector, group: Group, send_to_all: bool, subscribers: list[str]
) -> tuple[list[str], list[str]]:
    """Whom a message or an action goes to beyond the group's members (MS1, AC1): the valid and the not valid
    numbers of ``subscribers``. Both ``sendToAllSubscribers`` and ``subscribers`` need a public group (400), and
    ``sendToAllSubscribers`` needs an admin (403)."""
    targets, invalid = split_phones(subscribers)
    if (send_to_all or targets or invalid) and not group.is_public:
        raise bad_request("sendToAllSubscribers and subscribers are only allowed on public groups (ConnectGroup)")
    if send_to_all:
        check_admin(state, conn, group)
    return targets, invalid


def visible_group_ids(state: State, conn: Connector) -> list[str]:
    """Every group the token can see, in creation order."""
    if conn.group_id is not None:
        if conn.group_id not in state.groups:
            return []
        seen = {conn.group_id, *state.descendants(conn.group_id)}
    else:
        seen = set()
        for gid, group in state.groups.items():
            if conn.phone in group.members and gid not in seen:
                seen.add(gid)
                seen.update(state.descendants(gid))
    return [gid for gid in state.groups if gid in seen]


class GroupAccess:
    """The group of a ``/v1/groups/{groupId}/...`` route as FastAPI dependencies, bound to the state: declare a
    handler parameter ``group: Annotated[Group, Depends(access.visible)]`` (or ``member``, ``administered``).

    Dependencies run before the body is validated: an unknown group is a 404 and a group the caller may not see,
    or act on in that role, a 403, whatever the body.
    """

    def __init__(self, state: State) -> None:
        self.state = state

    async def visible(self, groupId: GroupId, conn: Caller) -> Group:
        """The path's group: 404 if it does not exist, 403 if the caller cannot see it."""
        return visible_group(self.state, conn, groupId)

    async def member(self, groupId: GroupId, conn: Caller) -> Group:
        """The path's group, which the caller must also be a member (or an admin) of (403)."""
        return member_group(self.state, conn, groupId)

    async def administered(self, groupId: GroupId, conn: Caller) -> Group:
        """The path's group, which the caller must also be an admin of (403)."""
        group = visible_group(self.state, conn, groupId)
        check_admin(self.state, conn, group)
        return group
