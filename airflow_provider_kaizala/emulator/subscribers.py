"""Subscribers of public groups (SU1-SU3), served by FastAPI (annotations are evaluated eagerly: FastAPI reads
the dependencies declared inside :func:`router` from them).

Paging: subscribers are walked in ascending order of their phone number; the opaque cursor encodes the last
number returned, and the next page starts strictly after it (bisect). A subscriber present for a whole walk is
therefore returned exactly once however many others join or leave between pages.
"""

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends
from pydantic import Field, StrictStr
from starlette.responses import Response

from airflow_provider_kaizala.emulator.access import GroupId, check_admin, visible_group
from airflow_provider_kaizala.emulator.models import Answer, AnsweredPhone, Body, PositiveInt
from airflow_provider_kaizala.emulator.services import Caller, Services, answers, resource
from airflow_provider_kaizala.emulator.state import (
    Connector,
    Group,
    State,
    decode_cursor,
    display_name,
    encode_cursor,
    phone_int,
    split_phones,
    user_id_and_provisioned,
)
from airflow_provider_kaizala.emulator.wire import REASON_INVALID_PHONE, bad_request, json_response

PAGE_MAX = 50


class SubscriberPage(Body):
    """SU1 body: where to continue and how many (default and maximum 50; larger values are clamped)."""

    cursor: Annotated[StrictStr, Field(description="from the previous page")] = ""
    count: Annotated[PositiveInt, Field(description="default 50, clamped to 50")] = PAGE_MAX


class SubscriberChange(Body):
    """SU2/SU3 body: the numbers to add or remove (an invalid one gets a per-number outcome)."""

    subscribers: Annotated[list[StrictStr], Field(min_length=1)]


class SubscriberItem(Answer):
    """A subscriber of an SU1 page."""

    id: str
    mobileNumber: AnsweredPhone
    name: str
    profilePic: str
    isProvisioned: bool


class SubscriberList(Answer):
    """SU1 answer: one page; ``cursor`` is present only when more pages exist."""

    subscribers: Annotated[list[SubscriberItem], Field(max_length=PAGE_MAX)]
    cursor: Annotated[str, Field(min_length=1, description="where the next page starts")] | None = None


class AddOutcome(Answer):
    """SU2: what happened to one number."""

    isAdded: bool
    reason: Literal["AlreadySubscribed", "InvalidPhoneNumber"] | None = None


class SubscribersAdded(Answer):
    """SU2 answer: the outcome per number, keyed by the number as it was sent."""

    result: dict[str, AddOutcome]


class RemoveOutcome(Answer):
    """SU3: what happened to one number."""

    isRemoved: bool
    reason: Literal["NotSubscribed", "InvalidPhoneNumber"] | None = None


class SubscribersRemoved(Answer):
    """SU3 answer: the outcome per number, keyed by the number as it was sent."""

    result: dict[str, RemoveOutcome]


def subscriber_json(n: int) -> dict[str, Any]:
    phone = f"+{n}"
    uid, provisioned = user_id_and_provisioned(phone)
    return {
        "id": uid,
        "mobileNumber": phone,
        "name": display_name(phone),
        "profilePic": "",
        "isProvisioned": provisioned,
    }


def public_group(state: State, conn: Connector, group_id: str) -> Group:
    group = visible_group(state, conn, group_id)
    if not group.is_public:
        raise bad_request(f"Group {group.group_id} is not a public group (ConnectGroup)")
    return group


def router(services: Services) -> APIRouter:
    """SU1-SU3 bound to ``services``."""
    api = APIRouter()
    state = services.state

    # Dependencies run before the body is validated: an unknown or invisible group is a 404/403 whatever the body.
    async def readable(groupId: GroupId, conn: Caller) -> Group:
        return public_group(state, conn, groupId)

    async def changeable(group: Annotated[Group, Depends(readable)], conn: Caller) -> Group:
        check_admin(state, conn, group)
        return group

    @api.post(
        "/v1/groups/{groupId}/subscribers",
        openapi_extra=resource("groupmember.read"),
        response_model=SubscriberList,
        responses=answers(400, 403, 404),
        description="ConnectGroups only (400 otherwise).",
    )
    async def list_subscribers(
        group: Annotated[Group, Depends(readable)], body: SubscriberPage | None = None
    ) -> Response:
        page_req = body or SubscriberPage()
        count = min(page_req.count, PAGE_MAX)
        lifetime = services.faults.config.cursor_lifetime
        now = state.clock.now() if lifetime > 0 else None
        after = None
        if page_req.cursor:
            try:
                after, issued = decode_cursor(group.group_id, page_req.cursor)
            except (ValueError, UnicodeDecodeError) as exc:
                raise bad_request("Invalid cursor") from exc
            if now is not None and issued is not None and now - issued > lifetime:
                raise bad_request("Cursor expired")
        page, more = group.subscriber_page(after, count)
        out: dict[str, Any] = {"subscribers": [subscriber_json(n) for n in page]}
        if more and page:
            out["cursor"] = encode_cursor(group.group_id, page[-1], now)
        return json_response(out)

    def change(group: Group, raw: list[str], adding: bool) -> Response:
        phones, invalid = split_phones(raw)
        outcome = "isAdded" if adding else "isRemoved"
        result: dict[str, dict[str, Any]] = {p: {outcome: False, "reason": REASON_INVALID_PHONE} for p in invalid}
        for phone in phones:
            n = phone_int(phone)
            if adding:
                ok = group.add_subscriber(n)
                result[phone] = {"isAdded": True} if ok else {"isAdded": False, "reason": "AlreadySubscribed"}
            else:
                ok = group.remove_subscriber(n)
                result[phone] = {"isRemoved": True} if ok else {"isRemoved": False, "reason": "NotSubscribed"}
        return json_response({"result": result})

    @api.put(
        "/v1/groups/{groupId}/subscribers/add",
        openapi_extra=resource("groupmember.write"),
        response_model=SubscribersAdded,
        responses=answers(400, 403, 404),
    )
    async def add_subscribers(group: Annotated[Group, Depends(changeable)], body: SubscriberChange) -> Response:
        return change(group, body.subscribers, True)

    @api.put(
        "/v1/groups/{groupId}/subscribers/remove",
        openapi_extra=resource("groupmember.remove"),
        response_model=SubscribersRemoved,
        responses=answers(400, 403, 404),
    )
    async def remove_subscribers(group: Annotated[Group, Depends(changeable)], body: SubscriberChange) -> Response:
        return change(group, body.subscribers, False)

    return api
