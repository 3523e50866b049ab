"""Text messages (MS1), served by FastAPI.

Annotations are evaluated eagerly: FastAPI reads the dependencies declared inside :func:`router` from them.
"""

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends
from pydantic import Field, StrictStr
from starlette.responses import Response

from airflow_provider_kaizala.emulator.access import GroupAccess, audience, check_member
from airflow_provider_kaizala.emulator.models import Answer, Body, LenientBool
from airflow_provider_kaizala.emulator.services import Caller, Services, answers, resource
from airflow_provider_kaizala.emulator.state import Group, Message, phone_int, user_id
from airflow_provider_kaizala.emulator.wire import REASON_INVALID_PHONE, json_response

MAX_MESSAGE = 4000


class MessageBody(Body):
    """MS1 body: the text, and on public groups whom it goes to (all subscribers, or the listed ones)."""

    message: Annotated[StrictStr, Field(min_length=1, max_length=MAX_MESSAGE)]
    send_to_all: Annotated[LenientBool, Field(alias="sendToAllSubscribers")] = False
    subscribers: Annotated[
        list[StrictStr], Field(description="a number that is not valid gets a failedResult entry")
    ] = []


class FailedSend(Answer):
    """A subscriber of ``subscribers`` the message was not sent to, and why."""

    subscriber: str
    subscriberId: Annotated[str, Field(description='"" when the number is not valid')]
    errorReason: str
    errorCode: Literal["NotSubscribed", "InvalidPhoneNumber"]


class MessageSent(Answer):
    """MS1 answer: the message's reference, and ``failedResult`` when some listed subscribers did not get it."""

    referenceId: str
    failedResult: list[FailedSend] | None = None


def router(services: Services) -> APIRouter:
    """MS1 bound to ``services``."""
    api = APIRouter()
    state = services.state

    access = GroupAccess(state)

    @api.post(
        "/v1/groups/{groupId}/messages",
        openapi_extra=resource("textmessage.read"),
        response_model=MessageSent,
        responses=answers(400, 403, 404),
    )
    async def send_message(
        group: Annotated[Group, Depends(access.visible)], conn: Caller, body: MessageBody
    ) -> Response:
        targets, invalid = audience(state, conn, group, body.send_to_all, body.subscribers)
        if not body.send_to_all:
            check_member(state, conn, group)
        msg = Message(
            state.new_guid(), group.group_id, body.message, targets, body.send_to_all, conn.phone, state.clock.now()
        )
        state.messages.append(msg)
        out: dict[str, Any] = {"referenceId": msg.reference_id}
        failed = [
            {
                "subscriber": p,
                "subscriberId": "",
                "errorReason": "Not a valid phone number",
                "errorCode": REASON_INVALID_PHONE,
            }
            for p in invalid
        ]
        failed += [
            {
                "subscriber": p,
                "subscriberId": user_id(p),
                "errorReason": "Not a subscriber of the group",
                "errorCode": "NotSubscribed",
            }
            for p in targets
            if not group.has_subscriber(phone_int(p))
        ]
        if failed:
            out["failedResult"] = failed
        return json_response(out)

    return api
