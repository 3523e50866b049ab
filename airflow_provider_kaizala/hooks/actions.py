"""Typed, validated bodies for Kaizala Actions (jobs, surveys, polls, meetings, announcements, media).

Each builder checks its arguments with the hook's rules and returns the ``actionBody`` the API expects
(reference §5.7.2), so a bad question type or a missing title fails before any call. Custom action packages
take a raw body (the package defines it).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from airflow_provider_kaizala.exceptions import KaizalaValidationError
from airflow_provider_kaizala.hooks.validation import (
    MAX_MESSAGE_LENGTH,
    validate_bool,
    validate_choice,
    validate_phone_numbers,
    validate_text,
)

ACTION_TYPES = ("Job", "Survey", "Poll", "LetsMeet", "Announcement", "Image", "Album", "Audio", "Document", "Video")
MEDIA_ACTION_TYPES = ("Image", "Album", "Audio", "Document", "Video")
LISTABLE_ACTION_TYPES = (*ACTION_TYPES, "ShareLocation", "PhotoWithLocation")
QUESTION_TYPES = (
    "SingleOption",
    "MultiOption",
    "Text",
    "Image",
    "Numeric",
    "Date",
    "DateTime",
    "Location",
    "AttachmentList",
)
RESPONSE_ACTION_TYPES = ("Job", "Survey", "Poll", "LetsMeet")
REACTION_TYPES = ("Like", "Comment")
WEBHOOK_OBJECT_TYPES = ("Group", "Action", "ActionPackage")
#: The documented event types (reference §7.1) and the four the Postman collection also used.
WEBHOOK_EVENT_TYPES = (
    "ActionCreated",
    "ActionResponse",
    "SurveyCreated",
    "JobCreated",
    "SurveyResponse",
    "JobResponse",
    "TextMessageCreated",
    "AttachmentCreated",
    "Announcement",
    "MemberAdded",
    "MemberRemoved",
    "GroupAdded",
    "GroupRemoved",
    "PollCreated",
    "PollResponse",
    "LetsMeetCreated",
    "LetsMeetResponse",
)
#: Supported media files per action type (reference §5.6) and their MIME types.
MEDIA_TYPES: dict[str, str] = {
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".png": "image/png",
    ".mp3": "audio/mpeg",
    ".wav": "audio/wav",
    ".doc": "application/msword",
    ".docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    ".xls": "application/vnd.ms-excel",
    ".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    ".ppt": "application/vnd.ms-powerpoint",
    ".pptx": "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    ".pdf": "application/pdf",
    ".mp4": "video/mp4",
    ".3gpp": "video/3gpp",
}
MEDIA_KIND = {
    ".jpg": "Image",
    ".jpeg": "Image",
    ".png": "Image",
    ".mp3": "Audio",
    ".wav": "Audio",
    ".mp4": "Video",
    ".3gpp": "Video",
}
#: Largest actions page the provider asks for (the API's maximum is undocumented; the emulator clamps at 100).
MAX_ACTIONS_PAGE = 100
#: Largest upload accepted before any call (the API never documented one; the emulator uses the same).
MAX_MEDIA_BYTES = 50 * 1024 * 1024
TITLE_LENGTH = 500


def _fail(field: str, value: Any, rule: str) -> KaizalaValidationError:
    shown = repr(value)
    return KaizalaValidationError(f"Invalid {field}={shown[:77] + '...' if len(shown) > 80 else shown}: {rule}.")


def _whole(value: Any, field: str, default: int, unit: str = "hours") -> int:
    if value is None:
        return default
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise _fail(field, value, f"expected a whole number of {unit}, at least 1")
    return value


def _list(value: Any, field: str) -> list[Any]:
    if isinstance(value, (str, bytes, Mapping)) or not isinstance(value, Iterable):
        raise _fail(field, value, "expected a list")
    items = list(value)
    if not items:
        raise _fail(field, value, "expected at least one item")
    return items


def media_kind(file_name: str) -> str:
    """``Image``, ``Audio``, ``Document`` or ``Video`` for a supported file name; raise otherwise."""
    import os

    extension = os.path.splitext(file_name)[1].lower()
    if extension not in MEDIA_TYPES:
        raise _fail("file", file_name, f"unsupported media type; Kaizala accepts {', '.join(sorted(MEDIA_TYPES))}")
    return MEDIA_KIND.get(extension, "Document")


def job_body(title: str, assigned_to: Iterable[str], due_in_hours: int | None = None) -> dict[str, Any]:
    """A Job: a title, assignees' phone numbers and a due time in hours from now (default 24)."""
    return {
        "title": validate_text(title, "title", TITLE_LENGTH),
        "assignedTo": validate_phone_numbers(assigned_to, "assigned_to"),
        "dueDate": _whole(due_in_hours, "due_in_hours", 24),
    }


def question(title: str, type: str = "Text", options: Iterable[str] | None = None, **extra: Any) -> dict[str, Any]:
    """One survey question; ``options`` (titles) are required for SingleOption and MultiOption."""
    result: dict[str, Any] = {
        "title": validate_text(title, "question title", TITLE_LENGTH),
        "type": validate_choice(type, "question type", QUESTION_TYPES),
        **extra,
    }
    if result["type"] in ("SingleOption", "MultiOption"):
        choices = _list(options, f"options of question {title!r}")
        result["options"] = [{"title": validate_text(o, "option", TITLE_LENGTH)} for o in choices]
    elif options is not None:
        raise _fail(f"options of question {title!r}", options, "only SingleOption and MultiOption have options")
    return result


def _questions(questions: Any) -> list[dict[str, Any]]:
    items = _list(questions, "questions")
    result = []
    for index, item in enumerate(items):
        if not isinstance(item, Mapping):
            raise _fail(f"questions[{index}]", item, "expected a mapping with title, type and options")
        options = item.get("options")
        if options is not None:
            options = [o["title"] if isinstance(o, Mapping) else o for o in _list(options, f"questions[{index}]")]
        extra = {k: v for k, v in item.items() if k not in ("title", "type", "options")}
        result.append(question(item.get("title"), item.get("type", "Text"), options, **extra))  # type: ignore[arg-type]
    return result


def survey_body(
    title: str,
    questions: Iterable[Mapping[str, Any]],
    *,
    due_in_hours: int | None = None,
    is_anonymous: bool = False,
    results_visible_to_sender_only: bool = False,
    accept_multiple_responses: bool = False,
) -> dict[str, Any]:
    """A Survey: a title and questions (``{"title", "type", "options"}``), due in hours (default 24)."""
    return {
        "title": validate_text(title, "title", TITLE_LENGTH),
        "questions": _questions(questions),
        "dueDate": _whole(due_in_hours, "due_in_hours", 24),
        "isAnonymous": validate_bool(is_anonymous, "is_anonymous"),
        "isSenderOnly": validate_bool(results_visible_to_sender_only, "results_visible_to_sender_only"),
        "acceptMultipleResponses": validate_bool(accept_multiple_responses, "accept_multiple_responses"),
    }


def poll_body(question_text: str, choices: Iterable[str], expiry_in_hours: int | None = None) -> dict[str, Any]:
    """A quick Poll: a question, the choices' titles, expiry in hours (default 720)."""
    return {
        "question": validate_text(question_text, "question", TITLE_LENGTH),
        "choices": [{"title": validate_text(c, "choice", TITLE_LENGTH)} for c in _list(choices, "choices")],
        "expiryInHours": _whole(expiry_in_hours, "expiry_in_hours", 720),
    }


def lets_meet_body(
    title: str,
    starting_time: Any,
    *,
    duration_minutes: int = 30,
    place: Mapping[str, Any] | None = None,
    agenda: str | None = None,
) -> dict[str, Any]:
    """A Let's Meet: title, start (ISO-8601 or datetime), duration in minutes (default 30), place, agenda."""
    import datetime

    import pendulum

    try:
        start = pendulum.parse(str(starting_time)) if not isinstance(starting_time, datetime.datetime) else None
    except (ValueError, TypeError):
        start = None
    moment = starting_time if isinstance(starting_time, datetime.datetime) else start
    if not isinstance(moment, datetime.datetime):
        raise _fail("starting_time", starting_time, "expected an ISO-8601 date and time")
    body: dict[str, Any] = {
        "title": validate_text(title, "title", TITLE_LENGTH),
        "startingTime": pendulum.instance(moment).in_timezone("UTC").format("YYYY-MM-DDTHH:mm:ss[Z]"),
        "duration": _whole(duration_minutes, "duration_minutes", 30, "minutes"),
    }
    if agenda is not None:
        body["agenda"] = validate_text(agenda, "agenda", MAX_MESSAGE_LENGTH)
    if place is not None:
        try:
            body["place"] = {
                "latitude": float(place["latitude"]),
                "longitude": float(place["longitude"]),
                "name": str(place.get("name", "")),
            }
        except (KeyError, TypeError, ValueError):
            raise _fail("place", place, "expected {latitude, longitude, name}") from None
    return body


def announcement_body(title: str | None, message: str, media_resources: Iterable[str] | None = None) -> dict[str, Any]:
    """An Announcement: a message (and title), optionally with uploaded media."""
    body: dict[str, Any] = {"message": validate_text(message, "message", MAX_MESSAGE_LENGTH)}
    if title is not None:
        body["title"] = validate_text(title, "title", TITLE_LENGTH)
    if media_resources is not None:
        body["mediaResources"] = [
            validate_text(m, "media_resources", 10**6) for m in _list(media_resources, "media_resources")
        ]
    return body


def media_body(media_resource: str, caption: str | None = None) -> dict[str, Any]:
    """A media action: an uploaded ``mediaResource`` and an optional caption."""
    body: dict[str, Any] = {"mediaResource": validate_text(media_resource, "media_resource", 10**6)}
    if caption is not None:
        body["caption"] = validate_text(caption, "caption", MAX_MESSAGE_LENGTH, allow_empty=True)
    return body


def action_key(item: Mapping[str, Any]) -> str:
    """A listed action's identity (its referenceId, else its actionId)."""
    return str(item.get("referenceId") or item.get("actionId"))


def action_time_ms(item: Mapping[str, Any]) -> int | None:
    """When a listed action was sent, in epoch ms, from whichever field the API used (§11.11)."""
    for key in ("sentAtMs",):
        if isinstance(item.get(key), (int, float)):
            return int(item[key])
    if item.get("sentAt"):
        import pendulum

        try:
            return int(pendulum.parse(str(item["sentAt"])).timestamp() * 1000)  # type: ignore[union-attr]
        except (ValueError, TypeError, AttributeError):
            return None
    if isinstance(item.get("creationTime"), (int, float)):
        return int(item["creationTime"]) * 1000
    return None


def action_target(action_type: str | None, package_id: str | None, allowed: Iterable[str]) -> dict[str, Any]:
    """``{"actionType": ...}`` or ``{"id": <package id>}``: exactly one of them."""
    from airflow_provider_kaizala.hooks.validation import validate_id

    if (action_type is None) == (package_id is None):
        raise KaizalaValidationError(
            "Invalid action: pass exactly one of action_type (a built-in type) or package_id (a custom action package)."
        )
    if action_type is not None:
        return {"actionType": validate_choice(action_type, "action_type", allowed)}
    return {"id": validate_id(package_id, "package_id")}


def media_parts(files: Iterable[Any]) -> list[tuple[str, tuple[str, bytes, str]]]:
    """Read and check files for ``POST /media``: supported types, size limit, several files only for an Album."""
    import os

    parts: list[tuple[str, tuple[str, bytes, str]]] = []
    kinds = set()
    for index, item in enumerate(_list(files, "files")):
        if isinstance(item, tuple) and len(item) == 2:
            name, data = str(item[0]), item[1]
        elif hasattr(item, "read_bytes") and hasattr(item, "name"):  # pathlib.Path or ObjectStoragePath
            name, data = str(item.name), None
        elif isinstance(item, (str, os.PathLike)):
            from pathlib import Path

            item = Path(item)
            name, data = item.name, None
        else:
            raise _fail(f"files[{index}]", item, "expected a path, an ObjectStoragePath or a (name, bytes) pair")
        kind = media_kind(name)
        if data is None:
            try:
                size = item.stat().st_size
            except (OSError, AttributeError):
                size = None
            if size is not None and size > MAX_MEDIA_BYTES:
                raise _fail(f"files[{index}]", name, f"larger than the {MAX_MEDIA_BYTES // 2**20} MiB upload limit")
            try:
                data = item.read_bytes()
            except OSError as err:
                raise _fail(f"files[{index}]", name, f"cannot be read ({type(err).__name__})") from None
        if not isinstance(data, bytes):
            raise _fail(f"files[{index}]", name, "expected bytes content")
        if len(data) > MAX_MEDIA_BYTES:
            raise _fail(f"files[{index}]", name, f"larger than the {MAX_MEDIA_BYTES // 2**20} MiB upload limit")
        if not data:
            raise _fail(f"files[{index}]", name, "the file is empty")
        kinds.add(kind)
        parts.append(("files", (name, data, MEDIA_TYPES[os.path.splitext(name)[1].lower()])))
    if len(parts) > 1 and kinds != {"Image"}:
        raise _fail(
            "files", [p[1][0] for p in parts], "several files can be uploaded together only as images (an Album)"
        )
    return parts


def webhook_body(partial: bool = False, **fields: Any) -> dict[str, Any]:
    """The body of a webhook registration (all required fields) or update (``partial``: any subset)."""
    from urllib.parse import urlsplit

    from airflow_provider_kaizala.hooks.validation import validate_id

    known = {
        "object_id",
        "object_type",
        "event_types",
        "callback_url",
        "callback_token",
        "callback_context",
        "validity_ms",
        "active",
    }
    unknown = set(fields) - known
    if unknown:
        raise _fail("webhook field", sorted(unknown), f"expected some of {', '.join(sorted(known))}")
    body: dict[str, Any] = {}
    required = () if partial else ("object_id", "object_type", "event_types", "callback_url")
    for name in required:
        if fields.get(name) is None:
            raise _fail(name, None, "required to register a webhook")
    if fields.get("object_id") is not None:
        body["objectId"] = validate_id(fields["object_id"], "object_id")
    if fields.get("object_type") is not None:
        body["objectType"] = validate_choice(fields["object_type"], "object_type", WEBHOOK_OBJECT_TYPES)
    if fields.get("event_types") is not None:
        body["eventTypes"] = [
            validate_choice(e, "event_types", WEBHOOK_EVENT_TYPES) for e in _list(fields["event_types"], "event_types")
        ]
    if fields.get("callback_url") is not None:
        url = fields["callback_url"]
        parts = urlsplit(url) if isinstance(url, str) else None
        if parts is None or parts.scheme not in ("https", "http") or not parts.hostname:
            raise _fail("callback_url", url, "expected an http(s) URL that Kaizala can reach (Kaizala requires https)")
        body["callBackUrl"] = url
    for name, key in (("callback_token", "callBackToken"), ("callback_context", "callBackContext")):
        if fields.get(name) is not None:
            body[key] = validate_text(fields[name], name, 1000)
    if fields.get("validity_ms") is not None:
        value = fields["validity_ms"]
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise _fail("validity_ms", value, "expected an epoch time in milliseconds")
        body["validity"] = value
    if fields.get("active") is not None:
        body["active"] = validate_bool(fields["active"], "active")
    return body
