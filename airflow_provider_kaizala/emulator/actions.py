"""Actions (AC1-AC4), served by FastAPI: Job, Survey, Poll, LetsMeet, Announcement, media and custom packages, and
the admin view of posted actions and responses (``/_emulator/actions``).

Every posted action and response is recorded (admin ``GET /_emulator/actions``) and nothing is de-duplicated:
a retried POST creates a second action / response, which lets tests prove a client does not repeat unsafe calls.
The request and response models are in :mod:`.action_models`. Annotations are evaluated eagerly: FastAPI reads
the dependencies declared inside :func:`router` from them.
"""

import math
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query
from starlette.responses import Response

from airflow_provider_kaizala.emulator.access import GroupAccess, audience
from airflow_provider_kaizala.emulator.action_models import ACTION_TYPES as ACTION_TYPES
from airflow_provider_kaizala.emulator.action_models import (
    CUSTOM,
    DEFAULT_DUE_HOURS,
    LISTABLE,
    ActionFound,
    ActionPage,
    ActionPost,
    ActionPosted,
    AnnouncementBody,
    AnyPost,
    CustomBody,
    CustomPost,
    JobBody,
    LetsMeetBody,
    MediaBody,
    PollBody,
    ResponsePost,
    ResponsePosted,
    SurveyBody,
    finite_number,
)
from airflow_provider_kaizala.emulator.action_models import PROPERTY_TYPES as PROPERTY_TYPES
from airflow_provider_kaizala.emulator.action_models import QUESTION_TYPES as QUESTION_TYPES
from airflow_provider_kaizala.emulator.media import MEDIA_TYPES
from airflow_provider_kaizala.emulator.models import INT64_MAX, LenientBool, PositiveInt, any_case
from airflow_provider_kaizala.emulator.services import Caller, Services, admin, answers, resource
from airflow_provider_kaizala.emulator.state import (
    Action,
    ActionResponse,
    Group,
    MediaResource,
    State,
    display_name,
    split_phones,
    user_id,
)
from airflow_provider_kaizala.emulator.wire import bad_request, forbidden, iso_ms, json_response, not_found

RESPONDABLE = ("Job", "Survey", "Poll", "LetsMeet", CUSTOM)
#: Event types per action type: (created, response).
EVENTS = {
    "Job": ("JobCreated", "JobResponse"),
    "Survey": ("SurveyCreated", "SurveyResponse"),
    "Poll": ("PollCreated", "PollResponse"),
    "LetsMeet": ("LetsMeetCreated", "LetsMeetResponse"),
    CUSTOM: ("ActionCreated", "ActionResponse"),
}
LETSMEET_OPTIONS = ("Yes", "No", "Maybe")
DEFAULT_MEETING_MINUTES = 30
DEFAULT_PAGE = 30
MAX_PAGE = 100
HOUR_MS = 3_600_000


def media_of(state: State, resource: str, name: str) -> MediaResource:
    """The stored media of a ``mediaResource`` string issued by this emulator (400 naming ``name`` otherwise)."""
    found = state.media.get(resource) if resource else None
    if found is None:
        raise bad_request(f"Parameter {name}: is not a mediaResource issued by this service")
    return found


# -- per-type bodies (normalised; camelCase) --------------------------------------------------------------------
def _due(hours: int, now: int, key: str, ms_key: str) -> dict[str, Any]:
    return {key: iso_ms(now + hours * HOUR_MS), ms_key: now + hours * HOUR_MS}


def _job(body: JobBody, now: int) -> dict[str, Any]:
    assignees, _invalid = split_phones(body.assigned_to)  # numbers that are not valid are left out
    out = {"title": body.title, "assignedTo": assignees, **_due(body.due_date, now, "dueDate", "dueDateMs")}
    text = body.text or body.description
    if text is not None:
        out["text"] = text
    return out


def _survey(body: SurveyBody, now: int) -> dict[str, Any]:
    out: dict[str, Any] = {
        "title": body.title,
        "questions": [q.normalised() for q in body.questions],
        **_due(body.due_date, now, "expiryDate", "expiryMs"),
        "isAnonymous": body.is_anonymous,
        "isSenderOnly": body.is_sender_only,
        "acceptMultipleResponses": body.accept_multiple_responses,
        "properties": [p.normalised() for p in body.properties],
    }
    for name, value in (("description", body.description), ("visibility", body.visibility)):
        if value is not None:
            out[name] = value
    if body.cover_image is not None:
        out["coverImage"] = body.cover_image
    return out


def _poll(state: State, body: PollBody, now: int) -> dict[str, Any]:
    choices = []
    for i, c in enumerate(body.choices):
        choice = {"title": c.title}
        if c.image is not None:
            name = f"actionBody.choices[{i}].image"
            image = media_of(state, c.image, name)
            if image.action_type != "Image":
                raise bad_request(f"Parameter {name}: must be an Image mediaResource")
            choice["image"] = image.files[0].url
        choices.append(choice)
    return {
        "question": body.question,
        "choices": choices,
        **_due(body.expiry_in_hours, now, "expiryDate", "expiryMs"),
        "isSenderOnly": body.is_sender_only,
    }


def _letsmeet(body: LetsMeetBody) -> dict[str, Any]:
    duration = body.duration or body.duration_in_mins or DEFAULT_MEETING_MINUTES
    out: dict[str, Any] = {
        "title": body.title,
        "startingTime": iso_ms(body.starting_time),
        "duration": duration,
        "agenda": body.agenda,
        "isSenderOnly": body.is_sender_only,
    }
    if body.place is not None:
        out["place"] = body.place.normalised()
    return out


def _announcement(state: State, body: AnnouncementBody) -> dict[str, Any]:
    media = [media_of(state, r, f"actionBody.mediaResources[{i}]") for i, r in enumerate(body.media_resources)]
    return {
        "title": body.title,
        "message": body.message,
        "media": [{"url": f.url, "fileName": f.name} for m in media for f in m.files],
    }


def _media(state: State, body: MediaBody, action_type: str) -> dict[str, Any]:
    resource = media_of(state, body.media_resource, "actionBody.mediaResource")
    ok = resource.action_type == action_type or (action_type == "Album" and resource.action_type == "Image")
    if not ok:
        raise bad_request(
            f"Parameter actionBody.mediaResource: a {resource.action_type} resource cannot be used for {action_type}"
        )
    return {
        "caption": body.caption,
        "media": [{"mediaUrl": f.url, "mediaFileName": f.name} for f in resource.files],
    }


def _custom(body: CustomBody, now: int) -> dict[str, Any]:
    out: dict[str, Any] = {"properties": [p.normalised() for p in body.properties], "title": body.title}
    if body.validity is not None:
        out["validity"] = body.validity
    out["questions"] = [q.normalised() for q in body.questions]
    out.update(_due(body.validity or DEFAULT_DUE_HOURS, now, "expiryDate", "expiryMs"))
    return out


def normalised_body(state: State, post: AnyPost, kind: str, now: int) -> dict[str, Any]:
    """The stored ``actionBody`` of a validated AC1 body (400 for a mediaResource that is not usable)."""
    body = post.action_body
    if isinstance(body, JobBody):
        return _job(body, now)
    if isinstance(body, SurveyBody):
        return _survey(body, now)
    if isinstance(body, PollBody):
        return _poll(state, body, now)
    if isinstance(body, LetsMeetBody):
        return _letsmeet(body)
    if isinstance(body, AnnouncementBody):
        return _announcement(state, body)
    if isinstance(body, MediaBody):
        return _media(state, body, kind)
    return _custom(body, now)


def _questions_of(action: Action) -> list[dict[str, Any]]:
    """The questions a response answers positionally (Poll/LetsMeet are one single-option question)."""
    body = action.body
    if action.action_type == "Poll":
        options = [{"title": c["title"]} for c in body["choices"]]
        return [{"title": body["question"], "type": "SingleOption", "options": options}]
    if action.action_type == "LetsMeet":
        return [{"title": body["title"], "type": "SingleOption", "options": [{"title": t} for t in LETSMEET_OPTIONS]}]
    return list(body.get("questions", []))


def created_event(action: Action) -> tuple[str, dict[str, Any]]:
    """The webhook event (type, data) of a new action."""
    body = action.body
    kind = action.action_type
    if kind in MEDIA_TYPES:
        data = {"media": body["media"], "actionType": kind, "caption": body["caption"], "actionId": action.action_id}
        return "AttachmentCreated", data
    if kind == "Announcement":
        data = {"title": body["title"], "text": body["message"], "media": body["media"], "actionId": action.action_id}
        return "Announcement", data
    if kind == "Job":
        data = {
            "actionId": action.action_id,
            "groupId": action.group_id,
            "title": body["title"],
            "dueDate": body["dueDate"],
            "assignedTo": body["assignedTo"],
        }
        if "text" in body:
            data["text"] = body["text"]
        return EVENTS[kind][0], data
    data = {
        "actionId": action.action_id,
        "groupId": action.group_id,
        "actionType": kind,
        "title": body.get("title", body.get("question", "")),
        "questions": _questions_of(action),
    }
    if action.package_id is not None:
        data["actionPackageId"] = action.package_id
    return EVENTS[kind][0], data


# -- AC2 / AC3 --------------------------------------------------------------------------------------------------
def list_body(action: Action) -> dict[str, Any]:
    """``actionBody`` of an AC2 list item (the documented per-type table)."""
    body = action.body
    kind = action.action_type
    if kind in MEDIA_TYPES:
        urls = [m["mediaUrl"] for m in body["media"]]
        out: dict[str, Any] = {"caption": body["caption"]}
        if kind in ("Image", "Album"):
            out["imageUrl"] = urls[0]
            if kind == "Album":
                out["imageUrls"] = urls
        else:
            out["mediaUrl"] = urls[0]
            out["fileName"] = body["media"][0]["mediaFileName"]
        return out
    base: dict[str, Any] = {"actionId": action.action_id}
    if kind == "Job":
        base.update(
            {
                "title": body["title"],
                "assigneeCount": len(body["assignedTo"]),
                "responseCount": len(action.responses),
                "isCompleted": job_completed(action),
            }
        )
    elif kind == "Poll":
        base.update(
            {
                "question": body["question"],
                "isSenderOnly": body["isSenderOnly"],
                "expiryDate": body["expiryDate"],
                "choices": body["choices"],
            }
        )
    elif kind == "LetsMeet":
        base.update({k: body[k] for k in ("title", "startingTime", "agenda", "duration", "isSenderOnly")})
        base["place"] = body.get("place", {"latitude": 0.0, "longitude": 0.0, "name": ""})
    elif kind == "Announcement":
        base.update({"title": body["title"], "message": body["message"], "media": body["media"]})
    else:  # Survey, Custom
        base.update({"title": body["title"], "responseCount": len(action.responses), "expiryDate": body["expiryDate"]})
        if kind == CUSTOM:
            base["properties"] = body["properties"]
    return base


def job_completed(action: Action) -> bool:
    done = {r.responder for r in action.responses if r.is_completed}
    return all(p in done for p in action.body["assignedTo"])


def _item(action: Action, extensions: bool) -> dict[str, Any]:
    item: dict[str, Any] = {
        "referenceId": action.reference_id,
        "actionType": action.action_type,
        "sender": action.sender,
        "sentAt": iso_ms(action.sent_ms),
        "actionBody": list_body(action),
    }
    if action.package_id is not None:  # custom actions: which package (listed by its ``id``)
        item["actionPackageId"] = action.package_id
    if extensions:  # undocumented conveniences, only with the extensions switch
        item["actionId"] = action.action_id
        item["sentAtMs"] = action.sent_ms
    return item


def action_details(action: Action, details: bool) -> dict[str, Any]:
    """``actionDetails`` of AC3 (``responses`` with ``getDetails``)."""
    body = action.body
    out = list_body(action)
    kind = action.action_type
    if kind == "Job":
        out.update({"dueDate": body["dueDate"], "status": job_completed(action), "assignedTo": body["assignedTo"]})
        if details:
            out["responses"] = [
                {
                    "responseId": r.response_id,
                    "assignee": r.responder,
                    "assigneeName": display_name(r.responder),
                    "assigneeProfilePic": "",
                    "isCompleted": bool(r.is_completed),
                    "lastModifiedTime": r.updated_ms,
                }
                for r in action.responses
            ]
    elif kind in RESPONDABLE:
        if kind in ("Survey", CUSTOM):
            out.update({"questions": body["questions"], "isAnonymous": body.get("isAnonymous", False)})
        out["responseCount"] = len(action.responses)
        if details:
            out["responses"] = [response_block(action, r, is_update=r.update_count > 0) for r in action.responses]
    return out


def find_action(state: State, group_id: str, action_id: str) -> Action:
    action = state.actions.get(action_id)
    if action is None or action.group_id != group_id:
        raise not_found(f"Action {action_id} not found in group {group_id}")
    return action


def response_block(action: Action, r: ActionResponse, *, is_update: bool = False) -> dict[str, Any]:
    """A survey-style response (the ``SurveyResponse`` event fields)."""
    anonymous = bool(action.body.get("isAnonymous"))
    questions = _questions_of(action) or [_free_question(a) for a in r.answers or []]
    blocks = []
    for question, answer in zip(questions, r.answers or [], strict=False):
        block = {"title": question["title"], "type": question["type"], "options": question["options"]}
        block["answer"] = answer
        if question.get("isInvisible"):
            block["isInvisible"] = True
        blocks.append(block)
    blocks.append(
        {"title": "ResponseTime", "type": "DateTime", "options": [], "answer": r.updated_ms, "isInvisible": True}
    )
    out: dict[str, Any] = {
        "actionId": action.action_id,
        "groupId": action.group_id,
        "responseId": r.response_id,
        "isUpdateResponse": is_update,
        "responder": "" if anonymous else r.responder,
        "responderId": "" if anonymous else user_id(r.responder),
        "responderName": "" if anonymous else display_name(r.responder),
        "responderProfilePic": "",
        "isAnonymous": anonymous,
        "lastModifiedTime": r.updated_ms,
        "responseDetails": {"responseWithQuestions": blocks},
    }
    if action.package_id is not None:
        out["actionPackageId"] = out["packageId"] = action.package_id
    return out


def _free_question(answer: Any) -> dict[str, Any]:
    """The question block of an answer to a custom package whose questions the emulator does not know."""
    if isinstance(answer, bool) or not isinstance(answer, (int, float, list, dict)):
        qtype = "Text"
    elif isinstance(answer, list):
        qtype = "MultiOption"
    elif isinstance(answer, dict):
        qtype = "Location"
    else:
        qtype = "Numeric"
    return {"title": "", "type": qtype, "options": []}


# -- AC4 --------------------------------------------------------------------------------------------------------
def _lower_keys(value: Any) -> Any:
    """``value`` with the keys of every JSON object inside it lower-cased (answers bind keys in any case)."""
    if isinstance(value, dict):
        return {str(k).lower(): _lower_keys(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_lower_keys(v) for v in value]
    return value


def _number(value: Any, name: str) -> int | float:
    try:
        return finite_number(value)
    except ValueError as exc:
        raise bad_request(f"Parameter {name}: {exc}") from None


def _media_answer(state: State, resources: list[str], name: str) -> list[dict[str, str]]:
    """Image/AttachmentList answers as documented in responses: ``[{"mediaUrl", "mediaFileName"}]``."""
    files = [f for i, r in enumerate(resources) for f in media_of(state, r, f"{name}[{i}]").files]
    return [{"mediaUrl": f.url, "mediaFileName": f.name} for f in files]


#: 9999-12-31T23:59:59.999Z in epoch ms: a Date/DateTime answer beyond it (either side of 1970) is no date.
LAST_MS_OF_9999 = 253_402_300_799_999


def _answer(state: State, question: dict[str, Any], value: Any, name: str) -> Any:
    qtype = question["type"]
    if value is None and question.get("isInvisible"):
        return None
    if qtype == "Image":  # "Image answer = a mediaResource"
        if not isinstance(value, str):
            raise bad_request(f"Parameter {name}: must be a mediaResource string for an Image question")
        return _media_answer(state, [value], name)
    if qtype in ("SingleOption", "Text"):
        if not isinstance(value, str):
            raise bad_request(f"Parameter {name}: must be a string for a {qtype} question")
        if qtype == "SingleOption" and value not in {o["title"] for o in question["options"]}:
            raise bad_request(f"Parameter {name}: must be one of the question's option titles")
        return value
    if qtype in ("MultiOption", "AttachmentList"):
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise bad_request(f"Parameter {name}: must be an array of strings for a {qtype} question")
        if qtype == "MultiOption":
            titles = {o["title"] for o in question["options"]}
            bad = [v for v in value if v not in titles]
            if bad:
                raise bad_request(f"Parameter {name}: has values that are not option titles: {bad}")
            return value
        return _media_answer(state, value, name)
    if qtype == "Numeric":
        return _number(value, name)
    if qtype in ("Date", "DateTime"):
        number = _number(value, name)
        ms = number * 1000 if number < 100_000_000_000 else number  # epoch s -> ms
        if not (math.isfinite(ms) and -LAST_MS_OF_9999 <= ms <= LAST_MS_OF_9999):
            raise bad_request(f"Parameter {name}: is not an instant between the years 1 and 9999")
        return int(ms)
    if qtype == "Location":
        if not isinstance(value, dict):
            raise bad_request(f"Parameter {name}: must be an object {{lt, lg, n}} for a Location question")
        loc = _lower_keys(value)
        label = loc.get("n")
        return {
            "lt": float(_number(loc.get("lt"), f"{name}.lt")),
            "lg": float(_number(loc.get("lg"), f"{name}.lg")),
            "n": label if isinstance(label, str) else "",
        }
    raise bad_request(f"Unsupported question type {qtype}")  # pragma: no cover


def response_event(action: Action, r: ActionResponse, is_update: bool) -> tuple[str, dict[str, Any]]:
    """The webhook event (type, data) of a new or updated response."""
    event = EVENTS[action.action_type][1]
    if action.action_type != "Job":
        data = response_block(action, r, is_update=is_update)
        data.pop("lastModifiedTime", None)
        return event, data
    return event, {
        "actionId": action.action_id,
        "groupId": action.group_id,
        "responseId": r.response_id,
        "isUpdateResponse": is_update,
        "responseDetails": {
            "response": {
                "assignee": r.responder,
                "assigneeName": display_name(r.responder),
                "assigneeProfilePic": "",
                "isCompleted": bool(r.is_completed),
            }
        },
    }


def check_target(action: Action, post: ResponsePost) -> None:
    """400 unless the AC4 body's ``actionType``/``id`` name ``action`` and the action takes responses."""
    # The docs name ``Survey``/``Job`` as the response types: ``Survey`` answers any question-based action.
    survey_like = post.actionType == "Survey" and action.action_type != "Job"
    if post.actionType is not None and post.actionType != action.action_type and not survey_like:
        raise bad_request(f"Parameter actionType: {post.actionType} does not match the action ({action.action_type})")
    # ``id`` is "ID associated with the Action Instance" in the Swagger: the package id or the action's own id
    if post.id is not None and post.id not in (action.package_id, action.action_id):
        raise bad_request("Parameter id: does not match the action's package id (nor its actionId)")
    if action.action_type not in RESPONDABLE:
        raise bad_request(f"A {action.action_type} action does not take responses")


def record_answers(state: State, action: Action, post: ResponsePost, response: ActionResponse) -> None:
    """Put the AC4 body's answers into ``response`` (400 when they do not fit the action's questions)."""
    body = post.action_body
    if action.action_type == "Job":
        if body.is_completed is None:
            raise bad_request("Parameter actionBody.isCompleted: is required for a Job response")
        response.is_completed = body.is_completed
        return
    if body.answers is None:
        raise bad_request("Parameter actionBody.answers: is required (an array, one answer per question)")
    questions = _questions_of(action)
    if action.action_type == CUSTOM and not questions:
        # The package defines the questions (the emulator does not know packages): answers are kept as given.
        response.answers = _lower_keys(body.answers)
    else:
        if len(body.answers) != len(questions):
            raise bad_request(
                f"Parameter actionBody.answers: must have one answer per question ({len(questions)}), "
                f"got {len(body.answers)}"
            )
        response.answers = [
            _answer(state, q, a, f"actionBody.answers[{i}]")
            for i, (q, a) in enumerate(zip(questions, body.answers, strict=True))
        ]
    if body.response_name is not None:
        response.response_name = body.response_name
    if body.response_location is not None:
        response.response_location = body.response_location.normalised()


# -- routes -----------------------------------------------------------------------------------------------------
ActionId = Annotated[str, Path(description="Action id")]


def router(services: Services) -> APIRouter:
    """AC1-AC4 and the admin view of actions, bound to ``services``."""
    api = APIRouter()
    state = services.state
    events = services.events

    access = GroupAccess(state)

    async def found(group: Annotated[Group, Depends(access.visible)], actionId: ActionId) -> Action:
        return find_action(state, group.group_id, actionId)

    async def respondable(group: Annotated[Group, Depends(access.member)], actionId: ActionId) -> Action:
        return find_action(state, group.group_id, actionId)

    @api.post(
        "/v1/groups/{groupId}/actions",
        openapi_extra=resource("action.write"),
        response_model=ActionPosted,
        responses=answers(400, 403, 404),
        description="Exactly one of actionType (any case) and id (a custom action package).",
    )
    async def post_action(group: Annotated[Group, Depends(access.member)], conn: Caller, body: ActionPost) -> Response:
        targets, _ = audience(state, conn, group, body.send_to_all, body.subscribers)  # invalid: not delivered
        kind, package_id = (CUSTOM, body.id) if isinstance(body, CustomPost) else (body.action_type, None)
        now = int(state.clock.now() * 1000)
        action = Action(
            action_id=state.new_guid(),
            reference_id=state.new_guid(),
            group_id=group.group_id,
            action_type=kind,
            package_id=package_id,
            body=normalised_body(state, body, kind, now),
            sender=conn.phone,
            sent_ms=state.next_action_ms(),
            subscribers=targets,
            send_to_all=body.send_to_all,
        )
        state.actions[action.action_id] = action
        event, data = created_event(action)
        if kind in MEDIA_TYPES or kind == "Announcement":
            events.dispatch(event, action.group_id, data, conn.phone)
        else:
            events.emit_action(event, action, data)
        if kind in MEDIA_TYPES and not services.faults.config.extensions:
            return json_response({"referenceId": action.reference_id})  # media actions: "referenceId only in sample"
        return json_response({"referenceId": action.reference_id, "actionId": action.action_id})

    @api.get(
        "/v1/groups/{groupId}/actions",
        openapi_extra=resource("action.read"),
        response_model=ActionPage,
        responses=answers(400, 403, 404),
    )
    async def list_actions(
        group: Annotated[Group, Depends(access.visible)],
        actionType: Annotated[
            any_case(*LISTABLE.values()) | None,  # type: ignore[valid-type]
            Query(description="in any case; required unless id is given"),
        ] = None,
        id: Annotated[str | None, Query(description="a custom action package id")] = None,
        fromDate: Annotated[int, Query(ge=0, le=INT64_MAX, description="epoch ms, inclusive")] = 0,
        count: Annotated[
            PositiveInt, Query(description=f"default {DEFAULT_PAGE}, clamped to {MAX_PAGE}")
        ] = DEFAULT_PAGE,
    ) -> Response:
        if actionType is None and id is None:
            raise bad_request("Parameter actionType: is required (or id, an action package id)")
        count = min(count, MAX_PAGE)
        matching = [
            a
            for a in state.actions.values()
            if a.group_id == group.group_id
            and (actionType is None or a.action_type == actionType)
            and (id is None or a.package_id == id)
            and a.sent_ms >= fromDate
        ]
        matching.sort(key=lambda a: a.sent_ms)
        page = matching[:count]
        extensions = services.faults.config.extensions
        # "hasMore is true when the page filled up to count" (also on an exactly full last page)
        return json_response({"actions": [_item(a, extensions) for a in page], "hasMore": len(page) == count})

    @api.get(
        "/v1/groups/{groupId}/actions/{actionId}",
        openapi_extra=resource("action.read"),
        response_model=ActionFound,
        responses=answers(400, 403, 404),
    )
    async def get_action(
        action: Annotated[Action, Depends(found)],
        getDetails: Annotated[LenientBool, Query(description="include the responses")] = False,
    ) -> Response:
        return json_response(
            {
                "actionId": action.action_id,
                "referenceId": action.reference_id,
                "actionType": action.action_type,
                "sender": action.sender,
                "sentAt": iso_ms(action.sent_ms),
                "actionDetails": action_details(action, getDetails),
            }
        )

    @api.post(
        "/v1/groups/{groupId}/actions/{actionId}/responses",
        openapi_extra=resource("action.write"),
        response_model=ResponsePosted,
        responses=answers(400, 403, 404),
    )
    async def post_action_response(
        action: Annotated[Action, Depends(respondable)], conn: Caller, body: ResponsePost
    ) -> Response:
        check_target(action, body)
        now = int(state.clock.now() * 1000)
        existing: ActionResponse | None = None
        if body.response_id is not None:
            existing = next((r for r in action.responses if r.response_id == body.response_id), None)
            if existing is None:
                raise not_found(f"Response {body.response_id} not found for action {action.action_id}")
            if existing.responder != conn.phone:
                raise forbidden("Only the responder can update a response")
        response = existing or ActionResponse(state.new_guid(), action.action_id, conn.phone, created_ms=now)
        record_answers(state, action, body, response)
        response.updated_ms = now
        if existing is None:
            action.responses.append(response)
        else:
            existing.update_count += 1
        event, data = response_event(action, response, existing is not None)
        events.emit_action(event, action, data)
        return json_response({"responseId": response.response_id})

    @api.get("/_emulator/actions", openapi_extra=admin(), include_in_schema=False)
    async def admin_actions(groupId: Annotated[str | None, Query()] = None) -> Response:
        return json_response(
            {"actions": [a.to_json() for a in state.actions.values() if groupId is None or a.group_id == groupId]}
        )

    @api.get("/_emulator/actions/{actionId}/responses", openapi_extra=admin(), include_in_schema=False)
    async def admin_responses(actionId: ActionId) -> Response:
        action = state.actions.get(actionId)
        if action is None:
            raise not_found(f"Action {actionId} not found")
        return json_response({"responses": [r.to_json() for r in action.responses]})

    return api
