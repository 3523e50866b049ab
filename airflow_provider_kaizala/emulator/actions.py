"""Actions (AC1-AC4): Job, Survey, Poll, LetsMeet, Announcement, media and custom packages.

Every posted action and response is recorded (admin ``GET /_emulator/actions``) and nothing is de-duplicated:
a retried POST creates a second action / response, which lets tests prove a client does not repeat unsafe calls.
"""

from __future__ import annotations

import re
from typing import Any

from airflow_provider_kaizala.emulator import media as media_mod
from airflow_provider_kaizala.emulator.access import get_group, require_admin, require_member
from airflow_provider_kaizala.emulator.routing import Router
from airflow_provider_kaizala.emulator.state import Action, ActionResponse, display_name, user_id
from airflow_provider_kaizala.emulator.wire import (
    Reply,
    Request,
    bad_request,
    ci_deep,
    forbidden,
    iso_ms,
    not_found,
    parse_bool,
    parse_float,
    parse_int,
    parse_iso,
    parse_number,
    parse_phone_batch,
)

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
CUSTOM = "Custom"
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
DEFAULT_DUE_HOURS = 24
DEFAULT_POLL_HOURS = 720
DEFAULT_MEETING_MINUTES = 30
DEFAULT_PAGE = 30
MAX_PAGE = 100
HOUR_MS = 3_600_000
_GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}(@\d+)?$")
_DOTTED = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*(\.[A-Za-z0-9_-]+)+$")


# -- validation helpers ------------------------------------------------------------------------------
def _str(body: dict[str, Any], key: str, name: str, *, required: bool = True, default: str = "") -> str:
    value = body.get(key)
    if value is None and not required:
        return default
    if not isinstance(value, str) or (required and not value.strip()):
        raise bad_request(f"Parameter {name} is required and must be a non-empty string")
    return value


def _opt_str(body: dict[str, Any], key: str, name: str) -> str | None:
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise bad_request(f"Parameter {name} must be a string")
    return value


#: Longest due, expiry or validity period accepted (100 years): beyond it dates leave the calendar.
MAX_HOURS = 100 * 366 * 24


def _hours(body: dict[str, Any], key: str, name: str, default: int) -> int:
    value = body.get(key)
    hours = default if value is None else parse_int(value, name)
    if not 1 <= hours <= MAX_HOURS:
        raise bad_request(f"Parameter {name} must be a number of hours from 1 to {MAX_HOURS}")
    return hours


def _list(body: dict[str, Any], key: str, name: str) -> list[Any]:
    value = body.get(key)
    if not isinstance(value, list) or not value:
        raise bad_request(f"Parameter {name} is required and must be a non-empty array")
    return value


def _obj(value: Any, name: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise bad_request(f"Parameter {name} must be an object")
    return value


def _location(value: Any, name: str) -> dict[str, Any]:
    """``{latitude, longitude, name}`` (doubles)."""
    loc = _obj(value, name)
    out: dict[str, Any] = {
        "latitude": parse_float(loc.get("latitude"), f"{name}.latitude"),
        "longitude": parse_float(loc.get("longitude"), f"{name}.longitude"),
    }
    label = _opt_str(loc, "name", f"{name}.name")
    out["name"] = label or ""
    return out


def _questions(value: Any, name: str) -> list[dict[str, Any]]:
    if not isinstance(value, list) or not value:
        raise bad_request(f"Parameter {name} is required and must be a non-empty array")
    out = []
    for i, raw in enumerate(value):
        q = _obj(raw, f"{name}[{i}]")
        title = _str(q, "title", f"{name}[{i}].title")
        qtype = q.get("type")
        if not isinstance(qtype, str) or qtype.lower() not in QUESTION_TYPES:
            raise bad_request(f"Parameter {name}[{i}].type must be one of {', '.join(QUESTION_TYPES.values())}")
        canonical = QUESTION_TYPES[qtype.lower()]
        question: dict[str, Any] = {"title": title, "type": canonical, "options": []}
        if canonical in ("SingleOption", "MultiOption"):
            options = q.get("options")
            if not isinstance(options, list) or not options:
                raise bad_request(f"Parameter {name}[{i}].options is required for a {canonical} question")
            question["options"] = [
                {"title": _str(_obj(o, f"{name}[{i}].options[{j}]"), "title", f"{name}[{i}].options[{j}].title")}
                for j, o in enumerate(options)
            ]
        if q.get("isinvisible") is not None:
            question["isInvisible"] = parse_bool(q.get("isinvisible"), f"{name}[{i}].isInvisible")
        out.append(question)
    return out


def _properties(value: Any, name: str) -> list[dict[str, Any]]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise bad_request(f"Parameter {name} must be an array")
    out = []
    for i, raw in enumerate(value):
        p = _obj(raw, f"{name}[{i}]")
        ptype = p.get("type")
        if not isinstance(ptype, str) or ptype.lower() not in PROPERTY_TYPES:
            raise bad_request(f"Parameter {name}[{i}].type must be one of {', '.join(PROPERTY_TYPES.values())}")
        val = p.get("value")
        if val is not None and not isinstance(val, str):
            raise bad_request(f"Parameter {name}[{i}].value must be a string")
        out.append(
            {"name": _str(p, "name", f"{name}[{i}].name"), "type": PROPERTY_TYPES[ptype.lower()], "value": val or ""}
        )
    return out


# -- per-type bodies (normalised; camelCase) --------------------------------------------------------
def _job(req: Request, body: dict[str, Any], now: int) -> dict[str, Any]:
    title = _str(body, "title", "actionBody.title")
    assigned = body.get("assignedto")
    if not isinstance(assigned, list) or not assigned:
        raise bad_request("Parameter actionBody.assignedTo is required and must be a non-empty array of phone numbers")
    hours = _hours(body, "duedate", "actionBody.dueDate", DEFAULT_DUE_HOURS)
    assignees, _invalid = parse_phone_batch(assigned, "actionBody.assignedTo")
    if not assignees:  # numbers that are not valid are left out; a job needs someone to do it
        raise bad_request("Parameter actionBody.assignedTo has no valid phone number")
    out = {
        "title": title,
        "assignedTo": assignees,
        "dueDate": iso_ms(now + hours * HOUR_MS),
        "dueDateMs": now + hours * HOUR_MS,
    }
    text = _opt_str(body, "text", "actionBody.text") or _opt_str(body, "description", "actionBody.description")
    if text is not None:
        out["text"] = text
    return out


def _survey(req: Request, body: dict[str, Any], now: int) -> dict[str, Any]:
    hours = _hours(body, "duedate", "actionBody.dueDate", DEFAULT_DUE_HOURS)
    out: dict[str, Any] = {
        "title": _str(body, "title", "actionBody.title"),
        "questions": _questions(body.get("questions"), "actionBody.questions"),
        "expiryDate": iso_ms(now + hours * HOUR_MS),
        "expiryMs": now + hours * HOUR_MS,
        "isAnonymous": parse_bool(body.get("isanonymous"), "actionBody.isAnonymous"),
        "isSenderOnly": parse_bool(body.get("issenderonly"), "actionBody.isSenderOnly"),
        "acceptMultipleResponses": parse_bool(
            body.get("acceptmultipleresponses"), "actionBody.acceptMultipleResponses"
        ),
        "properties": _properties(body.get("properties"), "actionBody.properties"),
    }
    for key, name in (("description", "description"), ("visibility", "visibility"), ("coverimage", "coverImage")):
        value = _opt_str(body, key, f"actionBody.{name}")
        if value is not None:
            out[name] = value
    return out


def _poll(req: Request, body: dict[str, Any], now: int) -> dict[str, Any]:
    question = _str(body, "question", "actionBody.question")
    choices = []
    for i, raw in enumerate(_list(body, "choices", "actionBody.choices")):
        c = _obj(raw, f"actionBody.choices[{i}]")
        choice = {"title": _str(c, "title", f"actionBody.choices[{i}].title")}
        if c.get("image") is not None:
            image = media_mod.lookup(req, c.get("image"), f"actionBody.choices[{i}].image")
            if image.action_type != "Image":
                raise bad_request(f"Parameter actionBody.choices[{i}].image must be an Image mediaResource")
            choice["image"] = image.files[0].url
        choices.append(choice)
    hours = _hours(body, "expiryinhours", "actionBody.expiryInHours", DEFAULT_POLL_HOURS)
    return {
        "question": question,
        "choices": choices,
        "expiryDate": iso_ms(now + hours * HOUR_MS),
        "expiryMs": now + hours * HOUR_MS,
        "isSenderOnly": parse_bool(body.get("issenderonly"), "actionBody.isSenderOnly"),
    }


def _letsmeet(req: Request, body: dict[str, Any], now: int) -> dict[str, Any]:
    title = _str(body, "title", "actionBody.title")
    start = parse_iso(body.get("startingtime"), "actionBody.startingTime")
    raw_duration = body.get("duration", body.get("durationinmins"))
    duration = DEFAULT_MEETING_MINUTES if raw_duration is None else parse_int(raw_duration, "actionBody.duration")
    if duration < 1:
        raise bad_request("Parameter actionBody.duration must be a positive number of minutes")
    out: dict[str, Any] = {
        "title": title,
        "startingTime": iso_ms(start),
        "duration": duration,
        "agenda": _opt_str(body, "agenda", "actionBody.agenda") or "",
        "isSenderOnly": parse_bool(body.get("issenderonly"), "actionBody.isSenderOnly"),
    }
    if body.get("place") is not None:
        out["place"] = _location(body.get("place"), "actionBody.place")
    return out


def _announcement(req: Request, body: dict[str, Any], now: int) -> dict[str, Any]:
    message = _str(body, "message", "actionBody.message")
    title = _str(body, "title", "actionBody.title", required=False)
    resources = body.get("mediaresources")
    if resources is not None and not isinstance(resources, list):
        raise bad_request("Parameter actionBody.mediaResources must be an array of mediaResource strings")
    media = [media_mod.lookup(req, r, f"actionBody.mediaResources[{i}]") for i, r in enumerate(resources or [])]
    return {
        "title": title,
        "message": message,
        "media": [{"url": f.url, "fileName": f.name} for m in media for f in m.files],
    }


def _media(req: Request, body: dict[str, Any], action_type: str) -> dict[str, Any]:
    resource = media_mod.lookup(req, body.get("mediaresource"), "actionBody.mediaResource")
    ok = resource.action_type == action_type or (action_type == "Album" and resource.action_type == "Image")
    if not ok:
        raise bad_request(
            f"Parameter actionBody.mediaResource is a {resource.action_type} resource, not usable for {action_type}"
        )
    return {
        "caption": _opt_str(body, "caption", "actionBody.caption") or "",
        "media": [{"mediaUrl": f.url, "mediaFileName": f.name} for f in resource.files],
    }


def _custom(req: Request, body: dict[str, Any], now: int) -> dict[str, Any]:
    out: dict[str, Any] = {"properties": _properties(body.get("properties"), "actionBody.properties")}
    title = _opt_str(body, "title", "actionBody.title")
    out["title"] = title or ""
    if body.get("validity") is not None:
        out["validity"] = _hours(body, "validity", "actionBody.validity", DEFAULT_DUE_HOURS)
    out["questions"] = _questions(body["questions"], "actionBody.questions") if body.get("questions") else []
    hours = out.get("validity", DEFAULT_DUE_HOURS)
    out["expiryDate"] = iso_ms(now + hours * HOUR_MS)
    out["expiryMs"] = now + hours * HOUR_MS
    return out


_BUILDERS = {"Job": _job, "Survey": _survey, "Poll": _poll, "LetsMeet": _letsmeet, "Announcement": _announcement}


# -- AC1 ------------------------------------------------------------------------------------------------
def post_action(req: Request) -> Reply:
    group = get_group(req, req.params["groupId"])
    body = req.json()
    action_type, package_id = _type_or_id(body, required=True)
    raw = body.get("actionbody")
    if not isinstance(raw, dict):
        raise bad_request("Parameter actionBody is required and must be an object")
    action_body = ci_deep(raw)
    to_all = parse_bool(body.get("sendtoallsubscribers"), "sendToAllSubscribers")
    targets, invalid = parse_phone_batch(body.get("subscribers"), "subscribers")  # invalid ones: not delivered
    if (to_all or targets or invalid) and not group.is_public:
        raise bad_request("sendToAllSubscribers and subscribers are only allowed on public groups (ConnectGroup)")
    if to_all:
        require_admin(req, group)
    else:
        require_member(req, group)
    state = req.app.state
    now = int(state.clock.now() * 1000)
    kind = action_type or CUSTOM
    if kind in media_mod.MEDIA_TYPES:
        normalised = _media(req, action_body, kind)
    elif kind == CUSTOM:
        normalised = _custom(req, action_body, now)
    else:
        normalised = _BUILDERS[kind](req, action_body, now)
    conn = req.connector
    assert conn is not None
    action = Action(
        action_id=state.new_guid(),
        reference_id=state.new_guid(),
        group_id=group.group_id,
        action_type=kind,
        package_id=package_id,
        body=normalised,
        sender=conn.phone,
        sent_ms=state.next_action_ms(),
        subscribers=targets,
        send_to_all=to_all,
    )
    state.actions[action.action_id] = action
    _emit_created(req, action)
    if kind in media_mod.MEDIA_TYPES and not req.app.faults.config.extensions:
        return Reply({"referenceId": action.reference_id})  # media actions: "referenceId only in sample"
    return Reply({"referenceId": action.reference_id, "actionId": action.action_id})


def _type_or_id(body: dict[str, Any], *, required: bool) -> tuple[str | None, str | None]:
    raw_type, raw_id = body.get("actiontype"), body.get("id")
    if raw_type is not None and raw_id is not None and required:
        raise bad_request("Give exactly one of actionType and id, not both")
    if raw_type is None and raw_id is None:
        raise bad_request("Parameter actionType (or id, an action package id) is required")
    action_type = package_id = None
    if raw_type is not None:
        if not isinstance(raw_type, str) or raw_type.lower() not in ACTION_TYPES:
            raise bad_request(f"Parameter actionType must be one of {', '.join(ACTION_TYPES.values())}")
        action_type = ACTION_TYPES[raw_type.lower()]
    if raw_id is not None:
        if not isinstance(raw_id, str) or not (_GUID.match(raw_id) or _DOTTED.match(raw_id)):
            raise bad_request("Parameter id must be an action package id (a GUID or a dotted name)")
        package_id = raw_id
    return action_type, package_id


def _emit_created(req: Request, action: Action) -> None:
    state = req.app.state
    body = action.body
    kind = action.action_type
    data: dict[str, Any]
    if kind in media_mod.MEDIA_TYPES:
        state.emit(
            "AttachmentCreated",
            action.group_id,
            {"media": body["media"], "actionType": kind, "caption": body["caption"], "actionId": action.action_id},
        )
        return
    if kind == "Announcement":
        data = {"title": body["title"], "text": body["message"], "media": body["media"], "actionId": action.action_id}
        state.emit("Announcement", action.group_id, data)
        return
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
    else:
        data = {
            "actionId": action.action_id,
            "groupId": action.group_id,
            "actionType": kind,
            "title": body.get("title", body.get("question", "")),
            "questions": _questions_of(action),
        }
        if action.package_id is not None:
            data["actionPackageId"] = action.package_id
    req.app.deliverer.emit_action(EVENTS[kind][0], action, data)


def _questions_of(action: Action) -> list[dict[str, Any]]:
    """The questions a response answers positionally (Poll/LetsMeet are one single-option question)."""
    body = action.body
    if action.action_type == "Poll":
        options = [{"title": c["title"]} for c in body["choices"]]
        return [{"title": body["question"], "type": "SingleOption", "options": options}]
    if action.action_type == "LetsMeet":
        return [{"title": body["title"], "type": "SingleOption", "options": [{"title": t} for t in LETSMEET_OPTIONS]}]
    return list(body.get("questions", []))


# -- AC2 / AC3 ----------------------------------------------------------------------------------------
def list_body(action: Action) -> dict[str, Any]:
    """``actionBody`` of an AC2 list item (the documented per-type table)."""
    body = action.body
    kind = action.action_type
    if kind in media_mod.MEDIA_TYPES:
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


def list_actions(req: Request) -> Reply:
    group = get_group(req, req.params["groupId"])
    q = req.query
    raw_type, package_id = q.get("actiontype"), q.get("id")
    if raw_type is None and package_id is None:
        raise bad_request("Query parameter actionType is required")
    if raw_type is not None and raw_type.lower() not in LISTABLE:
        raise bad_request(f"Query parameter actionType must be one of {', '.join(LISTABLE.values())}")
    kind = LISTABLE[raw_type.lower()] if raw_type is not None else None
    from_ms = parse_int(q.get("fromdate", "0"), "fromDate")
    if from_ms < 0:
        raise bad_request("Query parameter fromDate must be epoch milliseconds >= 0")
    count = parse_int(q.get("count", DEFAULT_PAGE), "count")
    if count < 1:
        raise bad_request("Query parameter count must be >= 1")
    count = min(count, MAX_PAGE)
    matching = [
        a
        for a in req.app.state.actions.values()
        if a.group_id == group.group_id
        and (kind is None or a.action_type == kind)
        and (package_id is None or a.package_id == package_id)
        and a.sent_ms >= from_ms
    ]
    matching.sort(key=lambda a: a.sent_ms)
    page = matching[:count]
    extensions = req.app.faults.config.extensions
    # "hasMore is true when the page filled up to count" (also on an exactly full last page)
    return Reply({"actions": [_item(a, extensions) for a in page], "hasMore": len(page) == count})


def get_action(req: Request) -> Reply:
    group = get_group(req, req.params["groupId"])
    action = find_action(req, group.group_id, req.params["actionId"])
    details = parse_bool(req.query.get("getdetails"), "getDetails")
    body = action.body
    out = list_body(action)
    kind = action.action_type
    if kind == "Job":
        out.update(
            {
                "dueDate": body["dueDate"],
                "status": job_completed(action),
                "assignedTo": body["assignedTo"],
            }
        )
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
            out["responses"] = [response_block(action, r) for r in action.responses]
    return Reply(
        {
            "actionId": action.action_id,
            "referenceId": action.reference_id,
            "actionType": kind,
            "sender": action.sender,
            "sentAt": iso_ms(action.sent_ms),
            "actionDetails": out,
        }
    )


def find_action(req: Request, group_id: str, action_id: str) -> Action:
    action = req.app.state.actions.get(action_id)
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


# -- AC4 ----------------------------------------------------------------------------------------------
def _media_answer(req: Request, resources: list[str], name: str) -> list[dict[str, str]]:
    """Image/AttachmentList answers as documented in responses: ``[{"mediaUrl", "mediaFileName"}]``."""
    files = [f for i, r in enumerate(resources) for f in media_mod.lookup(req, r, f"{name}[{i}]").files]
    return [{"mediaUrl": f.url, "mediaFileName": f.name} for f in files]


def _answer(req: Request, question: dict[str, Any], value: Any, name: str) -> Any:
    qtype = question["type"]
    if value is None and question.get("isInvisible"):
        return None
    if qtype == "Image":  # "Image answer = a mediaResource"
        if not isinstance(value, str):
            raise bad_request(f"Parameter {name} must be a mediaResource string for an Image question")
        return _media_answer(req, [value], name)
    if qtype in ("SingleOption", "Text"):
        if not isinstance(value, str):
            raise bad_request(f"Parameter {name} must be a string for a {qtype} question")
        if qtype == "SingleOption" and value not in {o["title"] for o in question["options"]}:
            raise bad_request(f"Parameter {name} must be one of the question's option titles")
        return value
    if qtype in ("MultiOption", "AttachmentList"):
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise bad_request(f"Parameter {name} must be an array of strings for a {qtype} question")
        if qtype == "MultiOption":
            titles = {o["title"] for o in question["options"]}
            bad = [v for v in value if v not in titles]
            if bad:
                raise bad_request(f"Parameter {name} has values that are not option titles: {bad}")
            return value
        return _media_answer(req, value, name)
    if qtype == "Numeric":
        return parse_number(value, name)
    if qtype in ("Date", "DateTime"):
        number = parse_number(value, name)
        return int(number * 1000) if number < 100_000_000_000 else int(number)  # epoch s -> ms
    if qtype == "Location":
        loc = _obj(value, name)
        out: dict[str, Any] = {
            "lt": parse_float(loc.get("lt"), f"{name}.lt"),
            "lg": parse_float(loc.get("lg"), f"{name}.lg"),
        }
        label = loc.get("n")
        out["n"] = label if isinstance(label, str) else ""
        return out
    raise bad_request(f"Unsupported question type {qtype}")  # pragma: no cover


def post_response(req: Request) -> Reply:
    group = get_group(req, req.params["groupId"])
    require_member(req, group)
    action = find_action(req, group.group_id, req.params["actionId"])
    body = req.json()
    action_type, package_id = _type_or_id(body, required=False)
    if action_type is not None and action_type != action.action_type:
        raise bad_request(f"Parameter actionType {action_type} does not match the action ({action.action_type})")
    # ``id`` is "ID associated with the Action Instance" in the Swagger: the package id or the action's own id
    if package_id is not None and package_id not in (action.package_id, action.action_id):
        raise bad_request("Parameter id does not match the action's package id")
    if action.action_type not in RESPONDABLE:
        raise bad_request(f"A {action.action_type} action does not take responses")
    raw = body.get("actionbody")
    if not isinstance(raw, dict):
        raise bad_request("Parameter actionBody is required and must be an object")
    answers_body = ci_deep(raw)
    state = req.app.state
    conn = req.connector
    assert conn is not None
    now = int(state.clock.now() * 1000)
    existing: ActionResponse | None = None
    response_id = body.get("responseid")
    if response_id is not None:
        existing = next((r for r in action.responses if r.response_id == response_id), None)
        if existing is None:
            raise not_found(f"Response {response_id} not found for action {action.action_id}")
        if existing.responder != conn.phone:
            raise forbidden("Only the responder can update a response")
    response = existing or ActionResponse(state.new_guid(), action.action_id, conn.phone, created_ms=now)
    if action.action_type == "Job":
        if answers_body.get("iscompleted") is None:
            raise bad_request("Parameter actionBody.isCompleted is required for a Job response")
        response.is_completed = parse_bool(answers_body.get("iscompleted"), "actionBody.isCompleted")
    else:
        questions = _questions_of(action)
        answers = answers_body.get("answers")
        if not isinstance(answers, list):
            raise bad_request("Parameter actionBody.answers is required and must be an array")
        if action.action_type == CUSTOM and not questions:
            # The package defines the questions (the emulator does not know packages): answers are kept as given.
            response.answers = list(answers)
        else:
            if len(answers) != len(questions):
                raise bad_request(
                    f"Parameter actionBody.answers must have one answer per question ({len(questions)}), "
                    f"got {len(answers)}"
                )
            response.answers = [
                _answer(req, q, a, f"actionBody.answers[{i}]")
                for i, (q, a) in enumerate(zip(questions, answers, strict=True))
            ]
        if answers_body.get("responsename") is not None:
            response.response_name = _opt_str(answers_body, "responsename", "actionBody.responseName")
        if answers_body.get("responselocation") is not None:
            response.response_location = _location(answers_body["responselocation"], "actionBody.responseLocation")
    response.updated_ms = now
    if existing is None:
        action.responses.append(response)
    else:
        existing.update_count += 1
    _emit_response(req, action, response, existing is not None)
    return Reply({"responseId": response.response_id})


def _emit_response(req: Request, action: Action, r: ActionResponse, is_update: bool) -> None:
    event = EVENTS[action.action_type][1]
    data: dict[str, Any]
    if action.action_type == "Job":
        data = {
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
    else:
        data = response_block(action, r, is_update=is_update)
        data.pop("lastModifiedTime", None)
    req.app.deliverer.emit_action(event, action, data)


# -- admin --------------------------------------------------------------------------------------------
def admin_actions(req: Request) -> Reply:
    gid = req.query.get("groupid")
    actions = req.app.state.actions.values()
    return Reply({"actions": [a.to_json() for a in actions if gid is None or a.group_id == gid]})


def admin_responses(req: Request) -> Reply:
    action = req.app.state.actions.get(req.params["actionId"])
    if action is None:
        raise not_found(f"Action {req.params['actionId']} not found")
    return Reply({"responses": [r.to_json() for r in action.responses]})


def register(router: Router) -> None:
    router.add("POST", "/v1/groups/{groupId}/actions", post_action, permission="action.write")
    router.add("GET", "/v1/groups/{groupId}/actions", list_actions, permission="action.read")
    router.add("GET", "/v1/groups/{groupId}/actions/{actionId}", get_action, permission="action.read")
    router.add("POST", "/v1/groups/{groupId}/actions/{actionId}/responses", post_response, permission="action.write")
    router.add("GET", "/_emulator/actions", admin_actions, kind="admin")
    router.add("GET", "/_emulator/actions/{actionId}/responses", admin_responses, kind="admin")
