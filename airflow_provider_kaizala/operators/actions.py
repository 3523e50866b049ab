"""Operators for Kaizala Actions: jobs, surveys, polls, meetings, announcements, custom actions and responses.

The post operators share :class:`KaizalaPostActionOperator`: each declares its body fields and the
builder of :mod:`airflow_provider_kaizala.hooks.actions` that checks them, so a bad question type, a missing
title or a bad phone number fails before any call. Posting an action or a response is never repeated when
its outcome is unknown (``KaizalaOutcomeUnknownError``, see :ref:`retry-safety`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

from airflow_provider_kaizala.hooks.actions import (
    announcement_body,
    job_body,
    lets_meet_body,
    poll_body,
    survey_body,
)
from airflow_provider_kaizala.operators.base import KaizalaAudienceOperator, KaizalaBaseOperator, KaizalaListOperator


def action_id(item: dict[str, Any]) -> Any:
    """A listed action's id: Kaizala lists it inside ``actionBody`` (media actions have none)."""
    return item.get("actionId") or (item.get("actionBody") or {}).get("actionId")


class KaizalaPostActionOperator(KaizalaAudienceOperator):
    """Base of the post operators: build the body from the declared fields, post it once, return the ids.

    A subclass declares its body fields as arguments and names the body ``builder``, which is called with
    those fields as keyword arguments (or overrides :meth:`body`).

    :return: ``{"referenceId", "actionId", "actionType"}`` (plus ``packageId`` for a custom action).
    """

    action_type: ClassVar[str] = ""
    builder: ClassVar[Callable[..., dict[str, Any]] | None] = None

    def body(self) -> dict[str, Any]:
        """The checked ``actionBody``."""
        own = [name for name in self.arguments if name not in KaizalaPostActionOperator.arguments]
        assert self.builder is not None, type(self).__name__
        return type(self).builder(**{name: getattr(self, name) for name in own})  # type: ignore[misc]

    def target(self) -> dict[str, Any]:
        """What is posted: a built-in ``action_type`` or a custom ``package_id``."""
        return {"action_type": self.action_type}

    def call(self, context: Any) -> dict[str, Any]:
        """Build and check the body, then post the action (once)."""
        body, target = self.body(), self.target()
        result = self.hook.post_action(self.group_id, body, **target, **self.audience)
        kind = self.action_type or "Custom"
        self.log.info("Posted %s action %s to group %s.", kind, result.get("actionId"), self.group_id)
        out = {"referenceId": result.get("referenceId"), "actionId": result.get("actionId"), "actionType": kind}
        return {**out, "packageId": target["package_id"]} if "package_id" in target else out


class KaizalaPostJobOperator(KaizalaPostActionOperator):
    """Assign a Job to people in a group.

    :param title: what to do (templated).
    :param assigned_to: E.164 phone numbers of the assignees (templated).
    :param due_in_hours: due time in whole hours from now, default 24 (templated).
    """

    title: str
    assigned_to: list[str]
    due_in_hours: int = 24
    action_type = "Job"
    builder = job_body


class KaizalaPostSurveyOperator(KaizalaPostActionOperator):
    """Post a Survey to a group.

    Questions are ``{"title", "type", "options"}`` mappings; ``type`` is one of SingleOption, MultiOption,
    Text, Image, Numeric, Date, DateTime, Location or AttachmentList (default Text), and ``options`` (a list
    of titles) is required for SingleOption and MultiOption only.

    :param title: the survey's title (templated).
    :param questions: the questions (templated).
    :param due_in_hours: expiry in whole hours from now, default 24 (templated).
    :param is_anonymous: hide who answered (templated).
    :param results_visible_to_sender_only: only the sender sees the results (templated).
    :param accept_multiple_responses: a person may respond more than once (templated).
    """

    title: str
    questions: list[dict[str, Any]]
    due_in_hours: int = 24
    is_anonymous: bool = False
    results_visible_to_sender_only: bool = False
    accept_multiple_responses: bool = False
    action_type = "Survey"
    builder = survey_body


class KaizalaPostPollOperator(KaizalaPostActionOperator):
    """Post a quick Poll (one question, several choices) to a group.

    :param question: the question (templated).
    :param choices: the choices' titles (templated).
    :param expiry_in_hours: expiry in whole hours from now, default 720 (templated).
    """

    question: str
    choices: list[str]
    expiry_in_hours: int = 720
    action_type = "Poll"

    def body(self) -> dict[str, Any]:
        """The checked Poll body."""
        return poll_body(self.question, self.choices, self.expiry_in_hours)


class KaizalaPostLetsMeetOperator(KaizalaPostActionOperator):
    """Invite a group to a meeting (a Let's Meet action; people answer Yes, No or Maybe).

    :param title: the meeting's title (templated).
    :param starting_time: ISO-8601 date and time (naive means UTC) or a datetime (templated).
    :param duration_minutes: length in whole minutes, default 30 (templated).
    :param place: ``{"latitude", "longitude", "name"}`` (templated).
    :param agenda: the agenda (templated).
    """

    title: str
    starting_time: Any
    duration_minutes: int = 30
    place: dict[str, Any] | None = None
    agenda: str | None = None
    action_type = "LetsMeet"
    builder = lets_meet_body


class KaizalaPostAnnouncementOperator(KaizalaPostActionOperator):
    """Post an Announcement (a message with an optional title and uploaded media) to a group.

    :param message: the announcement, up to 4000 characters (templated).
    :param title: its title (templated).
    :param media_resources: ``mediaResource`` values of uploads to attach (templated).
    """

    message: str
    title: str | None = None
    media_resources: list[str] | None = None
    template_fields_renderers = {"message": "md"}
    action_type = "Announcement"
    builder = announcement_body


class KaizalaPostCustomActionOperator(KaizalaPostActionOperator):
    """Post an instance of a custom action package with a raw ``actionBody`` (the package defines its shape).

    :param package_id: the action package id, e.g. ``com.contoso.inspection.1`` (templated).
    :param action_body: the body, e.g. ``{"title", "properties", "questions"}`` (templated).
    """

    package_id: str
    action_body: dict[str, Any]
    template_fields_renderers = {"action_body": "json"}

    def body(self) -> dict[str, Any]:
        """The raw body (the hook checks that it is a mapping)."""
        return self.action_body

    def target(self) -> dict[str, Any]:
        """The custom action package."""
        return {"package_id": self.package_id}


class KaizalaListActionsOperator(KaizalaListOperator):
    """Walk a group's actions of one type, oldest first, page by page (one page in memory at a time).

    :param group_id: the group (templated).
    :param action_type: Job, Survey, Poll, LetsMeet, Announcement, Image, Album, Audio, Document, Video,
        ShareLocation or PhotoWithLocation (templated).
    :param from_date_ms: only actions sent at or after this epoch time in milliseconds (templated).
    :param page_size: actions per call, 1 to 100 (templated).
    :return: ``{"groupId", "actionType", "count", "actionIds"}`` (``actions`` with ``return_list``, ``path``
        with ``output_path``); a media action has no id in the list (``None``), only its ``referenceId``.
    """

    group_id: str
    action_type: str
    from_date_ms: int | None = None
    page_size: int = 30

    def call(self, context: Any) -> dict[str, Any]:
        """Walk the actions."""
        from airflow_provider_kaizala.hooks.actions import LISTABLE_ACTION_TYPES
        from airflow_provider_kaizala.hooks.validation import validate_choice

        action_type = validate_choice(self.action_type, "action_type", LISTABLE_ACTION_TYPES)
        actions = self.hook.iter_actions(
            self.group_id, action_type, from_date_ms=self.from_date_ms, page_size=self.page_size
        )
        result = {"groupId": self.group_id, "actionType": action_type}
        result.update(self.listing(actions, "actions", "actionIds", action_id))
        self.log.info("Group %s has %d %s action(s).", self.group_id, result["count"], action_type)
        return result


class KaizalaGetActionOperator(KaizalaBaseOperator):
    """Get one action; with ``get_details`` also its responses.

    :param group_id: the group (templated).
    :param action_id: the action (templated).
    :param get_details: include the responses (templated).
    :return: the action as the API returns it: ``{"actionId", "referenceId", "actionType", "sender", "sentAt",
        "actionDetails"}`` (``actionDetails.responses`` with ``get_details``).
    """

    group_id: str
    action_id: str
    get_details: bool = False

    def call(self, context: Any) -> dict[str, Any]:
        """Fetch the action."""
        return self.hook.get_action(self.group_id, self.action_id, get_details=self.get_details)


class KaizalaPostActionResponseOperator(KaizalaBaseOperator):
    """Respond to a Job, Survey, Poll, Let's Meet or custom action (as the connector's user).

    The body depends on the action: a Job ``{"isCompleted": true}``; a Survey or custom action
    ``{"answers": [...]}`` with one answer per question, in order (an option title for SingleOption, a list of
    them for MultiOption, a number for Numeric...); a Poll ``{"answers": [choice title]}``; a Let's Meet
    ``{"answers": ["Yes" | "No" | "Maybe"]}``. ``response_id`` updates an earlier response instead of adding
    one. Never repeated when the outcome is unknown (``KaizalaOutcomeUnknownError``).

    :param group_id: the group (templated).
    :param action_id: the action (templated).
    :param action_body: the response body (templated).
    :param action_type: Job, Survey, Poll or LetsMeet (templated); or
    :param package_id: the custom action package id (templated).
    :param response_id: the response to update (templated).
    :return: ``{"responseId", "actionId"}``.
    """

    group_id: str
    action_id: str
    action_body: dict[str, Any]
    action_type: str | None = None
    package_id: str | None = None
    response_id: str | None = None
    template_fields_renderers = {"action_body": "json"}

    def call(self, context: Any) -> dict[str, Any]:
        """Post the response (once)."""
        result = self.hook.post_action_response(
            self.group_id,
            self.action_id,
            self.action_body,
            action_type=self.action_type,
            package_id=self.package_id,
            response_id=self.response_id or None,
        )
        self.log.info("Responded to action %s (response %s).", self.action_id, result.get("responseId"))
        return {"responseId": result.get("responseId"), "actionId": self.action_id}
