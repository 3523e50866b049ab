"""Who may see and change which group (shared by every resource module)."""

from __future__ import annotations

from airflow_provider_kaizala.emulator.state import Connector, Group, State
from airflow_provider_kaizala.emulator.wire import forbidden, not_found


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


def visible_group(state: State, conn: Connector, group_id: str) -> Group:
    """The group, or 404 if it does not exist, or 403 if the connector's user cannot see it."""
    group = state.groups.get(group_id)
    if group is None:
        raise not_found(f"Group {group_id} not found")
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
