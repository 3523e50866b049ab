"""Request and response models of the action routes (AC1-AC4), declared once for validation and the OpenAPI document.

An AC1 body is one of seven variants, chosen by its ``actionType`` (in any case) or, for a custom action package,
by its ``id``: :data:`ActionPost` validates the body against the variant it names, so an error names the field as
the client sent it (``actionBody.questions[0].options``), and the OpenAPI document lists the variants (``anyOf``).
Keys bind in any case at every level and ``null`` counts as absent (:class:`~.models.Body`).

Response models only document the success bodies (the handlers answer with :func:`~.wire.json_response`).
"""

from __future__ import annotations

import datetime as dt
import math
import re
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    PlainValidator,
    StrictStr,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from airflow_provider_kaizala.emulator.media import MEDIA_TYPES
from airflow_provider_kaizala.emulator.models import Answer, Body, LenientBool, NonBlank, PositiveInt, any_case
from airflow_provider_kaizala.emulator.state import split_phones
from airflow_provider_kaizala.emulator.wire import iso_ms

ACTION_TYPES = {
    t.lower(): t
    for t in ("Job", "Survey", "Poll", "LetsMeet", "Announcement", "Image", "Album", "Audio", "Document", "Video")
}
#: Types that may be listed with AC2 (postable ones plus the two read-only location kinds, always empty here).
LISTABLE = {**ACTION_TYPES, "sharelocation": "ShareLocation", "photowithlocation": "PhotoWithLocation"}
QUESTION_TYPES = {
    t.lower(): t
    for t in (
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
}
PROPERTY_TYPES = {
    t.lower(): t
    for t in ("Text", "Numeric", "Location", "DateTime", "StringList", "Attachment", "StringSet", "AttachmentList")
}
#: Question types whose answers are option titles (the question needs a non-empty ``options``).
OPTION_QUESTIONS = ("SingleOption", "MultiOption")
CUSTOM = "Custom"
DEFAULT_DUE_HOURS = 24
DEFAULT_POLL_HOURS = 720
#: Longest due, expiry or validity period accepted (100 years): beyond it dates leave the calendar.
MAX_HOURS = 100 * 366 * 24
_GUID = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}(@\d+)?"
_DOTTED = r"[A-Za-z_][A-Za-z0-9_-]*(\.[A-Za-z0-9_-]+)+"
_PACKAGE_ID = re.compile(f"^({_GUID}|{_DOTTED})$")
#: The Swagger's custom-package example id.
PACKAGE_EXAMPLE = "com.microsoft.kaizala.miniapps.BdayMessage.12"


# -- value types ----------------------------------------------------------------------------------------------
def finite_number(value: Any) -> int | float:
    """A finite JSON number, or a string holding one (``"3.5"``, ``"1e3"``); booleans, infinities, NaN and numbers
    beyond the float range fail with a ``ValueError``. Integral strings without a ``.`` give an int."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValueError("must be a number")
    number: int | float = value if not isinstance(value, str) else _number_string(value)
    try:
        as_float = float(number)
    except OverflowError:
        raise ValueError("is out of range") from None
    if not math.isfinite(as_float):
        raise ValueError("must be a finite number")
    return number


def _number_string(value: str) -> int | float:
    try:
        number = float(value)
    except ValueError:
        raise ValueError("must be a number") from None
    if number.is_integer() and "." not in value:
        return int(number)
    return number


#: A finite number as a float (coordinates); also given as a numeric string.
FiniteFloat = Annotated[
    float,
    PlainValidator(lambda v: float(finite_number(v)), json_schema_input_type=float),
    WithJsonSchema({"oneOf": [{"type": "number"}, {"type": "string", "description": "a number"}]}),
]


def iso_to_ms(value: Any) -> int:
    """An ISO-8601 date-time (``Z`` or an offset; naive = UTC) as epoch ms that :func:`~.wire.iso_ms` can print
    again; anything else fails with a ``ValueError``."""
    if not isinstance(value, str) or not value.strip():
        raise ValueError("must be an ISO-8601 date-time")
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        when = dt.datetime.fromisoformat(text)
        if when.tzinfo is None:
            when = when.replace(tzinfo=dt.UTC)
        ms = int(when.timestamp() * 1000)
        iso_ms(ms)  # must also be representable on the way out
    except (ValueError, OverflowError, OSError):
        raise ValueError("must be an ISO-8601 date-time in the calendar's range") from None
    return ms


#: An ISO-8601 date-time, validated to epoch milliseconds.
IsoMs = Annotated[
    int,
    PlainValidator(iso_to_ms, json_schema_input_type=str),
    WithJsonSchema({"type": "string", "format": "date-time", "description": "ISO-8601 (Z or an offset; naive = UTC)"}),
]

#: A number of hours from 1 to :data:`MAX_HOURS` (also as a digit string).
Hours = Annotated[
    PositiveInt,
    Field(le=MAX_HOURS),
    WithJsonSchema(
        {
            "oneOf": [
                {"type": "integer", "format": "int32", "minimum": 1, "maximum": MAX_HOURS},
                {"type": "string", "pattern": r"^\s*[1-9][0-9]{0,5}\s*$", "description": "digits"},
            ],
            "description": f"hours, 1 to {MAX_HOURS}",
        }
    ),
]


def _package_id(value: str) -> str:
    if not _PACKAGE_ID.match(value):
        raise ValueError("must be an action package id (a GUID, optionally @N, or a dotted name)")
    return value


#: An action package id: a GUID (optionally ``@N``) or a dotted name.
PackageId = Annotated[
    StrictStr,
    AfterValidator(_package_id),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": _PACKAGE_ID.pattern,
            "description": "action package id: a GUID (optionally @N) or a dotted name",
            "example": PACKAGE_EXAMPLE,
        }
    ),
]

ActionType = any_case(*ACTION_TYPES.values())
PHONES_DOC = "phone numbers; one that is not valid gets a per-number outcome (it is left out), not a 400"


# -- parts of action bodies -------------------------------------------------------------------------------------
class Option(Body):
    """An option of a SingleOption/MultiOption question."""

    title: NonBlank


class Question(Body):
    """A survey or custom-package question; ``options`` only count (and are only checked) for option questions."""

    title: NonBlank
    type: any_case(*QUESTION_TYPES.values())  # type: ignore[valid-type]
    options: Annotated[
        list[Option],
        Field(
            validate_default=True,
            description="required (non-empty) for SingleOption and MultiOption, ignored for other types",
        ),
    ] = []
    is_invisible: Annotated[LenientBool | None, Field(alias="isInvisible")] = None

    @model_validator(mode="before")
    @classmethod
    def _options_of_option_questions_only(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        kind = next((v for k, v in data.items() if str(k).lower() == "type"), None)
        if isinstance(kind, str) and QUESTION_TYPES.get(kind.lower()) in OPTION_QUESTIONS:
            return data
        return {k: v for k, v in data.items() if str(k).lower() != "options"}

    @field_validator("options")
    @classmethod
    def _options_needed(cls, value: list[Option], info: ValidationInfo) -> list[Option]:
        kind = info.data.get("type")
        if kind in OPTION_QUESTIONS and not value:
            raise ValueError(f"is required (a non-empty array) for a {kind} question")
        return value

    def normalised(self) -> dict[str, Any]:
        """The stored question: ``{title, type, options[, isInvisible]}``."""
        out: dict[str, Any] = {
            "title": self.title,
            "type": self.type,
            "options": [{"title": o.title} for o in self.options],
        }
        if self.is_invisible is not None:
            out["isInvisible"] = self.is_invisible
        return out


class Property(Body):
    """A survey or custom-package property."""

    name: NonBlank
    type: any_case(*PROPERTY_TYPES.values())  # type: ignore[valid-type]
    value: StrictStr = ""

    def normalised(self) -> dict[str, Any]:
        return {"name": self.name, "type": self.type, "value": self.value}


class Location(Body):
    """A place: ``{latitude, longitude, name}`` (finite doubles)."""

    latitude: FiniteFloat
    longitude: FiniteFloat
    name: StrictStr = ""

    def normalised(self) -> dict[str, Any]:
        return {"latitude": self.latitude, "longitude": self.longitude, "name": self.name}


class Choice(Body):
    """A poll choice."""

    title: NonBlank
    image: Annotated[StrictStr | None, Field(description="an Image mediaResource")] = None


def _someone_valid(value: list[str]) -> list[str]:
    if not split_phones(value)[0]:
        raise ValueError("has no valid phone number (numbers that are not valid are left out; a job needs an assignee)")
    return value


def _falsy_is_empty(value: Any) -> Any:
    return value or []


# -- action bodies per type -------------------------------------------------------------------------------------
class JobBody(Body):
    """Job: a task assigned to people (numbers that are not valid are left out; at least one must be valid)."""

    title: NonBlank
    assigned_to: Annotated[
        list[StrictStr], Field(alias="assignedTo", min_length=1, description=PHONES_DOC), AfterValidator(_someone_valid)
    ]
    due_date: Annotated[Hours, Field(alias="dueDate", description="hours from now (default 24)")] = DEFAULT_DUE_HOURS
    text: StrictStr | None = None
    description: Annotated[StrictStr | None, Field(description="used as text when text is not given")] = None


class SurveyBody(Body):
    """Survey: questions answered positionally."""

    title: NonBlank
    questions: Annotated[list[Question], Field(min_length=1)]
    due_date: Annotated[Hours, Field(alias="dueDate", description="hours from now (default 24)")] = DEFAULT_DUE_HOURS
    is_anonymous: Annotated[LenientBool, Field(alias="isAnonymous")] = False
    is_sender_only: Annotated[LenientBool, Field(alias="isSenderOnly")] = False
    accept_multiple_responses: Annotated[LenientBool, Field(alias="acceptMultipleResponses")] = False
    properties: list[Property] = []
    description: StrictStr | None = None
    visibility: StrictStr | None = None
    cover_image: Annotated[StrictStr | None, Field(alias="coverImage")] = None


class PollBody(Body):
    """Poll: one question, answered with one choice title."""

    question: NonBlank
    choices: Annotated[list[Choice], Field(min_length=1)]
    expiry_in_hours: Annotated[Hours, Field(alias="expiryInHours", description="default 720")] = DEFAULT_POLL_HOURS
    is_sender_only: Annotated[LenientBool, Field(alias="isSenderOnly")] = False


class LetsMeetBody(Body):
    """LetsMeet: a meeting, answered Yes, No or Maybe."""

    title: NonBlank
    starting_time: Annotated[IsoMs, Field(alias="startingTime")]
    duration: Annotated[PositiveInt | None, Field(description="minutes (default 30)")] = None
    duration_in_mins: Annotated[
        PositiveInt | None, Field(alias="durationInMins", description="alias of duration (duration wins)")
    ] = None
    place: Location | None = None
    agenda: StrictStr = ""
    is_sender_only: Annotated[LenientBool, Field(alias="isSenderOnly")] = False


class AnnouncementBody(Body):
    """Announcement: a message with optional media."""

    message: NonBlank
    title: StrictStr = ""
    media_resources: Annotated[list[StrictStr], Field(alias="mediaResources", description="mediaResource strings")] = []


class MediaBody(Body):
    """Image, Album, Audio, Document, Video: an uploaded mediaResource of that kind (Image ones also for Album)."""

    media_resource: Annotated[StrictStr, Field(alias="mediaResource")]
    caption: StrictStr = ""


class CustomBody(Body):
    """A custom action package instance: all optional (the package defines the rest)."""

    properties: list[Property] = []
    title: StrictStr = ""
    validity: Annotated[Hours | None, Field(description="hours (default 24)")] = None
    questions: Annotated[
        list[Question], BeforeValidator(_falsy_is_empty), Field(description="the package's questions, if known")
    ] = []


# -- AC1 bodies -------------------------------------------------------------------------------------------------
class _Post(Body):
    """What every AC1 variant takes besides its type and body: on public groups, whom it goes to."""

    send_to_all: Annotated[
        LenientBool, Field(alias="sendToAllSubscribers", description="public groups only; needs an admin")
    ] = False
    subscribers: Annotated[list[StrictStr], Field(description=f"public groups only; {PHONES_DOC}")] = []


class JobPost(_Post):
    """AC1 with a Job."""

    action_type: Annotated[any_case("Job"), Field(alias="actionType")]  # type: ignore[valid-type]
    action_body: Annotated[JobBody, Field(alias="actionBody")]


class SurveyPost(_Post):
    """AC1 with a Survey."""

    action_type: Annotated[any_case("Survey"), Field(alias="actionType")]  # type: ignore[valid-type]
    action_body: Annotated[SurveyBody, Field(alias="actionBody")]


class PollPost(_Post):
    """AC1 with a Poll."""

    action_type: Annotated[any_case("Poll"), Field(alias="actionType")]  # type: ignore[valid-type]
    action_body: Annotated[PollBody, Field(alias="actionBody")]


class LetsMeetPost(_Post):
    """AC1 with a LetsMeet."""

    action_type: Annotated[any_case("LetsMeet"), Field(alias="actionType")]  # type: ignore[valid-type]
    action_body: Annotated[LetsMeetBody, Field(alias="actionBody")]


class AnnouncementPost(_Post):
    """AC1 with an Announcement."""

    action_type: Annotated[any_case("Announcement"), Field(alias="actionType")]  # type: ignore[valid-type]
    action_body: Annotated[AnnouncementBody, Field(alias="actionBody")]


class MediaPost(_Post):
    """AC1 with a media action."""

    action_type: Annotated[any_case(*MEDIA_TYPES), Field(alias="actionType")]  # type: ignore[valid-type]
    action_body: Annotated[MediaBody, Field(alias="actionBody")]


class CustomPost(_Post):
    """AC1 with a custom action package instance (``id`` instead of ``actionType``)."""

    id: PackageId
    action_body: Annotated[CustomBody, Field(alias="actionBody")]


class _ActionKind(Body):
    """Which AC1 variant a body is: exactly one of ``actionType`` and ``id``."""

    id: PackageId | None = None
    # Named as sent (no alias): an error about a missing field names the field, not an alias.
    actionType: Annotated[ActionType | None, Field(validate_default=True)] = None  # type: ignore[valid-type]

    @field_validator("actionType")
    @classmethod
    def _exactly_one(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is not None and info.data.get("id") is not None:
            raise ValueError("give exactly one of actionType and id (an action package id), not both")
        if value is None and "id" in info.data and info.data["id"] is None:
            raise ValueError("is required (or id, an action package id)")
        return value


AnyPost = JobPost | SurveyPost | PollPost | LetsMeetPost | AnnouncementPost | MediaPost | CustomPost
_VARIANTS: dict[str, type[AnyPost]] = {
    "Job": JobPost,
    "Survey": SurveyPost,
    "Poll": PollPost,
    "LetsMeet": LetsMeetPost,
    "Announcement": AnnouncementPost,
    **dict.fromkeys(MEDIA_TYPES, MediaPost),
    CUSTOM: CustomPost,
}


def _variant(data: Any) -> AnyPost:
    kind = _ActionKind.model_validate(data)
    return _VARIANTS[kind.actionType or CUSTOM].model_validate(data)


#: An AC1 body, validated as the variant its ``actionType`` or ``id`` names.
ActionPost = Annotated[AnyPost, PlainValidator(_variant, json_schema_input_type=AnyPost)]


# -- AC4 body ---------------------------------------------------------------------------------------------------
class Answers(Body):
    """AC4 ``actionBody``: ``isCompleted`` for a Job, positional ``answers`` (one per question) otherwise."""

    is_completed: Annotated[LenientBool | None, Field(alias="isCompleted", description="Job: required")] = None
    answers: Annotated[
        list[Any] | None,
        Field(
            description="other types: required, one per question, in order (option titles, text, numbers, epoch "
            "s or ms, {lt, lg, n}, mediaResource strings)"
        ),
    ] = None
    response_name: Annotated[StrictStr | None, Field(alias="responseName")] = None
    response_location: Annotated[Location | None, Field(alias="responseLocation")] = None


class ResponsePost(Body):
    """AC4 body: ``actionType`` (matching the action) or ``id`` (its package id or its own id), at least one."""

    id: Annotated[PackageId | None, Field(description="the action's package id or its actionId")] = None
    # Named as sent (no alias), as in :class:`_ActionKind`.
    actionType: Annotated[
        ActionType | None,  # type: ignore[valid-type]
        Field(validate_default=True, description="must match the action"),
    ] = None
    response_id: Annotated[StrictStr | None, Field(alias="responseId", description="update this (own) response")] = None
    action_body: Annotated[Answers, Field(alias="actionBody")]

    @field_validator("actionType")
    @classmethod
    def _one_at_least(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None and "id" in info.data and info.data["id"] is None:
            raise ValueError("is required (or id, an action package id)")
        return value


# -- response bodies (documentation only) -----------------------------------------------------------------------
class ActionPosted(Answer):
    """AC1 answer."""

    referenceId: str
    actionId: Annotated[str | None, Field(description="not on media actions (extension)")] = None


class ActionSummary(Answer):
    """An AC2 list item."""

    referenceId: str
    actionType: Annotated[str, Field(json_schema_extra={"enum": [*ACTION_TYPES.values(), CUSTOM]})]
    sender: str
    sentAt: Annotated[str, Field(description="ISO-8601 UTC, whole seconds")]
    actionBody: Annotated[dict[str, Any], Field(description="the per-type list body (API notes, Actions)")]
    actionPackageId: Annotated[str | None, Field(description="custom actions")] = None
    actionId: Annotated[str | None, Field(description="extension")] = None
    sentAtMs: Annotated[int | None, Field(description="extension: sentAt in epoch ms")] = None


class ActionPage(Answer):
    """AC2 answer: ``hasMore`` is true whenever the page filled up to ``count``."""

    actions: list[ActionSummary]
    hasMore: bool


class QuestionOut(Answer):
    """A question as stored and shown."""

    title: str
    type: Annotated[str, Field(json_schema_extra={"enum": list(QUESTION_TYPES.values())})]
    options: list[dict[str, str]]
    isInvisible: bool | None = None


class ActionDetails(Answer):
    """AC3 ``actionDetails``: the list body plus per-type details; ``responses`` with ``getDetails``."""

    responseCount: Annotated[int | None, Field(ge=0)] = None
    questions: list[QuestionOut] | None = None
    responses: list[dict[str, Any]] | None = None


class ActionFound(Answer):
    """AC3 answer."""

    actionId: str
    referenceId: str
    actionType: Annotated[str, Field(json_schema_extra={"enum": [*ACTION_TYPES.values(), CUSTOM]})]
    sender: str
    sentAt: str
    actionDetails: ActionDetails


class ResponsePosted(Answer):
    """AC4 answer."""

    responseId: str
