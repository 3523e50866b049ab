"""Operators for groups and sub-groups."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow_provider_kaizala.exceptions import KaizalaNotFoundError
from airflow_provider_kaizala.hooks.validation import GROUP_TYPES, validate_bool, validate_choice
from airflow_provider_kaizala.operators.base import KaizalaBaseOperator


def _compact_group(group: dict[str, Any]) -> dict[str, Any]:
    return {key: group.get(key) for key in ("groupId", "groupName", "groupType") if key in group}


class KaizalaCreateGroupOperator(KaizalaBaseOperator):
    """Create a group, or a public ``ConnectGroup`` that has subscribers.

    Creating a group is not repeated when the outcome is unknown (it would create two groups).

    :param name: group name (templated).
    :param welcome_message: shown to new members (templated).
    :param members: phone numbers to add at creation, at most 100 (templated).
    :param group_type: ``Group`` or ``ConnectGroup`` (templated).
    :return: ``{"groupId", "groupName", "membersAdded"}``.
    """

    template_fields: Sequence[str] = ("kaizala_conn_id", "name", "welcome_message", "members", "group_type")

    def __init__(
        self,
        *,
        name: str,
        welcome_message: str,
        members: list[str] | None = None,
        group_type: str = "Group",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.name = name
        self.welcome_message = welcome_message
        self.members = members
        self.group_type = group_type

    def execute(self, context: Any) -> dict[str, Any]:
        """Create the group."""
        result = self.hook.create_group(
            self.name, self.welcome_message, members=self.members, group_type=self.group_type
        )
        self.log.info("Created Kaizala group %s (%s).", result.get("groupName"), result.get("groupId"))
        return {
            "groupId": result.get("groupId"),
            "groupName": result.get("groupName"),
            "membersAdded": result.get("membersAdded"),
        }


class KaizalaListGroupsOperator(KaizalaBaseOperator):
    """List the groups the connector can see.

    :param show_details: ask for the detail fields (templated).
    :param fetch_all_groups: include parent groups and sub-groups (templated).
    :param name: keep only groups with exactly this name (templated).
    :param group_type: keep only ``Group`` or ``ConnectGroup`` groups (templated).
    :param return_list: return every group's id, name and type rather than counts and ids (templated).
    :return: ``{"count", "groupIds"}``, or ``{"count", "groups": [...]}`` with ``return_list``.
    """

    template_fields: Sequence[str] = (
        "kaizala_conn_id",
        "show_details",
        "fetch_all_groups",
        "name",
        "group_type",
        "return_list",
    )

    def __init__(
        self,
        *,
        show_details: bool = False,
        fetch_all_groups: bool = False,
        name: str | None = None,
        group_type: str | None = None,
        return_list: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.show_details = show_details
        self.fetch_all_groups = fetch_all_groups
        self.name = name
        self.group_type = group_type
        self.return_list = return_list

    def execute(self, context: Any) -> dict[str, Any]:
        """List the groups."""
        return_list = validate_bool(self.return_list, "return_list")
        group_type = validate_choice(self.group_type, "group_type", GROUP_TYPES) if self.group_type else None
        groups = self.hook.list_groups(show_details=self.show_details, fetch_all_groups=self.fetch_all_groups)
        self.log.info("The connector sees %d Kaizala group(s).", len(groups))
        if self.name is not None:
            groups = [g for g in groups if g.get("groupName") == self.name]
        if group_type is not None:
            groups = [g for g in groups if g.get("groupType", "Group") == group_type]
        if return_list:
            return {"count": len(groups), "groups": [_compact_group(g) for g in groups]}
        return {"count": len(groups), "groupIds": [g.get("groupId") for g in groups]}


class KaizalaGetGroupOperator(KaizalaBaseOperator):
    """Get one group's details.

    :param group_id: the group (templated).
    :return: the group object as the API returns it.
    """

    template_fields: Sequence[str] = ("kaizala_conn_id", "group_id")

    def __init__(self, *, group_id: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.group_id = group_id

    def execute(self, context: Any) -> dict[str, Any]:
        """Fetch the group."""
        return self.hook.get_group(self.group_id)


class KaizalaListSubGroupsOperator(KaizalaBaseOperator):
    """List a group's sub-groups.

    :param group_id: the parent group (templated).
    :param fetch_all_groups: all levels, nested under ``subGroups`` (templated).
    :param return_list: return the sub-groups themselves rather than counts and ids (templated).
    :return: ``{"count", "groupIds"}`` (direct sub-groups), or ``{"count", "subGroups": [...]}``.
    """

    template_fields: Sequence[str] = ("kaizala_conn_id", "group_id", "fetch_all_groups", "return_list")

    def __init__(
        self, *, group_id: str, fetch_all_groups: bool = False, return_list: bool = False, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.group_id = group_id
        self.fetch_all_groups = fetch_all_groups
        self.return_list = return_list

    def execute(self, context: Any) -> dict[str, Any]:
        """List the sub-groups."""
        return_list = validate_bool(self.return_list, "return_list")
        subgroups = self.hook.list_subgroups(self.group_id, fetch_all_groups=self.fetch_all_groups)
        if return_list:
            return {"count": len(subgroups), "subGroups": subgroups}
        return {"count": len(subgroups), "groupIds": [g.get("groupId") for g in subgroups]}


class KaizalaCreateSubGroupOperator(KaizalaBaseOperator):
    """Create a sub-group under a group. Not repeated when the outcome is unknown.

    :param group_id: the parent group (templated).
    :param name: sub-group name (templated).
    :param welcome_message: shown to new members (templated).
    :param members: phone numbers to add, at most 100 (templated).
    :param add_caller: also add the token's user to the sub-group (templated).
    :return: ``{"groupId", "groupName", "parentGroupId"}``.
    """

    template_fields: Sequence[str] = (
        "kaizala_conn_id",
        "group_id",
        "name",
        "welcome_message",
        "members",
        "add_caller",
    )

    def __init__(
        self,
        *,
        group_id: str,
        name: str,
        welcome_message: str | None = None,
        members: list[str] | None = None,
        add_caller: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.group_id = group_id
        self.name = name
        self.welcome_message = welcome_message
        self.members = members
        self.add_caller = add_caller

    def execute(self, context: Any) -> dict[str, Any]:
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

    template_fields: Sequence[str] = ("kaizala_conn_id", "group_id", "subgroup_ids")

    def __init__(self, *, group_id: str, subgroup_ids: list[str], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.group_id = group_id
        self.subgroup_ids = subgroup_ids

    def execute(self, context: Any) -> dict[str, Any]:
        """Attach the sub-groups."""
        from airflow_provider_kaizala.hooks.validation import validate_ids

        ids = validate_ids(self.subgroup_ids, "subgroup_ids")
        self.hook.add_subgroup(self.group_id, ids)
        return {"groupId": self.group_id, "attached": ids}


class KaizalaRemoveSubGroupOperator(KaizalaBaseOperator):
    """Detach a sub-group from a group (safe to re-run).

    :param group_id: the parent group (templated).
    :param subgroup_id: the sub-group to detach (templated).
    :return: ``{"groupId", "subGroupId", "detached": bool, "reason"}``; ``detached`` is false with reason
        ``NotASubGroup`` when it is not (or no longer) a sub-group of ``group_id``.
    """

    template_fields: Sequence[str] = ("kaizala_conn_id", "group_id", "subgroup_id")

    def __init__(self, *, group_id: str, subgroup_id: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.group_id = group_id
        self.subgroup_id = subgroup_id

    def execute(self, context: Any) -> dict[str, Any]:
        """Detach the sub-group."""
        try:
            self.hook.remove_subgroup(self.group_id, self.subgroup_id)
        except KaizalaNotFoundError:
            current = {g.get("groupId") for g in self.hook.list_subgroups(self.group_id)}
            if self.subgroup_id in current:
                raise
            return {
                "groupId": self.group_id,
                "subGroupId": self.subgroup_id,
                "detached": False,
                "reason": "NotASubGroup",
            }
        return {"groupId": self.group_id, "subGroupId": self.subgroup_id, "detached": True, "reason": None}
