"""OpenAPI 3.0 description of the emulator's Kaizala API (served at ``GET /_emulator/openapi.json``).

It describes what the emulator does (see ``docs/emulator.md``), not the retired service: the ``/v1`` token and
resource paths, their parameters and bodies, the success bodies and the error statuses each route can answer.
The admin API (``/_emulator``) is deliberately left out: it is a test harness, not part of the Kaizala API.

Things JSON Schema cannot say, stated once here and in the descriptions:

- body keys and query-parameter names are matched case-insensitively (the canonical camelCase names are listed),
  and so are the enum values marked "any case" (``groupType``, ``role``, ``actionType``, ...);
- booleans also accept the strings ``"true"``/``"false"`` (any case) and integers digit strings;
- phone-number arrays take any strings: a number that is not valid gets a per-number outcome (``membersAdded``/
  ``result`` false, ``{"isAdded": false, "reason": "InvalidPhoneNumber"}``, a ``failedResult`` entry), not a 400;
- a POST/PUT with a JSON body needs a JSON ``Content-Type`` (else 415);
- fields marked "extension" are only sent with the ``extensions`` switch;
- every call can be answered 413 (body over 4 MiB, or over ``media_max_bytes`` on ``/v1/media``), and an injected
  5xx when the fault switches ask for it; a resource call can also be answered 401 (token), 308 (relocated
  connector), 429 (throttled) and 403 (missing permission) before its handler runs.

Response schemas type every documented field and allow extra ones (``additionalProperties`` is left open), except
the error bodies, which are exactly the three Kaizala fields.
"""

from __future__ import annotations

import copy
from typing import Any

from pydantic import BaseModel

from airflow_provider_kaizala.emulator import actions, media, webhooks
from airflow_provider_kaizala.emulator.members import MembersToAdd, RoleChange
from airflow_provider_kaizala.emulator.messages import MessageBody
from airflow_provider_kaizala.emulator.subscribers import SubscriberChange, SubscriberPage

Schema = dict[str, Any]

OPENAPI_VERSION = "3.0.3"
PHONE_PATTERN = r"^\+[1-9][0-9]{6,14}$"
#: A phone number given in a batch: any string (a number that is not valid gets a per-number outcome).
PHONE_IN: Schema = {"type": "string", "description": "a phone number; one that is not valid gets a per-number outcome"}
#: Statuses of the injected-fault switch (``error_statuses``; any 5xx can be configured).
INJECTED_STATUSES = ("500", "502", "503")

# The enumerations come from the handlers themselves, so the description cannot drift from what they accept.
ACTION_TYPES = list(actions.ACTION_TYPES.values())
LISTABLE_ACTION_TYPES = list(actions.LISTABLE.values())
MEDIA_ACTION_TYPES = list(media.MEDIA_TYPES)
QUESTION_TYPES = list(actions.QUESTION_TYPES.values())
PROPERTY_TYPES = list(actions.PROPERTY_TYPES.values())
EVENT_TYPES = list(webhooks.EVENT_TYPES.values())
OBJECT_TYPES = list(webhooks.OBJECT_TYPES.values())
#: Content-Types of file parts (each must also match the file name's extension, else 415).
MEDIA_PART_TYPES = [
    "image/jpeg",
    "image/png",
    "audio/mpeg",
    "audio/wav",
    "application/pdf",
    "application/msword",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "application/vnd.ms-excel",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "application/vnd.ms-powerpoint",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    "video/mp4",
    "video/3gpp",
]


# -- schema helpers -------------------------------------------------------------------------------------
def ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def obj(required: list[str] | None = None, /, **props: Any) -> Schema:
    """An object schema with ``props``; undocumented properties are allowed (see :func:`closed`)."""
    out: Schema = {"type": "object", "properties": props}
    if required:
        out["required"] = required
    return out


def closed(schema: Schema) -> Schema:
    """``schema`` with no properties beyond the documented ones."""
    return {**schema, "additionalProperties": False}


def doc(schema: Schema, text: str) -> Schema:
    return {**schema, "description": text}


def array(items: Schema, **kw: Any) -> Schema:
    return {"type": "array", "items": items, **kw}


STR: Schema = {"type": "string"}
NONEMPTY: Schema = {"type": "string", "minLength": 1, "pattern": r"\S"}
BOOL: Schema = {"type": "boolean"}
INT: Schema = {"type": "integer"}
INT64: Schema = {"type": "integer", "format": "int64"}
NUM: Schema = {"type": "number"}
TRUE: Schema = {"type": "boolean", "enum": [True]}
ISO: Schema = {"type": "string", "pattern": r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$", "description": "ISO-8601 UTC"}
HOURS: Schema = {"type": "integer", "format": "int32", "minimum": 1, "description": "hours (>= 1)"}


def _error(codes: list[str], categories: list[str]) -> Schema:
    return closed(
        obj(
            ["message", "errorCode", "errorCategoryKey"],
            message=STR,
            errorCode={"type": "string", "enum": codes},
            errorCategoryKey={"type": "string", "enum": categories},
        )
    )


# -- components ---------------------------------------------------------------------------------------
def _schemas() -> dict[str, Schema]:
    group_summary_fields: dict[str, Schema] = {
        "groupId": STR,
        "groupName": STR,
        "groupImageUrl": STR,
        "groupType": {"type": "string", "enum": ["Group", "ConnectGroup"]},
        "hasSubGroups": BOOL,
        "hasParentGroups": BOOL,
        "isMappedToTenant": BOOL,
        "userCount": {"type": "integer", "minimum": 0},
        "currentLevelUserCount": {"type": "integer", "minimum": 0},
    }
    group_detail_fields: dict[str, Schema] = {
        "callerRole": {"type": "string", "enum": ["Admin", "Member", ""]},
        "currentLevelSubGroupCount": {"type": "integer", "minimum": 0},
        "currentLevelParentGroupCount": {"type": "integer", "minimum": 0},
        "uniqueUserCount": {"type": "integer", "minimum": 0},
        "currentLevelUnProvisionedUserCount": {"type": "integer", "minimum": 0},
        "unProvisionedUserCount": {"type": "integer", "minimum": 0},
        "isDuplicate": BOOL,
        "isEditable": BOOL,
        "isDetailsReadable": BOOL,
        "welcomeMessage": STR,
    }
    subgroup_fields: dict[str, Schema] = {
        "groupId": STR,
        "groupName": STR,
        "groupImageUrl": STR,
        "hasSubGroups": BOOL,
        "hasParentGroups": BOOL,
        "isMappedToTenant": BOOL,
        "groupType": {"type": "string", "enum": ["Group", "ConnectGroup"]},
        "isDuplicate": BOOL,
        "welcomeMessage": STR,
    }
    question = obj(
        ["title", "type"],
        title=NONEMPTY,
        type={"type": "string", "enum": QUESTION_TYPES, "description": "any case"},
        options=array(obj(["title"], title=NONEMPTY), description="required (non-empty) for Single/MultiOption"),
        isInvisible=BOOL,
    )
    prop = obj(
        ["name", "type"],
        name=NONEMPTY,
        type={"type": "string", "enum": PROPERTY_TYPES, "description": "any case"},
        value=STR,
    )
    location = obj(["latitude", "longitude"], latitude=NUM, longitude=NUM, name=STR)
    return {
        "Phone": {
            "type": "string",
            "pattern": PHONE_PATTERN,
            "description": "A valid phone number in E.164 form (validated with phonenumbers)",
            "example": "+919810000003",
        },
        "Error": _error(
            [
                "InvalidParameters",
                "InvalidToken",
                "Unauthenticated",
                "Forbidden",
                "NotFound",
                "RequestEntityTooLarge",
                "UnsupportedMediaType",
                "TooManyRequests",
                "InternalServerError",
            ],
            ["ValidationException", "AuthException", "ResourceException", "ThrottlingException", "ServerException"],
        ),
        "Relocated": closed(obj(["message", "endpointUrl"], message=STR, endpointUrl=STR)),
        "Result": obj(["result"], result=TRUE),
        "AccessToken": obj(
            ["accessToken", "endpointUrl", "accessTokenExpiry", "refreshToken", "scope"],
            accessToken=NONEMPTY,
            endpointUrl={"type": "string", "pattern": "^https?://.*/$", "description": "base URL, no /v1"},
            accessTokenExpiry={**INT64, "description": "epoch milliseconds"},
            refreshToken={"type": "string", "description": 'a new refresh token, or "" when not rotated'},
            scope={"type": "string", "description": "comma-separated permissions"},
        ),
        "GroupSummary": obj(list(group_summary_fields), **group_summary_fields, **group_detail_fields),
        "GroupDetail": obj(
            [*group_summary_fields, *group_detail_fields], **group_summary_fields, **group_detail_fields
        ),
        "SubGroup": obj(
            list(subgroup_fields),
            **subgroup_fields,
            subGroups=array(ref("SubGroup"), description="direct children (nested only with fetchAllGroups)"),
        ),
        "Member": obj(
            ["id", "role", "mobileNumber", "isProvisioned"],
            id=STR,
            role={"type": "string", "enum": ["Admin", "Member"]},
            mobileNumber=ref("Phone"),
            isProvisioned=BOOL,
        ),
        "Subscriber": obj(
            ["id", "mobileNumber", "name", "profilePic", "isProvisioned"],
            id=STR,
            mobileNumber=ref("Phone"),
            name=STR,
            profilePic=STR,
            isProvisioned=BOOL,
        ),
        "Question": question,
        "Property": prop,
        "Location": location,
        "ActionSummary": obj(
            ["referenceId", "actionType", "sender", "sentAt", "actionBody"],
            referenceId=STR,
            actionId=doc(STR, "extension"),
            actionType={"type": "string", "enum": [*ACTION_TYPES, "Custom"]},
            actionPackageId=STR,
            sender=ref("Phone"),
            sentAt=ISO,
            sentAtMs=doc(INT64, "extension: sentAt in epoch ms"),
            actionBody=doc(obj(), "the per-type list body (API notes, Actions)"),
        ),
        "ReactionCounts": obj(
            ["referenceId", "reactionsCountMap"],
            referenceId=STR,
            reactionsCountMap=obj(
                ["like", "comment"], like={"type": "integer", "minimum": 0}, comment={"type": "integer", "minimum": 0}
            ),
        ),
        "Webhook": obj(
            [
                "id",
                "objectId",
                "objectType",
                "events",
                "filters",
                "callbackUrl",
                "callbackToken",
                "callBackContext",
                "ts",
                "validity",
                "active",
            ],
            id=STR,
            objectId=STR,
            objectType={"type": "string", "enum": OBJECT_TYPES},
            events=array({"type": "string", "enum": EVENT_TYPES}),
            filters=array({}),
            callbackUrl=STR,
            callbackToken=STR,
            callBackContext=STR,
            ts=INT64,
            validity=INT64,
            active=BOOL,
        ),
    }


def _error_response(description: str, codes: list[str], categories: list[str], headers: Schema | None = None) -> Schema:
    out: Schema = {
        "description": description,
        "content": {"application/json": {"schema": _error(codes, categories)}},
    }
    if headers:
        out["headers"] = headers
    return out


def _responses() -> dict[str, Schema]:
    server = ["InternalServerError"], ["ServerException"]
    return {
        "BadRequest": _error_response("Invalid parameters", ["InvalidParameters"], ["ValidationException"]),
        "Unauthorized": _error_response(
            "Missing, unknown, expired or revoked access token (InvalidToken); bad credentials (Unauthenticated)",
            ["InvalidToken", "Unauthenticated"],
            ["AuthException"],
        ),
        "Forbidden": _error_response(
            "The connector lacks the permission, or the caller's role in the group does not allow the call",
            ["Forbidden"],
            ["AuthException"],
        ),
        "NotFound": _error_response(
            "Unknown group, member, action, reference or webhook", ["NotFound"], ["ResourceException"]
        ),
        "PayloadTooLarge": _error_response(
            "Body over 4 MiB (over media_max_bytes on /v1/media); answered before routing",
            ["RequestEntityTooLarge"],
            ["ValidationException"],
        ),
        "UnsupportedMediaType": _error_response(
            "Not multipart/form-data, a file part without or with a wrong Content-Type, or an unsupported extension",
            ["UnsupportedMediaType"],
            ["ValidationException"],
        ),
        "TooManyRequests": _error_response(
            "Throttled (sliding window per connector and per tenant)",
            ["TooManyRequests"],
            ["ThrottlingException"],
            headers={
                "Retry-After": {
                    "description": "seconds until a call is allowed again",
                    "required": True,
                    "schema": {"type": "integer", "minimum": 1},
                }
            },
        ),
        "Relocated": {
            "description": "The connector's endpoint moved; repeat the call on the Location base URL",
            "headers": {
                "Location": {
                    "description": "the new base URL (scheme, host, port and a single /)",
                    "required": True,
                    "schema": {"type": "string"},
                }
            },
            "content": {"application/json": {"schema": ref("Relocated")}},
        },
        "ServerError": _error_response("Injected server error (fault switches)", *server),
    }


def _ok(schema: Schema, description: str = "OK") -> Schema:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _resp(name: str) -> Schema:
    return {"$ref": f"#/components/responses/{name}"}


# -- parameters -----------------------------------------------------------------------------------------
def path_param(name: str, description: str) -> Schema:
    return {"name": name, "in": "path", "required": True, "description": description, "schema": {"type": "string"}}


def query_param(name: str, schema: Schema, description: str = "", required: bool = False) -> Schema:
    out: Schema = {"name": name, "in": "query", "required": required, "schema": schema}
    if description:
        out["description"] = description
    return out


GROUP_ID = path_param("groupId", "Group id (`<guid>@1`)")


def _body(schema: Schema, *, required: bool = True) -> Schema:
    return {"required": required, "content": {"application/json": {"schema": schema}}}


def model_body(model: type[BaseModel], *, required: bool = True) -> Schema:
    """The request body of a FastAPI route, generated from its pydantic model (keys bind in any case)."""
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    if "$defs" in schema:
        raise ValueError(f"{model.__name__}: nested models are not supported here")
    return _body(schema, required=required)


def operation(
    op_id: str,
    summary: str,
    tag: str,
    ok: Schema,
    errors: tuple[str, ...],
    *,
    params: list[Schema] | None = None,
    body: Schema | None = None,
    auth: bool = True,
    description: str = "",
) -> Schema:
    """One operation with its documented statuses.

    Every call may get 413 and the injected 5xx; a resource (``auth``) call also 308/401/403/429.
    """
    responses: dict[str, Schema] = {"200": _ok(ok)}
    named = {
        "400": "BadRequest",
        "401": "Unauthorized",
        "403": "Forbidden",
        "404": "NotFound",
        "413": "PayloadTooLarge",
        "415": "UnsupportedMediaType",
        "429": "TooManyRequests",
        "308": "Relocated",
    }
    statuses = {*errors, "413"}
    if body is not None:
        statuses.add("415")  # a body needs its Content-Type (JSON, or multipart on /v1/media)
    if auth:
        statuses |= {"308", "401", "403", "429"}
    for status in sorted(statuses):
        responses[status] = _resp(named[status])
    for status in INJECTED_STATUSES:
        responses[status] = _resp("ServerError")
    out: Schema = {"operationId": op_id, "summary": summary, "tags": [tag], "responses": responses}
    if description:
        out["description"] = description
    if params:
        out["parameters"] = params
    if body is not None:
        out["requestBody"] = body
    if not auth:
        out["security"] = []
    return out


# -- request bodies -------------------------------------------------------------------------------------
PIN_CALLER: Schema = obj(
    ["mobileNumber", "applicationId"],
    mobileNumber={"type": "string", "pattern": PHONE_PATTERN},
    applicationId=NONEMPTY,
    applicationSecret=doc(STR, "optional; checked when given"),
)
PHONES = array(doc(STR, "a phone number; one that is not valid gets a per-number outcome"))


def _action_variants() -> list[Schema]:
    common: dict[str, Schema] = {"subscribers": PHONES, "sendToAllSubscribers": BOOL}
    questions = array(ref("Question"), minItems=1)
    properties = array(ref("Property"))
    bodies: dict[str, Schema] = {
        "Job": obj(
            ["title", "assignedTo"],
            title=NONEMPTY,
            assignedTo=array(PHONE_IN, minItems=1),
            dueDate=HOURS,
            text=STR,
            description=STR,
        ),
        "Survey": obj(
            ["title", "questions"],
            title=NONEMPTY,
            questions=questions,
            dueDate=HOURS,
            isAnonymous=BOOL,
            isSenderOnly=BOOL,
            acceptMultipleResponses=BOOL,
            properties=properties,
            description=STR,
            visibility=STR,
            coverImage=STR,
        ),
        "Poll": obj(
            ["question", "choices"],
            question=NONEMPTY,
            choices=array(
                obj(["title"], title=NONEMPTY, image={**STR, "description": "an Image mediaResource"}), minItems=1
            ),
            expiryInHours=HOURS,
            isSenderOnly=BOOL,
        ),
        "LetsMeet": obj(
            ["title", "startingTime"],
            title=NONEMPTY,
            startingTime={"type": "string", "format": "date-time"},
            duration={
                "type": "integer",
                "format": "int32",
                "minimum": 1,
                "description": "minutes (alias durationInMins)",
            },
            durationInMins={"type": "integer", "format": "int32", "minimum": 1},
            place=ref("Location"),
            agenda=STR,
            isSenderOnly=BOOL,
        ),
        "Announcement": obj(
            ["message"], message=NONEMPTY, title=STR, mediaResources=array({**STR, "description": "mediaResource"})
        ),
    }
    media = obj(["mediaResource"], mediaResource=STR, caption=STR)
    variants = [
        obj(
            ["actionType", "actionBody"],
            actionType={"type": "string", "enum": [kind], "description": "any case"},
            actionBody=bodies.get(kind, media),
            **common,
        )
        for kind in ACTION_TYPES
    ]
    variants.append(
        obj(
            ["id", "actionBody"],
            id={
                "type": "string",
                "description": "action package id: a GUID (optionally @N) or a dotted name",
                "example": "com.microsoft.kaizala.miniapps.BdayMessage.12",
            },
            actionBody=obj(properties=properties, title=STR, validity=HOURS, questions=questions),
            **common,
        )
    )
    return variants


def _answer_body() -> Schema:
    body = obj(
        ["actionBody"],
        actionType={"type": "string", "enum": ACTION_TYPES, "description": "any case; must match the action"},
        id={"type": "string", "description": "must match the action's package id"},
        responseId={"type": "string", "description": "update this (own) response"},
        actionBody=doc(
            obj(isCompleted=BOOL, answers=array({}), responseName=STR, responseLocation=ref("Location")),
            "Job: isCompleted (required); others: answers, one per question (positional)",
        ),
    )
    body["anyOf"] = [{"required": ["actionType"]}, {"required": ["id"]}]
    return body


WEBHOOK_FIELDS: dict[str, Schema] = {
    "objectId": NONEMPTY,
    "objectType": {"type": "string", "enum": OBJECT_TYPES, "description": "any case"},
    "eventTypes": array(
        {"type": "string", "enum": EVENT_TYPES, "description": "any case"}, minItems=1, description="alias: events"
    ),
    "callBackUrl": {
        "type": "string",
        "format": "uri",
        "description": "https (http only for loopback hosts); must echo the validationToken",
    },
    "callBackToken": STR,
    "callBackContext": STR,
    "validity": {**INT64, "description": "expiry, epoch ms in the future (default now + 2 years)"},
}


# -- paths ----------------------------------------------------------------------------------------------
def _paths() -> dict[str, Schema]:
    g = "Groups"
    sub_body = obj(
        ["welcomeMessage"],
        welcomeMessage=STR,
        members=array(PHONE_IN, maxItems=100),
        groupType={"type": "string", "enum": ["Group", "ConnectGroup"], "description": "any case"},
        groupImageUrl=STR,
        addUserToGroup={**BOOL, "description": "default true"},
        groupName=NONEMPTY,
        name={**NONEMPTY, "description": "alias of groupName"},
    )
    sub_body["anyOf"] = [{"required": ["groupName"]}, {"required": ["name"]}]
    source_group = query_param("sourceGroupId", STR, "the path group or a group below it (default: the path group)")
    reaction_cursor = query_param("cursor", {**INT64, "minimum": 0}, ".NET ticks (default 0)")
    reference = path_param("referenceId", "a message/action referenceId (or an actionId)")
    action_id = path_param("actionId", "Action id")
    webhook_id = path_param("webhookId", "Webhook id")
    return {
        "/v1/accessToken": {
            "get": operation(
                "getAccessToken",
                "A1 Get an access token",
                "Auth",
                ref("AccessToken"),
                ("401", "429"),
                auth=False,
                params=[
                    {"name": n, "in": "header", "required": True, "schema": STR}
                    for n in ("applicationId", "applicationSecret", "refreshToken")
                ],
                description="429 only with the throttle_auth switch.",
            )
        },
        "/v1/generatePin": {
            "post": operation(
                "generatePin",
                "A2 Send a one-time PIN to the connector's user",
                "Auth",
                closed(obj()),
                ("400", "401", "403"),
                auth=False,
                body=_body(PIN_CALLER),
                description="The emulator's SMS inbox is GET /_emulator/pins. 403: not the connector's user.",
            )
        },
        "/v1/loginWithPinAndApplicationId": {
            "post": operation(
                "loginWithPin",
                "A3 Exchange the PIN for a new refresh token",
                "Auth",
                obj(
                    ["refreshToken", "grantedScope", "refreshTokenExpiry"],
                    refreshToken=NONEMPTY,
                    grantedScope={"type": "string", "description": "comma-separated permissions"},
                    refreshTokenExpiry={**INT64, "description": "epoch milliseconds"},
                    endpointUrl={"type": "string", "pattern": "^https?://.*/$"},
                ),
                ("400", "401", "403"),
                auth=False,
                body=_body(
                    {
                        **PIN_CALLER,
                        "required": [*PIN_CALLER["required"], "pin"],
                        "properties": {**PIN_CALLER["properties"], "pin": {"type": "integer", "format": "int32"}},
                    }
                ),
                description="The connector's previous refresh tokens stop working. 401: wrong or expired PIN.",
            )
        },
        "/v1/groups": {
            "post": operation(
                "createGroup",
                "G1 Create a group",
                g,
                obj(
                    ["groupName", "groupId", "membersAdded"],
                    groupName=STR,
                    groupId=STR,
                    membersAdded=doc(BOOL, "true only if every number was added"),
                ),
                ("400",),
                body=_body(
                    obj(
                        ["name", "welcomeMessage"],
                        name=NONEMPTY,
                        welcomeMessage=STR,
                        members=array(PHONE_IN, maxItems=100),
                        groupType={"type": "string", "enum": ["Group", "ConnectGroup"], "description": "any case"},
                        groupImageUrl=STR,
                    )
                ),
            ),
            "get": operation(
                "listGroups",
                "G2 List groups",
                g,
                obj(["groups"], groups=array(ref("GroupSummary"))),
                ("400",),
                params=[
                    query_param("showDetail", BOOL, "add the detail fields"),
                    query_param("showDetails", BOOL, "alias of showDetail"),
                    query_param("fetchAllGroups", BOOL, "every visible group, not only the top ones"),
                ],
            ),
        },
        "/v1/groups/{groupId}": {
            "get": operation(
                "getGroup",
                "G3 Get a group",
                g,
                obj(["groups"], groups=array(ref("GroupDetail"), minItems=1, maxItems=1)),
                ("404",),
                params=[GROUP_ID],
            )
        },
        "/v1/groups/{groupId}/subGroups": {
            "get": operation(
                "listSubGroups",
                "SG1 List sub-groups",
                "SubGroups",
                obj(["groups"], groups=array(ref("SubGroup"), minItems=1, maxItems=1)),
                ("400", "404"),
                params=[GROUP_ID, query_param("fetchAllGroups", BOOL, "nest every level")],
            ),
            "post": operation(
                "createSubGroup",
                "SG2 Create a sub-group",
                "SubGroups",
                obj(["groupId", "groupName"], groupId=STR, groupName=STR),
                ("400", "404"),
                params=[GROUP_ID],
                body=_body(sub_body),
            ),
            "put": operation(
                "attachSubGroups",
                "SG3 Attach existing groups as sub-groups",
                "SubGroups",
                ref("Result"),
                ("400", "404"),
                params=[GROUP_ID],
                body=_body(obj(["subGroups"], subGroups=array(STR, minItems=1))),
            ),
        },
        "/v1/groups/{groupId}/subGroups/{subGroupId}": {
            "delete": operation(
                "detachSubGroup",
                "SG4 Detach a sub-group",
                "SubGroups",
                ref("Result"),
                ("404",),
                params=[GROUP_ID, path_param("subGroupId", "Sub-group id")],
            )
        },
        "/v1/groups/{groupId}/members": {
            "get": operation(
                "listMembers",
                "M1 List members",
                "Members",
                obj(["members"], members=array(ref("Member"))),
                ("404",),
                params=[GROUP_ID],
            ),
            "put": operation(
                "addMembers",
                "M2 Add members",
                "Members",
                obj(["result"], result=doc(BOOL, "true only if every number was added")),
                ("400", "404"),
                params=[GROUP_ID],
                body=model_body(MembersToAdd),
            ),
        },
        "/v1/groups/{groupId}/members/{memberId}": {
            "delete": operation(
                "removeMember",
                "M3 Remove a member",
                "Members",
                ref("Result"),
                ("404",),
                params=[GROUP_ID, path_param("memberId", "Member (user) id")],
            ),
            "put": operation(
                "changeMemberRole",
                "M4 Change a member's role",
                "Members",
                ref("Result"),
                ("400", "404"),
                params=[GROUP_ID, path_param("memberId", "Member (user) id")],
                body=model_body(RoleChange),
            ),
        },
        "/v1/groups/{groupId}/subscribers": {
            "post": operation(
                "listSubscribers",
                "SU1 List subscribers (a page)",
                "Subscribers",
                obj(["subscribers"], subscribers=array(ref("Subscriber"), maxItems=50), cursor=NONEMPTY),
                ("400", "404"),
                params=[GROUP_ID],
                body=model_body(SubscriberPage, required=False),
                description="ConnectGroups only (400 otherwise). `cursor` is present only when more pages exist.",
            )
        },
        "/v1/groups/{groupId}/subscribers/add": {
            "put": operation(
                "addSubscribers",
                "SU2 Add subscribers",
                "Subscribers",
                obj(
                    ["result"],
                    result={
                        "type": "object",
                        "additionalProperties": obj(
                            ["isAdded"],
                            isAdded=BOOL,
                            reason={"type": "string", "enum": ["AlreadySubscribed", "InvalidPhoneNumber"]},
                        ),
                    },
                ),
                ("400", "404"),
                params=[GROUP_ID],
                body=model_body(SubscriberChange),
            )
        },
        "/v1/groups/{groupId}/subscribers/remove": {
            "put": operation(
                "removeSubscribers",
                "SU3 Remove subscribers",
                "Subscribers",
                obj(
                    ["result"],
                    result={
                        "type": "object",
                        "additionalProperties": obj(
                            ["isRemoved"],
                            isRemoved=BOOL,
                            reason={"type": "string", "enum": ["NotSubscribed", "InvalidPhoneNumber"]},
                        ),
                    },
                ),
                ("400", "404"),
                params=[GROUP_ID],
                body=model_body(SubscriberChange),
            )
        },
        "/v1/groups/{groupId}/messages": {
            "post": operation(
                "sendMessage",
                "MS1 Send a text message",
                "Messages",
                obj(
                    ["referenceId"],
                    referenceId=STR,
                    failedResult=array(
                        obj(
                            ["subscriber", "subscriberId", "errorReason", "errorCode"],
                            subscriber=STR,
                            subscriberId=STR,
                            errorReason=STR,
                            errorCode={"type": "string", "enum": ["NotSubscribed", "InvalidPhoneNumber"]},
                        )
                    ),
                ),
                ("400", "404"),
                params=[GROUP_ID],
                body=model_body(MessageBody),
            )
        },
        "/v1/media": {
            "post": operation(
                "uploadMedia",
                "MD1 Upload media (multipart)",
                "Media",
                obj(["mediaResource"], mediaResource=NONEMPTY),
                ("400", "415"),
                body={
                    "required": True,
                    "content": {
                        "multipart/form-data": {
                            "schema": obj(
                                ["files"],
                                files={
                                    "type": "string",
                                    "format": "binary",
                                    "description": "any part name; a part with a filename is a file",
                                },
                            ),
                            "encoding": {"files": {"contentType": ", ".join(MEDIA_PART_TYPES)}},
                        }
                    },
                },
                description="Several images make an Album; other kinds one file per upload.",
            )
        },
        "/v1/media/url": {
            "post": operation(
                "uploadMediaUrl",
                "MD2 Register media by URL",
                "Media",
                obj(["mediaResource"], mediaResource=NONEMPTY),
                ("400", "415"),
                body=_body(obj(["mediaUrl"], mediaUrl={"type": "string", "format": "uri"})),
            )
        },
        "/v1/groups/{groupId}/actions": {
            "post": operation(
                "postAction",
                "AC1 Post an action",
                "Actions",
                obj(["referenceId"], referenceId=STR, actionId=doc(STR, "not on media actions (extension)")),
                ("400", "404"),
                params=[GROUP_ID],
                body=_body({"anyOf": _action_variants()}),
                description="Exactly one of actionType (any case) and id (a custom action package).",
            ),
            "get": operation(
                "listActions",
                "AC2 List actions",
                "Actions",
                obj(["actions", "hasMore"], actions=array(ref("ActionSummary")), hasMore=BOOL),
                ("400", "404"),
                params=[
                    GROUP_ID,
                    query_param(
                        "actionType",
                        {"type": "string", "enum": LISTABLE_ACTION_TYPES},
                        "any case; required unless id is given",
                    ),
                    query_param("id", STR, "a custom action package id"),
                    query_param("fromDate", {**INT64, "minimum": 0}, "epoch ms, inclusive (default 0)"),
                    query_param(
                        "count", {"type": "integer", "format": "int32", "minimum": 1}, "default 30, clamped to 100"
                    ),
                ],
            ),
        },
        "/v1/groups/{groupId}/actions/{actionId}": {
            "get": operation(
                "getAction",
                "AC3 Get an action",
                "Actions",
                obj(
                    ["actionId", "referenceId", "actionType", "sender", "sentAt", "actionDetails"],
                    actionId=STR,
                    referenceId=STR,
                    actionType={"type": "string", "enum": [*ACTION_TYPES, "Custom"]},
                    sender=ref("Phone"),
                    sentAt=ISO,
                    actionDetails=obj(
                        responseCount={"type": "integer", "minimum": 0},
                        questions=array(ref("Question")),
                        responses=array({"type": "object"}),
                    ),
                ),
                ("400", "404"),
                params=[GROUP_ID, action_id, query_param("getDetails", BOOL, "include the responses")],
            )
        },
        "/v1/groups/{groupId}/actions/{actionId}/responses": {
            "post": operation(
                "postActionResponse",
                "AC4 Respond to an action",
                "Actions",
                obj(["responseId"], responseId=STR),
                ("400", "404"),
                params=[GROUP_ID, action_id],
                body=_body(_answer_body()),
            )
        },
        "/v1/groups/{groupId}/reaction": {
            "post": operation(
                "react",
                "R1 Like or comment",
                "Reactions",
                obj(["reactionId"], reactionId=STR),
                ("400", "404"),
                params=[GROUP_ID],
                body=_body(
                    obj(
                        ["referenceId", "reactionType"],
                        referenceId=NONEMPTY,
                        sourceGroupId=STR,
                        reactionType={"type": "string", "enum": ["Like", "Comment"], "description": "any case"},
                        comment={"type": "string", "minLength": 1, "maxLength": 4000, "description": "Comment only"},
                    )
                ),
            )
        },
        "/v1/groups/{groupId}/reaction/summary": {
            "get": operation(
                "groupReactionSummary",
                "R3 Reaction changes of a group (paged by cursor)",
                "Reactions",
                obj(["cursor", "summary"], cursor=INT64, summary=array(ref("ReactionCounts"), maxItems=20)),
                ("400", "404"),
                params=[GROUP_ID, source_group, reaction_cursor],
            )
        },
        "/v1/groups/{groupId}/reaction/{referenceId}/summary": {
            "get": operation(
                "referenceReactionSummary",
                "R2 Reaction counts of a message or action",
                "Reactions",
                obj(["summary"], summary=array(ref("ReactionCounts"), minItems=1, maxItems=1)),
                ("400", "404"),
                params=[GROUP_ID, reference, source_group],
            )
        },
        "/v1/groups/{groupId}/reaction/{referenceId}": {
            "get": operation(
                "reactionDetails",
                "R4 Reactions of a message or action (paged by cursor)",
                "Reactions",
                obj(
                    ["cursor", "reactionDetails"],
                    cursor=INT64,
                    reactionDetails=array(
                        obj(
                            ["reactionId", "userId", "lastModifiedTime"],
                            reactionId=STR,
                            userId=STR,
                            lastModifiedTime={**INT64, "description": "epoch ms"},
                            reactionType={"type": "string", "enum": ["Like", "Comment"], "description": "extension"},
                            comment=doc(STR, "extension"),
                        ),
                        maxItems=20,
                    ),
                ),
                ("400", "404"),
                params=[
                    GROUP_ID,
                    reference,
                    source_group,
                    query_param("reactionType", {"type": "string", "enum": ["Like", "Comment"]}, "any case"),
                    reaction_cursor,
                ],
                description="`referenceId` `summary` is the group summary (R3), a literal segment.",
            )
        },
        "/v1/webhook": {
            "post": operation(
                "createWebhook",
                "W1 Register a webhook",
                "Webhooks",
                obj(["webhookId"], webhookId=STR),
                ("400", "404"),
                body=_body(obj(["objectId", "objectType", "eventTypes", "callBackUrl"], **WEBHOOK_FIELDS)),
                description="The callBackUrl must answer GET ?validationToken=X with X as plain text (else 400).",
            ),
            "get": operation(
                "listWebhooks",
                "W2 List webhooks of an object",
                "Webhooks",
                obj(["webhooks"], webhooks=array(ref("Webhook"))),
                ("400", "404"),
                params=[
                    query_param("objectId", STR, required=True),
                    query_param("objectType", {"type": "string", "enum": OBJECT_TYPES}, "any case", required=True),
                ],
            ),
        },
        "/v1/webhook/{webhookId}": {
            "put": operation(
                "updateWebhook",
                "W3 Update a webhook",
                "Webhooks",
                ref("Result"),
                ("400", "404"),
                params=[webhook_id],
                body=_body(obj(**WEBHOOK_FIELDS, active=BOOL)),
                description="A partial update; a changed callBackUrl is validated again.",
            ),
            "delete": operation(
                "deleteWebhook", "W4 Delete a webhook", "Webhooks", ref("Result"), ("404",), params=[webhook_id]
            ),
        },
    }


_SPEC: Schema | None = None


def build_spec() -> Schema:
    """The OpenAPI document without ``servers`` (built once; callers get a copy)."""
    global _SPEC
    if _SPEC is None:
        _SPEC = {
            "openapi": OPENAPI_VERSION,
            "info": {
                "title": "Kaizala connector API (emulator)",
                "version": "1.0",
                "description": __doc__ or "",
            },
            "tags": [
                {"name": name}
                for name in (
                    "Auth",
                    "Groups",
                    "SubGroups",
                    "Members",
                    "Subscribers",
                    "Messages",
                    "Media",
                    "Actions",
                    "Reactions",
                    "Webhooks",
                )
            ],
            "security": [{"accessToken": []}],
            "paths": _paths(),
            "components": {
                "securitySchemes": {"accessToken": {"type": "apiKey", "in": "header", "name": "accessToken"}},
                "schemas": _schemas(),
                "responses": _responses(),
            },
        }
    return copy.deepcopy(_SPEC)


def openapi_document(server_url: str | None = None) -> Schema:
    """The document, with ``servers`` pointing at ``server_url`` (the endpoint that served it) when given."""
    spec = build_spec()
    if server_url:
        spec["servers"] = [{"url": server_url.rstrip("/")}]
    return spec
