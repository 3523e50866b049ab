"""Subscribers of public groups (SU1-SU3).

Paging: subscribers are walked in ascending order of their phone number; the opaque cursor encodes the last
number returned, and the next page starts strictly after it (bisect). A subscriber present for a whole walk is
therefore returned exactly once however many others join or leave between pages.
"""

from __future__ import annotations

from typing import Any

from airflow_provider_kaizala.emulator.access import get_group, require_admin
from airflow_provider_kaizala.emulator.routing import Router
from airflow_provider_kaizala.emulator.state import (
    Group,
    decode_cursor,
    display_name,
    encode_cursor,
    phone_int,
    user_id_and_provisioned,
)
from airflow_provider_kaizala.emulator.wire import (
    REASON_INVALID_PHONE,
    Reply,
    Request,
    bad_request,
    parse_int,
    parse_phone_batch,
)

PAGE_MAX = 50


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


def public_group(req: Request) -> Group:
    group = get_group(req, req.params["groupId"])
    if not group.is_public:
        raise bad_request(f"Group {group.group_id} is not a public group (ConnectGroup)")
    return group


def list_subscribers(req: Request) -> Reply:
    group = public_group(req)
    body = req.json()
    count = PAGE_MAX
    if body.get("count") is not None:
        count = parse_int(body["count"], "count")
        if count < 1:
            raise bad_request("Parameter count must be at least 1")
        count = min(count, PAGE_MAX)
    after = None
    lifetime = req.app.faults.config.cursor_lifetime
    now = req.app.state.clock.now() if lifetime > 0 else None
    cursor = body.get("cursor")
    if cursor not in (None, ""):
        if not isinstance(cursor, str):
            raise bad_request("Parameter cursor must be a string")
        try:
            after, issued = decode_cursor(group.group_id, cursor)
        except (ValueError, UnicodeDecodeError) as exc:
            raise bad_request("Invalid cursor") from exc
        if now is not None and issued is not None and now - issued > lifetime:
            raise bad_request("Cursor expired")
    page, more = group.subscriber_page(after, count)
    out: dict[str, Any] = {"subscribers": [subscriber_json(n) for n in page]}
    if more and page:
        out["cursor"] = encode_cursor(group.group_id, page[-1], now)
    return Reply(out)


def _change(req: Request, adding: bool) -> Reply:
    group = public_group(req)
    require_admin(req, group)
    raw = req.json().get("subscribers")
    if not isinstance(raw, list) or not raw:
        raise bad_request("Parameter subscribers must be a non-empty array of phone numbers")
    phones, invalid = parse_phone_batch(raw, "subscribers")
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
    return Reply({"result": result})


def add_subscribers(req: Request) -> Reply:
    return _change(req, True)


def remove_subscribers(req: Request) -> Reply:
    return _change(req, False)


def register(router: Router) -> None:
    router.add("POST", "/v1/groups/{groupId}/subscribers", list_subscribers, permission="groupmember.read")
    router.add("PUT", "/v1/groups/{groupId}/subscribers/add", add_subscribers, permission="groupmember.write")
    router.add("PUT", "/v1/groups/{groupId}/subscribers/remove", remove_subscribers, permission="groupmember.remove")
