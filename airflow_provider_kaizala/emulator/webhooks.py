"""Webhooks (W1-W4) and the event delivery worker.

Registration performs the validation handshake (``GET callBackUrl?validationToken=...`` must echo the token as
plain text within ``webhook_validation_timeout`` seconds). Events are delivered asynchronously by tasks on the
server's event loop (httpx), at least once: a seeded ``webhook_duplicate_rate`` re-sends some delivered events
with the same ``eventId``; a failed attempt (non-2xx or unreachable) is retried ``webhook_retries`` times with
exponential backoff (``webhook_retry_base`` * 2**n seconds) and after the last failure the webhook is disabled
(``active: false``) until a PUT re-activates it.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import secrets
import time
from collections import deque
from typing import Any
from urllib.parse import urlsplit

import httpx

from airflow_provider_kaizala.emulator.access import get_group, require_member
from airflow_provider_kaizala.emulator.faults import FaultEngine
from airflow_provider_kaizala.emulator.routing import Router
from airflow_provider_kaizala.emulator.state import (
    CURRENT_ACTOR,
    Action,
    Member,
    State,
    Webhook,
    display_name,
    member_event_data,
    user_id,
)
from airflow_provider_kaizala.emulator.wire import (
    Reply,
    Request,
    bad_request,
    encode_json,
    not_found,
    parse_bool,
    parse_int,
    parse_phone,
)

log = logging.getLogger("kaizala.emulator.webhooks")

EVENT_TYPES = {
    e.lower(): e
    for e in (
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
}
OBJECT_TYPES = {"group": "Group", "action": "Action", "actionpackage": "ActionPackage"}
DEFAULT_VALIDITY_MS = 2 * 365 * 86_400_000
DELIVERY_LOG_LIMIT = 100_000


# -- delivery -------------------------------------------------------------------------------------------
class Deliverer:
    """Fans events out to matching webhooks and delivers them from tasks on the server's event loop."""

    def __init__(self, state: State, faults: FaultEngine) -> None:
        self.state = state
        self.faults = faults
        self.tasks: set[asyncio.Task[None]] = set()
        self.deliveries: deque[dict[str, Any]] = deque(maxlen=DELIVERY_LOG_LIMIT)
        self.seq = 0
        self.pending: list[tuple[str, dict[str, Any], bool]] = []
        self._client: httpx.AsyncClient | None = None

    def reset(self) -> None:
        for task in self.tasks:
            task.cancel()
        self.tasks.clear()
        self.deliveries.clear()
        self.pending.clear()
        self.seq = 0

    async def close(self) -> None:
        self.reset()
        if self._client is not None:
            with contextlib.suppress(Exception):
                await self._client.aclose()
            self._client = None

    def client(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(trust_env=False, follow_redirects=False)
        return self._client

    # -- fan-out ----------------------------------------------------------------------------------------
    def emit(self, event_type: str, group_id: str, data: dict[str, Any], actor: str | None) -> None:
        """State sink (members, messages, sub-groups): a group-level event."""
        self.dispatch(event_type, group_id, data, actor)

    def emit_action(self, event_type: str, action: Action, data: dict[str, Any]) -> None:
        """An action-level event (created/response), also matching Action and ActionPackage webhooks."""
        self.dispatch(
            event_type,
            action.group_id,
            data,
            CURRENT_ACTOR.get() or action.sender,
            action_id=action.action_id,
            package_id=action.package_id,
        )

    def dispatch(
        self,
        event_type: str,
        group_id: str,
        data: dict[str, Any],
        actor: str | None,
        *,
        action_id: str | None = None,
        package_id: str | None = None,
    ) -> tuple[str, int]:
        """Build the event envelope for every active matching webhook and schedule its delivery."""
        state = self.state
        if actor is None:
            group = state.groups.get(group_id)
            admins = [p for p, m in group.members.items() if m.role == "Admin"] if group else []
            actor = admins[0] if admins else ""
        now_ms = int(state.clock.now() * 1000)
        event_id = state.new_event_id()
        matched = 0
        for wh in list(state.webhooks.values()):
            if not wh.active or wh.validity <= now_ms or event_type not in wh.events:
                continue
            if wh.object_type == "Group":
                hit = wh.object_id == group_id
            elif wh.object_type == "Action":
                hit = action_id is not None and wh.object_id == action_id
            else:
                hit = package_id is not None and wh.object_id == package_id
            if not hit:
                continue
            matched += 1
            envelope = {
                "objectId": wh.object_id,
                "objectType": wh.object_type,
                "eventType": event_type,
                "eventId": event_id,
                "data": data,
                "context": wh.callback_context,
                "fromUser": actor,
                "fromUserId": user_id(actor) if actor else "",
                "fromUserName": display_name(actor) if actor else "",
                "fromUserProfilePic": "",
                "subscriptionId": wh.webhook_id,
            }
            self._schedule(wh.webhook_id, envelope, False)
        return event_id, matched

    def _schedule(self, webhook_id: str, envelope: dict[str, Any], duplicate: bool) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # not on the server loop (e.g. seeding before start): deliver later
            self.pending.append((webhook_id, envelope, duplicate))
            return
        jobs, self.pending = [*self.pending, (webhook_id, envelope, duplicate)], []
        for job in jobs:
            task = loop.create_task(self._deliver(*job))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)

    # -- one delivery, with retries -------------------------------------------------------------------
    def _record(self, webhook_id: str, envelope: dict[str, Any], attempt: int, duplicate: bool, **kw: Any) -> None:
        self.seq += 1
        entry = {
            "seq": self.seq,
            "ts": int(time.time() * 1000),
            "webhookId": webhook_id,
            "eventId": envelope["eventId"],
            "eventType": envelope["eventType"],
            "attempt": attempt,
            "status": None,
            "error": None,
            "duplicate": duplicate,
            "disabled": False,
            "abandoned": False,
        }
        entry.update(kw)
        self.deliveries.append(entry)

    async def _deliver(self, webhook_id: str, envelope: dict[str, Any], duplicate: bool) -> None:
        attempt = 0
        while True:
            attempt += 1
            cfg = self.faults.config
            wh = self.state.webhooks.get(webhook_id)
            if wh is None or not wh.active:
                reason = "webhook deleted" if wh is None else "webhook inactive"
                self._record(webhook_id, envelope, attempt, duplicate, error=reason, abandoned=True)
                return
            status, error = await self._post(wh, envelope, cfg.webhook_delivery_timeout)
            ok = status is not None and 200 <= status < 300
            last = not ok and attempt > cfg.webhook_retries
            if last:
                wh.active = False
                wh.disabled_reason = f"{attempt} failed delivery attempts"
                log.info("webhook %s disabled after %d failed attempts", webhook_id, attempt)
            self._record(webhook_id, envelope, attempt, duplicate, status=status, error=error, disabled=last)
            if ok:
                if not duplicate and self._roll(cfg.webhook_duplicate_rate):
                    self._schedule(webhook_id, envelope, True)
                return
            if last:
                return
            await asyncio.sleep(cfg.webhook_retry_base * 2 ** (attempt - 1))

    def _roll(self, rate: float) -> bool:
        return rate > 0 and self.faults.webhook_rng.random() < rate

    async def _post(self, wh: Webhook, envelope: dict[str, Any], timeout: float) -> tuple[int | None, str | None]:
        headers = {"content-type": "application/json; charset=utf-8", "kz-callback-token": wh.callback_token}
        try:
            resp = await asyncio.wait_for(
                self.client().post(wh.callback_url, content=encode_json(envelope), headers=headers, timeout=timeout),
                timeout,
            )
        except (TimeoutError, httpx.HTTPError, OSError) as exc:
            return None, f"{type(exc).__name__}: {exc}"[:300]
        return resp.status_code, None if 200 <= resp.status_code < 300 else f"HTTP {resp.status_code}"

    async def validate(self, url: str) -> None:
        """The registration handshake: 400 unless ``url`` echoes a fresh validationToken in time."""
        timeout = self.faults.config.webhook_validation_timeout
        token = secrets.token_urlsafe(18)
        target = f"{url}{'&' if urlsplit(url).query else '?'}validationToken={token}"
        try:
            resp = await asyncio.wait_for(self.client().get(target, timeout=timeout), timeout)
        except (TimeoutError, httpx.TimeoutException) as exc:
            raise bad_request(
                f"Webhook validation failed: callBackUrl did not answer the validation request within {timeout:g} s"
            ) from exc
        except (httpx.HTTPError, OSError) as exc:
            raise bad_request(
                f"Webhook validation failed: callBackUrl could not be reached ({type(exc).__name__})"
            ) from exc
        if not 200 <= resp.status_code < 300:
            raise bad_request(
                f"Webhook validation failed: callBackUrl answered HTTP {resp.status_code} to the validation request"
            )
        if resp.text.strip() != token:
            raise bad_request(
                "Webhook validation failed: callBackUrl must return the validationToken query parameter "
                "as the plain-text response body"
            )


# -- request parsing ----------------------------------------------------------------------------------
def check_url(value: Any, name: str = "callBackUrl") -> str:
    """An absolute https URL; the emulator also accepts http for loopback hosts (127.0.0.0/8, ::1, localhost)."""
    if not isinstance(value, str) or not value.strip():
        raise bad_request(f"Parameter {name} is required and must be a URL")
    url = value.strip()
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:
        raise bad_request(f"Parameter {name} is not a valid URL") from None
    if parts.scheme.lower() not in ("http", "https") or not host:
        raise bad_request(f"Parameter {name} must be an absolute https URL")
    if parts.scheme.lower() == "http" and not _is_loopback(host):
        raise bad_request(f"Parameter {name} must use https (the emulator accepts http only for loopback hosts)")
    return url


def _is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def parse_events(value: Any) -> list[str]:
    if not isinstance(value, list) or not value:
        raise bad_request("Parameter eventTypes is required and must be a non-empty array of event types")
    out = []
    for ev in value:
        if not isinstance(ev, str) or ev.lower() not in EVENT_TYPES:
            raise bad_request(f"Parameter eventTypes has an unknown event type {ev!r}")
        out.append(EVENT_TYPES[ev.lower()])
    return list(dict.fromkeys(out))


def _opt_text(body: dict[str, Any], key: str, name: str) -> str | None:
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise bad_request(f"Parameter {name} must be a string")
    return value


def _validity(value: Any, now_ms: int) -> int:
    validity = parse_int(value, "validity")
    if validity <= now_ms:
        raise bad_request("Parameter validity must be a future instant in epoch milliseconds")
    return validity


def check_object(req: Request, object_id: Any, object_type: Any) -> tuple[str, str]:
    """Validate ``objectId``/``objectType`` and that the caller can see the object (404/403)."""
    if not isinstance(object_type, str) or object_type.lower() not in OBJECT_TYPES:
        raise bad_request("Parameter objectType is required and must be Group, Action or ActionPackage")
    if not isinstance(object_id, str) or not object_id.strip():
        raise bad_request("Parameter objectId is required and must be a string")
    kind = OBJECT_TYPES[object_type.lower()]
    if kind == "Group":
        require_member(req, get_group(req, object_id))
    elif kind == "Action":
        action = req.app.state.actions.get(object_id)
        if action is None:
            raise not_found(f"Action {object_id} not found")
        get_group(req, action.group_id)
    return object_id, kind


def _find(req: Request) -> Webhook:
    wh = req.app.state.webhooks.get(req.params["webhookId"])
    assert req.connector is not None
    if wh is None or wh.tenant_id != req.connector.tenant_id:
        raise not_found(f"Webhook {req.params['webhookId']} not found")
    return wh


# -- W1-W4 ----------------------------------------------------------------------------------------------
async def create_webhook(req: Request) -> Reply:
    body = req.json()
    object_id, object_type = check_object(req, body.get("objectid"), body.get("objecttype"))
    events = parse_events(body.get("eventtypes", body.get("events")))
    url = check_url(body.get("callbackurl"))
    token = _opt_text(body, "callbacktoken", "callBackToken") or ""
    context = _opt_text(body, "callbackcontext", "callBackContext") or ""
    state = req.app.state
    now_ms = int(state.clock.now() * 1000)
    validity = now_ms + DEFAULT_VALIDITY_MS if body.get("validity") is None else _validity(body["validity"], now_ms)
    await req.app.deliverer.validate(url)
    conn = req.connector
    assert conn is not None
    wh = Webhook(
        webhook_id=state.new_guid(),
        object_id=object_id,
        object_type=object_type,
        events=events,
        callback_url=url,
        callback_token=token,
        callback_context=context,
        ts=now_ms,
        validity=validity,
        tenant_id=conn.tenant_id,
        creator=conn.application_id,
    )
    state.webhooks[wh.webhook_id] = wh
    return Reply({"webhookId": wh.webhook_id})


def list_webhooks(req: Request) -> Reply:
    q = req.query
    if q.get("objectid") is None or q.get("objecttype") is None:
        raise bad_request("Query parameters objectId and objectType are required")
    object_id, object_type = check_object(req, q.get("objectid"), q.get("objecttype"))
    assert req.connector is not None
    tenant = req.connector.tenant_id
    found = [
        wh.to_json()
        for wh in req.app.state.webhooks.values()
        if wh.object_id == object_id and wh.object_type == object_type and wh.tenant_id == tenant
    ]
    return Reply({"webhooks": found})


async def update_webhook(req: Request) -> Reply:
    wh = _find(req)
    body = req.json()
    changes: dict[str, Any] = {}
    if body.get("objectid") is not None or body.get("objecttype") is not None:
        changes["object_id"], changes["object_type"] = check_object(
            req, body.get("objectid", wh.object_id), body.get("objecttype", wh.object_type)
        )
    raw_events = body.get("eventtypes", body.get("events"))
    if raw_events is not None:
        changes["events"] = parse_events(raw_events)
    if body.get("callbackurl") is not None:
        changes["callback_url"] = check_url(body.get("callbackurl"))
    for key, attr, name in (
        ("callbacktoken", "callback_token", "callBackToken"),
        ("callbackcontext", "callback_context", "callBackContext"),
    ):
        text = _opt_text(body, key, name)
        if text is not None:
            changes[attr] = text
    if body.get("validity") is not None:
        changes["validity"] = _validity(body["validity"], int(req.app.state.clock.now() * 1000))
    active = parse_bool(body.get("active"), "active") if body.get("active") is not None else None
    new_url = changes.get("callback_url")
    if new_url is not None and new_url != wh.callback_url:
        await req.app.deliverer.validate(new_url)
    for attr, value in changes.items():
        setattr(wh, attr, value)
    if active is not None:
        wh.active = active
        wh.disabled_reason = None if active else "deactivated by PUT"
    return Reply({"result": True})


def delete_webhook(req: Request) -> Reply:
    wh = _find(req)
    del req.app.state.webhooks[wh.webhook_id]
    return Reply({"result": True})


# -- admin ---------------------------------------------------------------------------------------------
def admin_webhooks(req: Request) -> Reply:
    out = []
    for wh in req.app.state.webhooks.values():
        item = wh.to_json()
        item.update({"tenantId": wh.tenant_id, "creator": wh.creator, "disabledReason": wh.disabled_reason})
        out.append(item)
    return Reply({"webhooks": out})


def admin_deliveries(req: Request) -> Reply:
    q = req.query
    wid, eid = q.get("webhookid"), q.get("eventid")
    since = parse_int(q.get("since", "0"), "since")
    return Reply(
        {
            "deliveries": [
                d
                for d in req.app.deliverer.deliveries
                if d["seq"] > since and (wid is None or d["webhookId"] == wid) and (eid is None or d["eventId"] == eid)
            ],
            "inFlight": len(req.app.deliverer.tasks),
        }
    )


def admin_clear_deliveries(req: Request) -> Reply:
    req.app.deliverer.deliveries.clear()
    return Reply({"result": True})


def admin_emit(req: Request) -> Reply:
    """Emit a synthetic event: ``{"groupId", "eventType", "data"?, "fromUser"?, "actionId"?, "actionPackageId"?}``."""
    body = req.json()
    state = req.app.state
    group_id = body.get("groupid")
    if not isinstance(group_id, str) or group_id not in state.groups:
        raise not_found(f"Group {group_id} not found")
    raw = body.get("eventtype")
    if not isinstance(raw, str) or raw.lower() not in EVENT_TYPES:
        raise bad_request(f"eventType must be one of {', '.join(EVENT_TYPES.values())}")
    event_type = EVENT_TYPES[raw.lower()]
    actor = parse_phone(body["fromuser"]) if body.get("fromuser") is not None else None
    action_id = body.get("actionid")
    package_id = body.get("actionpackageid")
    data = body.get("data")
    if data is None:
        if event_type == "TextMessageCreated":
            data = {"text": "Synthetic event"}
        elif event_type in ("MemberAdded", "MemberRemoved"):
            data = member_event_data(Member(actor or "+919800000000"))
        else:
            data = {"groupId": group_id, **({"actionId": action_id} if action_id else {})}
    if not isinstance(data, dict):
        raise bad_request("data must be an object")
    event_id, matched = req.app.deliverer.dispatch(
        event_type, group_id, data, actor, action_id=action_id, package_id=package_id
    )
    return Reply({"eventId": event_id, "webhooks": matched})


def register(router: Router) -> None:
    router.add("POST", "/v1/webhook", create_webhook, permission="webhook.write")
    router.add("GET", "/v1/webhook", list_webhooks, permission="webhook.read")
    router.add("PUT", "/v1/webhook/{webhookId}", update_webhook, permission="webhook.update")
    router.add("DELETE", "/v1/webhook/{webhookId}", delete_webhook, permission="webhook.remove")
    router.add("GET", "/_emulator/webhooks", admin_webhooks, kind="admin")
    router.add("GET", "/_emulator/webhooks/deliveries", admin_deliveries, kind="admin")
    router.add("DELETE", "/_emulator/webhooks/deliveries", admin_clear_deliveries, kind="admin")
    router.add("POST", "/_emulator/events", admin_emit, kind="admin")
