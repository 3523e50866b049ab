"""Text messages (MS1)."""

from __future__ import annotations

from typing import Any

from airflow_provider_kaizala.emulator.access import get_group, require_admin, require_member
from airflow_provider_kaizala.emulator.routing import Router
from airflow_provider_kaizala.emulator.state import Message, phone_int, user_id
from airflow_provider_kaizala.emulator.wire import (
    REASON_INVALID_PHONE,
    Reply,
    Request,
    bad_request,
    parse_bool,
    parse_phone_batch,
)

MAX_MESSAGE = 4000


def send_message(req: Request) -> Reply:
    group = get_group(req, req.params["groupId"])
    body = req.json()
    text = body.get("message")
    if not isinstance(text, str) or not 1 <= len(text) <= MAX_MESSAGE:
        raise bad_request(f"Parameter message is required and must be 1 to {MAX_MESSAGE} characters")
    to_all = parse_bool(body.get("sendtoallsubscribers"), "sendToAllSubscribers")
    targets, invalid = parse_phone_batch(body.get("subscribers"), "subscribers")
    if (to_all or targets or invalid) and not group.is_public:
        raise bad_request("sendToAllSubscribers and subscribers are only allowed on public groups (ConnectGroup)")
    if to_all:
        require_admin(req, group)
    else:
        require_member(req, group)
    state = req.app.state
    conn = req.connector
    assert conn is not None
    msg = Message(state.new_guid(), group.group_id, text, targets, to_all, conn.phone, state.clock.now())
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
    return Reply(out)


def register(router: Router) -> None:
    router.add("POST", "/v1/groups/{groupId}/messages", send_message, permission="textmessage.read")
