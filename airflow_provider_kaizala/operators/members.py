"""Operators for group members."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow_provider_kaizala.exceptions import KaizalaNotFoundError, KaizalaValidationError
from airflow_provider_kaizala.hooks.validation import validate_bool, validate_id, validate_phone_number
from airflow_provider_kaizala.operators.base import KaizalaBaseOperator
from airflow_provider_kaizala.storage import write_json_lines


class KaizalaListMembersOperator(KaizalaBaseOperator):
    """List a group's members (the API returns them all at once).

    :param group_id: the group (templated).
    :param return_list: return every member (id, phone, role, provisioned) in XCom (templated).
    :param output_path: write the members as JSON Lines to this path or ``ObjectStoragePath`` (templated).
    :return: ``{"groupId", "count", "admins", "unprovisioned", "memberIds"}``; ``members`` with
        ``return_list``; ``path`` with ``output_path``.
    """

    template_fields: Sequence[str] = ("kaizala_conn_id", "group_id", "return_list", "output_path")

    def __init__(self, *, group_id: str, return_list: bool = False, output_path: Any = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.group_id = group_id
        self.return_list = return_list
        self.output_path = output_path

    def execute(self, context: Any) -> dict[str, Any]:
        """List the members."""
        return_list = validate_bool(self.return_list, "return_list")
        members = self.hook.list_members(self.group_id)
        result: dict[str, Any] = {
            "groupId": self.group_id,
            "count": len(members),
            "admins": sum(1 for m in members if m.get("role") == "Admin"),
            "unprovisioned": sum(1 for m in members if not m.get("isProvisioned", True)),
        }
        if self.output_path:
            result["path"], _ = write_json_lines(self.output_path, members)
        if return_list:
            result["members"] = members
        else:
            result["memberIds"] = [m.get("id") for m in members]
        return result


class KaizalaAddMembersOperator(KaizalaBaseOperator):
    """Add members to a group, in batches the API accepts; safe to re-run (existing members are fine).

    :param group_id: the group (templated).
    :param phone_numbers: E.164 phone numbers (templated).
    :return: ``{"groupId", "requested", "allAdded", "notAdded": [numbers]}``; ``notAdded`` is checked
        against the member list only when the API says not every number was added.
    """

    template_fields: Sequence[str] = ("kaizala_conn_id", "group_id", "phone_numbers")

    def __init__(self, *, group_id: str, phone_numbers: list[str], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.group_id = group_id
        self.phone_numbers = phone_numbers

    def execute(self, context: Any) -> dict[str, Any]:
        """Add the members."""
        from airflow_provider_kaizala.hooks.validation import validate_phone_numbers

        numbers = validate_phone_numbers(self.phone_numbers, "phone_numbers")
        all_added = self.hook.add_members(self.group_id, numbers)
        not_added: list[str] = []
        if not all_added:
            present = {m.get("mobileNumber") for m in self.hook.list_members(self.group_id)}
            not_added = [n for n in numbers if n not in present]
            self.log.warning("%d of %d number(s) were not added.", len(not_added), len(numbers))
        return {"groupId": self.group_id, "requested": len(numbers), "allAdded": not not_added, "notAdded": not_added}


class _MemberTargetMixin:
    """Resolves a member given by id or by phone number."""

    group_id: str
    member_id: str | None
    phone_number: str | None

    def _validated_target(self) -> tuple[str | None, str | None]:
        if (self.member_id is None) == (self.phone_number is None):
            raise KaizalaValidationError("Invalid member: pass exactly one of member_id or phone_number.")
        if self.member_id is not None:
            return validate_id(self.member_id, "member_id"), None
        return None, validate_phone_number(self.phone_number, "phone_number")

    @staticmethod
    def _find(members: list[dict[str, Any]], member_id: str | None, phone: str | None) -> dict[str, Any] | None:
        for member in members:
            if (member_id and member.get("id") == member_id) or (phone and member.get("mobileNumber") == phone):
                return member
        return None


class KaizalaRemoveMemberOperator(_MemberTargetMixin, KaizalaBaseOperator):
    """Remove a member from a group, by member id or phone number; safe to re-run.

    :param group_id: the group (templated).
    :param member_id: the member's user id (templated); or
    :param phone_number: the member's phone number (templated).
    :return: ``{"groupId", "memberId", "removed": bool, "reason"}``; ``removed`` is false with reason
        ``NotAMember`` when the person is not (or no longer) a member.
    """

    template_fields: Sequence[str] = ("kaizala_conn_id", "group_id", "member_id", "phone_number")

    def __init__(
        self, *, group_id: str, member_id: str | None = None, phone_number: str | None = None, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.group_id = group_id
        self.member_id = member_id
        self.phone_number = phone_number

    def execute(self, context: Any) -> dict[str, Any]:
        """Remove the member."""
        member_id, phone = self._validated_target()
        validate_id(self.group_id, "group_id")
        if member_id is None:
            member = self._find(self.hook.list_members(self.group_id), None, phone)
            if member is None:
                return {"groupId": self.group_id, "memberId": None, "removed": False, "reason": "NotAMember"}
            member_id = str(member["id"])
        try:
            self.hook.remove_member(self.group_id, member_id)
        except KaizalaNotFoundError:
            if self._find(self.hook.list_members(self.group_id), member_id, None) is not None:
                raise
            return {"groupId": self.group_id, "memberId": member_id, "removed": False, "reason": "NotAMember"}
        return {"groupId": self.group_id, "memberId": member_id, "removed": True, "reason": None}


class KaizalaSetMemberRoleOperator(_MemberTargetMixin, KaizalaBaseOperator):
    """Make a member an ``Admin`` or a plain ``Member`` (by member id or phone number).

    :param group_id: the group (templated).
    :param role: ``Admin`` or ``Member`` (templated).
    :param member_id: the member's user id (templated); or
    :param phone_number: the member's phone number (templated).
    :return: ``{"groupId", "memberId", "role"}``.
    """

    template_fields: Sequence[str] = ("kaizala_conn_id", "group_id", "role", "member_id", "phone_number")

    def __init__(
        self,
        *,
        group_id: str,
        role: str,
        member_id: str | None = None,
        phone_number: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.group_id = group_id
        self.role = role
        self.member_id = member_id
        self.phone_number = phone_number

    def execute(self, context: Any) -> dict[str, Any]:
        """Change the role."""
        from airflow_provider_kaizala.hooks.validation import ROLES, validate_choice

        member_id, phone = self._validated_target()
        role = validate_choice(self.role, "role", ROLES)
        validate_id(self.group_id, "group_id")
        if member_id is None:
            member = self._find(self.hook.list_members(self.group_id), None, phone)
            if member is None:
                raise KaizalaNotFoundError(f"{phone} is not a member of group {self.group_id}.")
            member_id = str(member["id"])
        self.hook.set_member_role(self.group_id, member_id, role)
        return {"groupId": self.group_id, "memberId": member_id, "role": role}
