"""Operators for Kaizala Actions: jobs, surveys, polls, meetings, announcements, custom actions and responses.

The bodies are built with :mod:`airflow_provider_kaizala.hooks.actions`, so a bad question type, a missing
title or a bad phone number fails before any call. Posting an action or a response is never repeated when its
outcome is unknown (it would post twice): a timeout after the request left raises
``KaizalaOutcomeUnknownError``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from airflow_provider_kaizala.exceptions import KaizalaValidationError
from airflow_provider_kaizala.hooks.actions import (
    LISTABLE_ACTION_TYPES,
    announcement_body,
    job_body,
    lets_meet_body,
    poll_body,
    survey_body,
)
from airflow_provider_kaizala.hooks.validation import validate_bool, validate_choice, validate_id
from airflow_provider_kaizala.operators.base import KaizalaBaseOperator
from airflow_provider_kaizala.storage import write_json_lines

_AUDIENCE_FIELDS = ("subscribers", "send_to_all_subscribers")


def whole_number(value: Any, field: str, *, minimum: int = 0) -> int:
    """An integer, also from a rendered template's digits."""
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise KaizalaValidationError(f"Invalid {field}={value!r:.80}: expected a whole number of at least {minimum}.")
    return value


def _raw_body(value: Any, field: str = "action_body") -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise KaizalaValidationError(
            f"Invalid {field}={value!r:.80}: expected a mapping (a Jinja template renders to a string unless the DAG "
            "sets render_template_as_native_obj=True)."
        )
    return dict(value)


class _PostActionOperator(KaizalaBaseOperator):
    """The post part shared by the action operators: build the body, check the audience, post once."""

    action_type = ""

    def __init__(
        self,
        *,
        group_id: str,
        subscribers: list[str] | None = None,
        send_to_all_subscribers: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.group_id = group_id
        self.subscribers = subscribers
        self.send_to_all_subscribers = send_to_all_subscribers

    def _body(self) -> dict[str, Any]:
        raise NotImplementedError

    def _target(self) -> dict[str, Any]:
        return {"action_type": self.action_type}

    def execute(self, context: Any) -> dict[str, Any]:
        """Build and check the body, then post the action (once)."""
        body = self._body()
        target = self._target()
        group_id = validate_id(self.group_id, "group_id")
        result = self.hook.post_action(  # checks the audience before the call
            group_id,
            body,
            **target,
            subscribers=self.subscribers,
            send_to_all_subscribers=self.send_to_all_subscribers,
        )
        kind = target.get("action_type") or "Custom"
        self.log.info("Posted %s action %s to group %s.", kind, result.get("actionId"), group_id)
        out = {"referenceId": result.get("referenceId"), "actionId": result.get("actionId"), "actionType": kind}
        if target.get("package_id") is not None:
            out["packageId"] = target["package_id"]
        return out


class KaizalaPostJobOperator(_PostActionOperator):
    """Assign a Job to people in a group.

    Never repeated when the outcome is unknown: a timeout after the request left raises
    ``KaizalaOutcomeUnknownError`` rather than risk posting the job twice.

    :param group_id: the group (templated).
    :param title: what to do (templated).
    :param assigned_to: E.164 phone numbers of the assignees (templated).
    :param due_in_hours: due time in whole hours from now, default 24 (templated).
    :param subscribers: post only to these subscribers of a public group (templated).
    :param send_to_all_subscribers: post to every subscriber of a public group (templated).
    :return: ``{"referenceId", "actionId", "actionType": "Job"}``.
    """

    template_fields: Sequence[str] = (
        "kaizala_conn_id",
        "group_id",
        "title",
        "assigned_to",
        "due_in_hours",
        *_AUDIENCE_FIELDS,
    )
    action_type = "Job"

    def __init__(
        self,
        *,
        group_id: str,
        title: str,
        assigned_to: list[str],
        due_in_hours: int = 24,
        subscribers: list[str] | None = None,
        send_to_all_subscribers: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            group_id=group_id, subscribers=subscribers, send_to_all_subscribers=send_to_all_subscribers, **kwargs
        )
        self.title = title
        self.assigned_to = assigned_to
        self.due_in_hours = due_in_hours

    def _body(self) -> dict[str, Any]:
        return job_body(self.title, self.assigned_to, self.due_in_hours)


class KaizalaPostSurveyOperator(_PostActionOperator):
    """Post a Survey to a group.

    Questions are ``{"title", "type", "options"}`` mappings; ``type`` is one of SingleOption, MultiOption,
    Text, Image, Numeric, Date, DateTime, Location or AttachmentList (default Text), and ``options`` (a list
    of titles) is required for SingleOption and MultiOption only. Never repeated when the outcome is unknown:
    a timeout after the request left raises ``KaizalaOutcomeUnknownError``.

    :param group_id: the group (templated).
    :param title: the survey's title (templated).
    :param questions: the questions (templated).
    :param due_in_hours: expiry in whole hours from now, default 24 (templated).
    :param is_anonymous: hide who answered (templated).
    :param results_visible_to_sender_only: only the sender sees the results (templated).
    :param accept_multiple_responses: a person may respond more than once (templated).
    :param subscribers: post only to these subscribers of a public group (templated).
    :param send_to_all_subscribers: post to every subscriber of a public group (templated).
    :return: ``{"referenceId", "actionId", "actionType": "Survey"}``.
    """

    template_fields: Sequence[str] = (
        "kaizala_conn_id",
        "group_id",
        "title",
        "questions",
        "due_in_hours",
        "is_anonymous",
        "results_visible_to_sender_only",
        "accept_multiple_responses",
        *_AUDIENCE_FIELDS,
    )
    action_type = "Survey"

    def __init__(
        self,
        *,
        group_id: str,
        title: str,
        questions: list[dict[str, Any]],
        due_in_hours: int = 24,
        is_anonymous: bool = False,
        results_visible_to_sender_only: bool = False,
        accept_multiple_responses: bool = False,
        subscribers: list[str] | None = None,
        send_to_all_subscribers: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            group_id=group_id, subscribers=subscribers, send_to_all_subscribers=send_to_all_subscribers, **kwargs
        )
        self.title = title
        self.questions = questions
        self.due_in_hours = due_in_hours
        self.is_anonymous = is_anonymous
        self.results_visible_to_sender_only = results_visible_to_sender_only
        self.accept_multiple_responses = accept_multiple_responses

    def _body(self) -> dict[str, Any]:
        return survey_body(
            self.title,
            self.questions,
            due_in_hours=self.due_in_hours,
            is_anonymous=self.is_anonymous,
            results_visible_to_sender_only=self.results_visible_to_sender_only,
            accept_multiple_responses=self.accept_multiple_responses,
        )


class KaizalaPostPollOperator(_PostActionOperator):
    """Post a quick Poll (one question, several choices) to a group.

    Never repeated when the outcome is unknown: a timeout after the request left raises
    ``KaizalaOutcomeUnknownError``.

    :param group_id: the group (templated).
    :param question: the question (templated).
    :param choices: the choices' titles (templated).
    :param expiry_in_hours: expiry in whole hours from now, default 720 (templated).
    :param subscribers: post only to these subscribers of a public group (templated).
    :param send_to_all_subscribers: post to every subscriber of a public group (templated).
    :return: ``{"referenceId", "actionId", "actionType": "Poll"}``.
    """

    template_fields: Sequence[str] = (
        "kaizala_conn_id",
        "group_id",
        "question",
        "choices",
        "expiry_in_hours",
        *_AUDIENCE_FIELDS,
    )
    action_type = "Poll"

    def __init__(
        self,
        *,
        group_id: str,
        question: str,
        choices: list[str],
        expiry_in_hours: int = 720,
        subscribers: list[str] | None = None,
        send_to_all_subscribers: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            group_id=group_id, subscribers=subscribers, send_to_all_subscribers=send_to_all_subscribers, **kwargs
        )
        self.question = question
        self.choices = choices
        self.expiry_in_hours = expiry_in_hours

    def _body(self) -> dict[str, Any]:
        return poll_body(self.question, self.choices, self.expiry_in_hours)


class KaizalaPostLetsMeetOperator(_PostActionOperator):
    """Invite a group to a meeting (a Let's Meet action; people answer Yes, No or Maybe).

    Never repeated when the outcome is unknown: a timeout after the request left raises
    ``KaizalaOutcomeUnknownError``.

    :param group_id: the group (templated).
    :param title: the meeting's title (templated).
    :param starting_time: ISO-8601 date and time (naive means UTC) or a datetime (templated).
    :param duration_minutes: length in whole minutes, default 30 (templated).
    :param place: ``{"latitude", "longitude", "name"}`` (templated).
    :param agenda: the agenda (templated).
    :param subscribers: post only to these subscribers of a public group (templated).
    :param send_to_all_subscribers: post to every subscriber of a public group (templated).
    :return: ``{"referenceId", "actionId", "actionType": "LetsMeet"}``.
    """

    template_fields: Sequence[str] = (
        "kaizala_conn_id",
        "group_id",
        "title",
        "starting_time",
        "duration_minutes",
        "place",
        "agenda",
        *_AUDIENCE_FIELDS,
    )
    action_type = "LetsMeet"

    def __init__(
        self,
        *,
        group_id: str,
        title: str,
        starting_time: Any,
        duration_minutes: int = 30,
        place: dict[str, Any] | None = None,
        agenda: str | None = None,
        subscribers: list[str] | None = None,
        send_to_all_subscribers: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            group_id=group_id, subscribers=subscribers, send_to_all_subscribers=send_to_all_subscribers, **kwargs
        )
        self.title = title
        self.starting_time = starting_time
        self.duration_minutes = duration_minutes
        self.place = place
        self.agenda = agenda

    def _body(self) -> dict[str, Any]:
        return lets_meet_body(
            self.title,
            self.starting_time,
            duration_minutes=self.duration_minutes,
            place=self.place,
            agenda=self.agenda,
        )


class KaizalaPostAnnouncementOperator(_PostActionOperator):
    """Post an Announcement (a message with an optional title and uploaded media) to a group.

    Never repeated when the outcome is unknown: a timeout after the request left raises
    ``KaizalaOutcomeUnknownError``.

    :param group_id: the group (templated).
    :param message: the announcement, up to 4000 characters (templated).
    :param title: its title (templated).
    :param media_resources: ``mediaResource`` values of uploads to attach (templated).
    :param subscribers: post only to these subscribers of a public group (templated).
    :param send_to_all_subscribers: post to every subscriber of a public group (templated).
    :return: ``{"referenceId", "actionId", "actionType": "Announcement"}``.
    """

    template_fields: Sequence[str] = (
        "kaizala_conn_id",
        "group_id",
        "title",
        "message",
        "media_resources",
        *_AUDIENCE_FIELDS,
    )
    template_fields_renderers = {"message": "md"}
    action_type = "Announcement"

    def __init__(
        self,
        *,
        group_id: str,
        message: str,
        title: str | None = None,
        media_resources: list[str] | None = None,
        subscribers: list[str] | None = None,
        send_to_all_subscribers: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            group_id=group_id, subscribers=subscribers, send_to_all_subscribers=send_to_all_subscribers, **kwargs
        )
        self.title = title
        self.message = message
        self.media_resources = media_resources

    def _body(self) -> dict[str, Any]:
        return announcement_body(self.title, self.message, self.media_resources)


class KaizalaPostCustomActionOperator(_PostActionOperator):
    """Post an instance of a custom action package with a raw ``actionBody`` (the package defines its shape).

    Never repeated when the outcome is unknown: a timeout after the request left raises
    ``KaizalaOutcomeUnknownError``.

    :param group_id: the group (templated).
    :param package_id: the action package id, e.g. ``com.contoso.inspection.1`` (templated).
    :param action_body: the body, e.g. ``{"title", "properties", "questions"}`` (templated).
    :param subscribers: post only to these subscribers of a public group (templated).
    :param send_to_all_subscribers: post to every subscriber of a public group (templated).
    :return: ``{"referenceId", "actionId", "actionType": "Custom", "packageId"}``.
    """

    template_fields: Sequence[str] = ("kaizala_conn_id", "group_id", "package_id", "action_body", *_AUDIENCE_FIELDS)
    template_fields_renderers = {"action_body": "json"}

    def __init__(
        self,
        *,
        group_id: str,
        package_id: str,
        action_body: dict[str, Any],
        subscribers: list[str] | None = None,
        send_to_all_subscribers: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            group_id=group_id, subscribers=subscribers, send_to_all_subscribers=send_to_all_subscribers, **kwargs
        )
        self.package_id = package_id
        self.action_body = action_body

    def _body(self) -> dict[str, Any]:
        return _raw_body(self.action_body)

    def _target(self) -> dict[str, Any]:
        return {"package_id": validate_id(self.package_id, "package_id")}


class KaizalaListActionsOperator(KaizalaBaseOperator):
    """Walk a group's actions of one type, oldest first, page by page (one page in memory at a time).

    By default only the count and the action ids are returned. Name ``output_path`` to get every action as
    JSON Lines in a file (local or any ``ObjectStoragePath``); ``return_list`` puts them into XCom, for short
    lists only.

    :param group_id: the group (templated).
    :param action_type: Job, Survey, Poll, LetsMeet, Announcement, Image, Album, Audio, Document, Video,
        ShareLocation or PhotoWithLocation (templated).
    :param from_date_ms: only actions sent at or after this epoch time in milliseconds (templated).
    :param page_size: actions per call, 1 to 100 (templated).
    :param output_path: JSON Lines destination (templated).
    :param return_list: return every action in XCom (templated).
    :return: ``{"groupId", "actionType", "count"}`` plus ``actionIds`` (or ``actions`` with ``return_list``),
        and ``path`` with ``output_path``.
    """

    template_fields: Sequence[str] = (
        "kaizala_conn_id",
        "group_id",
        "action_type",
        "from_date_ms",
        "page_size",
        "output_path",
        "return_list",
    )

    def __init__(
        self,
        *,
        group_id: str,
        action_type: str,
        from_date_ms: int | None = None,
        page_size: int = 30,
        output_path: Any = None,
        return_list: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.group_id = group_id
        self.action_type = action_type
        self.from_date_ms = from_date_ms
        self.page_size = page_size
        self.output_path = output_path
        self.return_list = return_list

    def execute(self, context: Any) -> dict[str, Any]:
        """Walk the actions."""
        return_list = validate_bool(self.return_list, "return_list")
        group_id = validate_id(self.group_id, "group_id")
        action_type = validate_choice(self.action_type, "action_type", LISTABLE_ACTION_TYPES)
        page_size = whole_number(self.page_size, "page_size", minimum=1)
        from_date_ms = None if self.from_date_ms in (None, "") else whole_number(self.from_date_ms, "from_date_ms")
        ids: list[str] = []
        kept: list[dict[str, Any]] = []

        def rows() -> Iterator[dict[str, Any]]:
            for action in self.hook.iter_actions(group_id, action_type, from_date_ms=from_date_ms, page_size=page_size):
                ids.append(str(action.get("actionId")))
                if return_list:
                    kept.append(action)
                yield action

        result: dict[str, Any] = {"groupId": group_id, "actionType": action_type}
        if self.output_path:
            result["path"], _ = write_json_lines(self.output_path, rows())
        else:
            for _ in rows():
                pass
        result["count"] = len(ids)
        if return_list:
            result["actions"] = kept
        else:
            result["actionIds"] = ids
        self.log.info("Group %s has %d %s action(s).", group_id, len(ids), action_type)
        return result


class KaizalaGetActionOperator(KaizalaBaseOperator):
    """Get one action; with ``get_details`` also its responses.

    :param group_id: the group (templated).
    :param action_id: the action (templated).
    :param get_details: include the responses (templated).
    :return: the action as the API returns it: ``{"actionId", "referenceId", "actionType", "sender", "sentAt",
        "actionDetails"}`` (``actionDetails.responses`` with ``get_details``).
    """

    template_fields: Sequence[str] = ("kaizala_conn_id", "group_id", "action_id", "get_details")

    def __init__(self, *, group_id: str, action_id: str, get_details: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.group_id = group_id
        self.action_id = action_id
        self.get_details = get_details

    def execute(self, context: Any) -> dict[str, Any]:
        """Fetch the action."""
        return self.hook.get_action(self.group_id, self.action_id, get_details=self.get_details)


class KaizalaPostActionResponseOperator(KaizalaBaseOperator):
    """Respond to a Job, Survey, Poll, Let's Meet or custom action (as the connector's user).

    The body depends on the action: a Job ``{"isCompleted": true}``; a Survey or custom action
    ``{"answers": [...]}`` with one answer per question, in order (an option title for SingleOption, a list of
    them for MultiOption, a number for Numeric...); a Poll ``{"answers": [choice title]}``; a Let's Meet
    ``{"answers": ["Yes" | "No" | "Maybe"]}``. ``response_id`` updates an earlier response instead of adding
    one. Never repeated when the outcome is unknown: a timeout after the request left raises
    ``KaizalaOutcomeUnknownError`` rather than risk responding twice.

    :param group_id: the group (templated).
    :param action_id: the action (templated).
    :param action_body: the response body (templated).
    :param action_type: Job, Survey, Poll or LetsMeet (templated); or
    :param package_id: the custom action package id (templated).
    :param response_id: the response to update (templated).
    :return: ``{"responseId", "actionId"}``.
    """

    template_fields: Sequence[str] = (
        "kaizala_conn_id",
        "group_id",
        "action_id",
        "action_body",
        "action_type",
        "package_id",
        "response_id",
    )
    template_fields_renderers = {"action_body": "json"}

    def __init__(
        self,
        *,
        group_id: str,
        action_id: str,
        action_body: dict[str, Any],
        action_type: str | None = None,
        package_id: str | None = None,
        response_id: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.group_id = group_id
        self.action_id = action_id
        self.action_body = action_body
        self.action_type = action_type
        self.package_id = package_id
        self.response_id = response_id

    def execute(self, context: Any) -> dict[str, Any]:
        """Post the response (once)."""
        result = self.hook.post_action_response(
            self.group_id,
            self.action_id,
            _raw_body(self.action_body),
            action_type=self.action_type,
            package_id=self.package_id,
            response_id=self.response_id or None,
        )
        self.log.info("Responded to action %s (response %s).", self.action_id, result.get("responseId"))
        return {"responseId": result.get("responseId"), "actionId": self.action_id}
