"""Operators for group members."""

from __future__ import annotations

from typing import Any

from airflow_provider_kaizala.exceptions import KaizalaNotFoundError, KaizalaValidationError
from airflow_provider_kaizala.operators.base import KaizalaBaseOperator, KaizalaListOperator, outcome


class KaizalaListMembersOperator(KaizalaListOperator):
    """List a group's members (the API returns them all at once).

    :param group_id: the group (templated).
    :return: ``{"groupId", "count", "admins", "unprovisioned", "memberIds"}``; ``members`` (id, phone, role,
        provisioned) instead of ``memberIds`` with ``return_list``; ``path`` with ``output_path``.
    """

    group_id: str

    def call(self, context: Any) -> dict[str, Any]:
        """List the members."""
        members = self.hook.list_members(self.group_id)
        return {
            "groupId": self.group_id,
            "admins": sum(1 for m in members if m.get("role") == "Admin"),
            "unprovisioned": sum(1 for m in members if not m.get("isProvisioned", True)),
            **self.listing(members, "members", "memberIds", lambda member: member.get("id")),
        }


class KaizalaAddMembersOperator(KaizalaBaseOperator):
    """Add members to a group, in batches the API accepts; safe to re-run (existing members are fine).

    :param group_id: the group (templated).
    :param phone_numbers: E.164 phone numbers (templated).
    :return: ``{"groupId", "requested", "allAdded", "notAdded": [numbers]}``; ``notAdded`` is checked
        against the member list only when the API says not every number was added.
    """

    group_id: str
    phone_numbers: list[str]

    def call(self, context: Any) -> dict[str, Any]:
        """Add the members (checked first: the batches are several calls)."""
        from airflow_provider_kaizala.hooks.validation import validate_phone_numbers

        numbers = validate_phone_numbers(self.phone_numbers, "phone_numbers")
        not_added: list[str] = []
        if not self.hook.add_members(self.group_id, numbers):
            present = {m.get("mobileNumber") for m in self.hook.list_members(self.group_id)}
            not_added = [n for n in numbers if n not in present]
            self.log.warning("%d of %d number(s) were not added.", len(not_added), len(numbers))
        return {"groupId": self.group_id, "requested": len(numbers), "allAdded": not not_added, "notAdded": not_added}


class KaizalaMemberOperator(KaizalaBaseOperator):
    """Base of the operators that act on one member, named by member id or by phone number.

    :param group_id: the group (templated).
    :param member_id: the member's user id (templated); or
    :param phone_number: the member's phone number (templated).
    """

    group_id: str
    member_id: str | None = None
    phone_number: str | None = None

    def target(self) -> tuple[str | None, str | None]:
        """The validated member id or phone number (checked first: finding the member is a call of its own)."""
        from airflow_provider_kaizala.hooks.validation import validate_id, validate_phone_number

        if (self.member_id is None) == (self.phone_number is None):
            raise KaizalaValidationError("Invalid member: pass exactly one of member_id or phone_number.")
        validate_id(self.group_id, "group_id")
        if self.member_id is not None:
            return validate_id(self.member_id, "member_id"), None
        return None, validate_phone_number(self.phone_number, "phone_number")

    def find(self, member_id: str | None, phone: str | None) -> str | None:
        """The id of the member with this id or phone number, or ``None`` when there is none."""
        for member in self.hook.list_members(self.group_id):
            if (member_id and member.get("id") == member_id) or (phone and member.get("mobileNumber") == phone):
                return str(member["id"])
        return None


class KaizalaRemoveMemberOperator(KaizalaMemberOperator):
    """Remove a member from a group, by member id or phone number; safe to re-run.

    :return: ``{"groupId", "memberId", "removed": bool, "reason"}``; ``removed`` is false with reason
        ``NotAMember`` when the person is not (or no longer) a member.
    """

    def call(self, context: Any) -> dict[str, Any]:
        """Remove the member."""
        member_id, phone = self.target()
        member_id = member_id or self.find(None, phone)
        result = {"groupId": self.group_id, "memberId": member_id}
        if member_id is None:
            return {**result, **outcome("removed", "NotAMember")}
        try:
            self.hook.remove_member(self.group_id, member_id)
        except KaizalaNotFoundError:
            if self.find(member_id, None) is not None:
                raise
            return {**result, **outcome("removed", "NotAMember")}
        return {**result, **outcome("removed")}


class KaizalaSetMemberRoleOperator(KaizalaMemberOperator):
    """Make a member an ``Admin`` or a plain ``Member`` (by member id or phone number).

    :param role: ``Admin`` or ``Member`` (templated).
    :return: ``{"groupId", "memberId", "role"}``.
    """

    role: str

    def call(self, context: Any) -> dict[str, Any]:
        """Change the role."""
        from airflow_provider_kaizala.hooks.validation import ROLES, validate_choice

        member_id, phone = self.target()
        role = validate_choice(self.role, "role", ROLES)
        member_id = member_id or self.find(None, phone)
        if member_id is None:
            raise KaizalaNotFoundError(f"{phone} is not a member of group {self.group_id}.")
        self.hook.set_member_role(self.group_id, member_id, role)
        return {"groupId": self.group_id, "memberId": member_id, "role": role}
