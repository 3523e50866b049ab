"""Operators for groups and sub-groups."""

from __future__ import annotations

from typing import Any

from airflow_provider_kaizala.exceptions import KaizalaNotFoundError
from airflow_provider_kaizala.operators.base import KaizalaBaseOperator, KaizalaListOperator, outcome


def _compact_group(group: dict[str, Any]) -> dict[str, Any]:
    return {key: group.get(key) for key in ("groupId", "groupName", "groupType") if key in group}


def _group_id(group: dict[str, Any]) -> Any:
    return group.get("groupId")


class KaizalaCreateGroupOperator(KaizalaBaseOperator):
    """Create a group, or a public ``ConnectGroup`` that has subscribers.

    Creating a group is not repeated when the outcome is unknown (it would create two groups).

    :param name: group name (templated).
    :param welcome_message: shown to new members (templated).
    :param members: phone numbers to add at creation, at most 100 (templated).
    :param group_type: ``Group`` or ``ConnectGroup`` (templated).
    :return: ``{"groupId", "groupName", "membersAdded"}``.
    """

    name: str
    welcome_message: str
    members: list[str] | None = None
    group_type: str = "Group"

    def call(self, context: Any) -> dict[str, Any]:
        """Create the group."""
        result = self.hook.create_group(
            self.name, self.welcome_message, members=self.members, group_type=self.group_type
        )
        self.log.info("Created Kaizala group %s (%s).", result.get("groupName"), result.get("groupId"))
        return {key: result.get(key) for key in ("groupId", "groupName", "membersAdded")}


class KaizalaListGroupsOperator(KaizalaListOperator):
    """List the groups the connector can see.

    :param show_details: ask for the detail fields (templated).
    :param fetch_all_groups: include parent groups and sub-groups (templated).
    :param name: keep only groups with exactly this name (templated).
    :param group_type: keep only ``Group`` or ``ConnectGroup`` groups (templated).
    :return: ``{"count", "groupIds"}``, or ``{"count", "groups": [{"groupId", "groupName", "groupType"}]}``
        with ``return_list`` (``path`` with ``output_path``).
    """

    show_details: bool = False
    fetch_all_groups: bool = False
    name: str | None = None
    group_type: str | None = None

    def call(self, context: Any) -> dict[str, Any]:
        """List the groups."""
        from airflow_provider_kaizala.hooks.validation import GROUP_TYPES, validate_choice

        group_type = validate_choice(self.group_type, "group_type", GROUP_TYPES) if self.group_type else None
        groups = self.hook.list_groups(show_details=self.show_details, fetch_all_groups=self.fetch_all_groups)
        self.log.info("The connector sees %d Kaizala group(s).", len(groups))
        kept = [
            g
            for g in groups
            if self.name in (None, g.get("groupName")) and group_type in (None, g.get("groupType", "Group"))
        ]
        return self.listing(kept, "groups", "groupIds", _group_id, shape=_compact_group)


class KaizalaGetGroupOperator(KaizalaBaseOperator):
    """Get one group's details.

    :param group_id: the group (templated).
    :return: the group object as the API returns it.
    """

    group_id: str

    def call(self, context: Any) -> dict[str, Any]:
        """Fetch the group."""
        return self.hook.get_group(self.group_id)


class KaizalaListSubGroupsOperator(KaizalaListOperator):
    """List a group's sub-groups.

    :param group_id: the parent group (templated).
    :param fetch_all_groups: all levels, nested under ``subGroups`` (templated).
    :return: ``{"count", "groupIds"}`` (direct sub-groups), or ``{"count", "subGroups": [...]}`` with
        ``return_list`` (``path`` with ``output_path``).
    """

    group_id: str
    fetch_all_groups: bool = False

    def call(self, context: Any) -> dict[str, Any]:
        """List the sub-groups."""
        subgroups = self.hook.list_subgroups(self.group_id, fetch_all_groups=self.fetch_all_groups)
        return self.listing(subgroups, "subGroups", "groupIds", _group_id)


class KaizalaCreateSubGroupOperator(KaizalaBaseOperator):
    """Create a sub-group under a group. Not repeated when the outcome is unknown.

    :param group_id: the parent group (templated).
    :param name: sub-group name (templated).
    :param welcome_message: shown to new members (templated).
    :param members: phone numbers to add, at most 100 (templated).
    :param add_caller: also add the token's user to the sub-group (templated).
    :return: ``{"groupId", "groupName", "parentGroupId"}``.
    """

    group_id: str
    name: str
    welcome_message: str | None = None
    members: list[str] | None = None
    add_caller: bool = True

    def call(self, context: Any) -> dict[str, Any]:
        """Create the sub-group."""
        result = self.hook.create_subgroup(
            self.group_id,
            self.name,
            welcome_message=self.welcome_message,
            members=self.members,
            add_caller=self.add_caller,
        )
        return {"groupId": result.get("groupId"), "groupName": result.get("groupName"), "parentGroupId": self.group_id}


class KaizalaAddSubGroupOperator(KaizalaBaseOperator):
    """Attach existing groups as sub-groups of a group (safe to re-run).

    :param group_id: the parent group (templated).
    :param subgroup_ids: the groups to attach (templated).
    :return: ``{"groupId", "attached": [ids]}``.
    """

    group_id: str
    subgroup_ids: list[str]

    def call(self, context: Any) -> dict[str, Any]:
        """Attach the sub-groups."""
        self.hook.add_subgroup(self.group_id, self.subgroup_ids)
        return {"groupId": self.group_id, "attached": list(dict.fromkeys(self.subgroup_ids))}


class KaizalaRemoveSubGroupOperator(KaizalaBaseOperator):
    """Detach a sub-group from a group (safe to re-run).

    :param group_id: the parent group (templated).
    :param subgroup_id: the sub-group to detach (templated).
    :return: ``{"groupId", "subGroupId", "detached": bool, "reason"}``; ``detached`` is false with reason
        ``NotASubGroup`` when it is not (or no longer) a sub-group of ``group_id``.
    """

    group_id: str
    subgroup_id: str

    def call(self, context: Any) -> dict[str, Any]:
        """Detach the sub-group."""
        result = {"groupId": self.group_id, "subGroupId": self.subgroup_id}
        try:
            self.hook.remove_subgroup(self.group_id, self.subgroup_id)
        except KaizalaNotFoundError:
            if self.subgroup_id in {g.get("groupId") for g in self.hook.list_subgroups(self.group_id)}:
                raise
            return {**result, **outcome("detached", "NotASubGroup")}
        return {**result, **outcome("detached")}
