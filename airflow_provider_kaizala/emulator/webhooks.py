"""Webhooks (W1-W4), served by FastAPI, the admin views of webhooks and deliveries, and the event delivery worker.

Registration performs the validation handshake (``GET callBackUrl?validationToken=...`` must echo the token as
plain text within ``webhook_validation_timeout`` seconds). Events are delivered asynchronously by tasks on the
server's event loop (httpx), at least once: a seeded ``webhook_duplicate_rate`` re-sends some delivered events
with the same ``eventId``; a failed attempt (non-2xx or unreachable) is retried ``webhook_retries`` times with
exponential backoff (``webhook_retry_base`` * 2**n seconds) and after the last failure the webhook is disabled
(``active: false``) until a PUT re-activates it.

Annotations are evaluated eagerly: FastAPI reads the dependencies declared inside :func:`router` from them.
"""

import asyncio
import contextlib
import ipaddress
import logging
import secrets
import time
from collections import deque
from typing import TYPE_CHECKING, Annotated, Any, Literal, get_args
from urllib.parse import urlsplit

import httpx
from fastapi import APIRouter, Depends, Path, Query
from pydantic import AfterValidator, Field, StrictStr, model_validator
from starlette.responses import Response

from airflow_provider_kaizala.emulator.access import existing_group, member_group, visible_group
from airflow_provider_kaizala.emulator.faults import FaultEngine
from airflow_provider_kaizala.emulator.models import (
    Answer,
    Body,
    LenientBool,
    NonBlank,
    Phone,
    PositiveInt,
    Result,
    any_case,
    http_host,
)
from airflow_provider_kaizala.emulator.services import Caller, Services, admin, answers, resource
from airflow_provider_kaizala.emulator.state import (
    CURRENT_ACTOR,
    Action,
    Connector,
    Member,
    State,
    display_name,
    member_event_data,
    user_id,
)
from airflow_provider_kaizala.emulator.state import Webhook as WebhookRecord
from airflow_provider_kaizala.emulator.wire import bad_request, encode_json, json_response, not_found

log = logging.getLogger("kaizala.emulator.webhooks")

#: The event types a webhook can subscribe to (matched in any case).
EventType = Literal[
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
]
#: The objects a webhook can watch (matched in any case).
ObjectType = Literal["Group", "Action", "ActionPackage"]
EVENT_TYPES: dict[str, str] = {e.lower(): e for e in get_args(EventType)}
OBJECT_TYPES: dict[str, str] = {o.lower(): o for o in get_args(ObjectType)}
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

    async def _post(self, wh: WebhookRecord, envelope: dict[str, Any], timeout: float) -> tuple[int | None, str | None]:
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


# -- request models -------------------------------------------------------------------------------------
def _is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_url(value: str) -> str:
    """An absolute https URL; the emulator also accepts http for loopback hosts (127.0.0.0/8, ::1, localhost).
    Returns it without surrounding blanks; a ``ValueError`` says what is wrong."""
    url = value.strip()
    host = http_host(url, "must be an absolute https URL")
    if not host:
        raise ValueError("must be an absolute https URL")
    if url.lower().startswith("http:") and not _is_loopback(host):
        raise ValueError("must use https (the emulator accepts http only for loopback hosts)")
    return url


def _unique(values: list[str]) -> list[str]:
    return list(dict.fromkeys(values))


if TYPE_CHECKING:  # any_case() builds a str type at run time
    AnyCaseObjectType = str
    AnyCaseEventType = str
else:
    AnyCaseObjectType = any_case(*get_args(ObjectType))
    AnyCaseEventType = any_case(*get_args(EventType))
EventTypes = Annotated[
    list[AnyCaseEventType],
    Field(min_length=1, description="event types in any case (alias: events); duplicates are dropped"),
    AfterValidator(_unique),
]
CallbackUrl = Annotated[
    StrictStr,
    AfterValidator(check_url),
    Field(
        description="https (http only for loopback hosts); must echo the validationToken",
        json_schema_extra={"format": "uri"},
    ),
]
Validity = Annotated[PositiveInt, Field(description="expiry, epoch ms in the future (default now + 2 years)")]


class _WebhookFields(Body):
    """What W1 and W3 bodies share: ``events`` is an alias of ``eventTypes`` (which wins when both come)."""

    @model_validator(mode="before")
    @classmethod
    def _events_alias(cls, data: Any) -> Any:
        # Runs before Body's key matching (subclass validators first), on the keys as they came.
        if not isinstance(data, dict):
            return data
        given = {str(k).lower(): k for k, v in data.items() if v is not None}
        if "eventtypes" in given or "events" not in given:
            return data
        kept = {k: v for k, v in data.items() if str(k).lower() != "eventtypes"}
        return {**kept, "eventTypes": data[given["events"]]}


class WebhookRegistration(_WebhookFields):
    """W1 body: the object watched, the events, the callback (validated by the handshake) and its extras."""

    objectId: NonBlank
    objectType: AnyCaseObjectType
    eventTypes: EventTypes
    callBackUrl: CallbackUrl
    callBackToken: Annotated[StrictStr, Field(description="sent as the kz-callback-token header")] = ""
    callBackContext: Annotated[StrictStr, Field(description="sent as the event's context")] = ""
    validity: Validity | None = None


class WebhookChange(_WebhookFields):
    """W3 body: a partial update; a changed ``callBackUrl`` is validated again; ``active`` re-enables a webhook."""

    objectId: NonBlank | None = None
    objectType: AnyCaseObjectType | None = None
    eventTypes: EventTypes | None = None
    callBackUrl: CallbackUrl | None = None
    callBackToken: StrictStr | None = None
    callBackContext: StrictStr | None = None
    validity: Validity | None = None
    active: LenientBool | None = None


class SyntheticEvent(Body):
    """``POST /_emulator/events`` body: an event for the webhooks of a group (and of an action or package)."""

    groupId: StrictStr
    eventType: AnyCaseEventType
    data: dict[str, Any] | None = None
    fromUser: Phone | None = None
    actionId: StrictStr | None = None
    actionPackageId: StrictStr | None = None


# -- response models (documentation only: the handlers answer with json_response) --------------------------------
class WebhookCreated(Answer):
    """W1 answer."""

    webhookId: str


class Webhook(Answer):
    """A webhook as W2 lists it."""

    id: str
    objectId: str
    objectType: ObjectType
    events: list[EventType]
    filters: list[Any]
    callbackUrl: str
    callbackToken: str
    callBackContext: str
    ts: int
    validity: int
    active: bool


class WebhookList(Answer):
    """W2 answer."""

    webhooks: list[Webhook]


# -- W1-W4 ----------------------------------------------------------------------------------------------
def check_object(state: State, conn: Connector, object_id: str, object_type: str) -> None:
    """That the caller can see the watched object: 404 for an unknown group or action, 403 for a group the caller
    is not a member of (or an action in a group it cannot see). An action package needs no object."""
    if object_type == "Group":
        member_group(state, conn, object_id)
    elif object_type == "Action":
        action = state.actions.get(object_id)
        if action is None:
            raise not_found(f"Action {object_id} not found")
        visible_group(state, conn, action.group_id)


def _check_validity(state: State, validity: int) -> int:
    if validity <= int(state.clock.now() * 1000):
        raise bad_request("Parameter validity: must be a future instant in epoch milliseconds")
    return validity


WebhookId = Annotated[str, Path(description="Webhook id (as W1 answered it)")]


def router(services: Services) -> APIRouter:
    """W1-W4 and the admin webhook routes bound to ``services``."""
    api = APIRouter()
    state = services.state
    events = services.events

    # A dependency: an unknown webhook (or one of another tenant) is a 404 whatever the body.
    async def owned(webhookId: WebhookId, conn: Caller) -> WebhookRecord:
        wh = state.webhooks.get(webhookId)
        if wh is None or wh.tenant_id != conn.tenant_id:
            raise not_found(f"Webhook {webhookId} not found")
        return wh

    @api.post(
        "/v1/webhook",
        summary="W1 Register a webhook",
        openapi_extra=resource("webhook.write"),
        response_model=WebhookCreated,
        responses=answers(400, 403, 404),
    )
    async def create_webhook(conn: Caller, body: WebhookRegistration) -> Response:
        """The callBackUrl must answer `GET ?validationToken=X` with X as plain text (else 400)."""
        check_object(state, conn, body.objectId, body.objectType)
        now_ms = int(state.clock.now() * 1000)
        validity = now_ms + DEFAULT_VALIDITY_MS if body.validity is None else _check_validity(state, body.validity)
        await events.validate(body.callBackUrl)
        wh = WebhookRecord(
            webhook_id=state.new_guid(),
            object_id=body.objectId,
            object_type=body.objectType,
            events=body.eventTypes,
            callback_url=body.callBackUrl,
            callback_token=body.callBackToken,
            callback_context=body.callBackContext,
            ts=now_ms,
            validity=validity,
            tenant_id=conn.tenant_id,
            creator=conn.application_id,
        )
        state.webhooks[wh.webhook_id] = wh
        return json_response({"webhookId": wh.webhook_id})

    @api.get(
        "/v1/webhook",
        summary="W2 List the webhooks of an object",
        openapi_extra=resource("webhook.read"),
        response_model=WebhookList,
        responses=answers(400, 403, 404),
    )
    async def list_webhooks(
        conn: Caller,
        objectId: Annotated[NonBlank, Query()],
        objectType: Annotated[AnyCaseObjectType, Query()],
    ) -> Response:
        check_object(state, conn, objectId, objectType)
        found = [
            wh.to_json()
            for wh in state.webhooks.values()
            if wh.object_id == objectId and wh.object_type == objectType and wh.tenant_id == conn.tenant_id
        ]
        return json_response({"webhooks": found})

    @api.put(
        "/v1/webhook/{webhookId}",
        summary="W3 Update a webhook",
        openapi_extra=resource("webhook.update"),
        response_model=Result,
        responses=answers(400, 403, 404),
    )
    async def update_webhook(
        wh: Annotated[WebhookRecord, Depends(owned)], conn: Caller, body: WebhookChange | None = None
    ) -> Response:
        """A partial update; a changed callBackUrl is validated again; `active: true` re-enables a webhook that
        failed deliveries disabled."""
        change = body or WebhookChange()
        changes: dict[str, Any] = {}
        if change.objectId is not None or change.objectType is not None:
            object_id = change.objectId if change.objectId is not None else wh.object_id
            object_type = change.objectType if change.objectType is not None else wh.object_type
            check_object(state, conn, object_id, object_type)
            changes["object_id"], changes["object_type"] = object_id, object_type
        for attr, value in (
            ("events", change.eventTypes),
            ("callback_url", change.callBackUrl),
            ("callback_token", change.callBackToken),
            ("callback_context", change.callBackContext),
        ):
            if value is not None:
                changes[attr] = value
        if change.validity is not None:
            changes["validity"] = _check_validity(state, change.validity)
        new_url = changes.get("callback_url")
        if new_url is not None and new_url != wh.callback_url:
            await events.validate(new_url)
        for attr, value in changes.items():
            setattr(wh, attr, value)
        if change.active is not None:
            wh.active = change.active
            wh.disabled_reason = None if change.active else "deactivated by PUT"
        return json_response({"result": True})

    @api.delete(
        "/v1/webhook/{webhookId}",
        summary="W4 Delete a webhook",
        openapi_extra=resource("webhook.remove"),
        response_model=Result,
        responses=answers(404),
    )
    async def delete_webhook(wh: Annotated[WebhookRecord, Depends(owned)]) -> Response:
        del state.webhooks[wh.webhook_id]
        return json_response({"result": True})

    # -- admin ---------------------------------------------------------------------------------------------
    @api.get("/_emulator/webhooks", openapi_extra=admin(), include_in_schema=False)
    async def admin_webhooks() -> Response:
        out = []
        for wh in state.webhooks.values():
            item = wh.to_json()
            item.update({"tenantId": wh.tenant_id, "creator": wh.creator, "disabledReason": wh.disabled_reason})
            out.append(item)
        return json_response({"webhooks": out})

    @api.get("/_emulator/webhooks/deliveries", openapi_extra=admin(), include_in_schema=False)
    async def admin_deliveries(
        webhookId: Annotated[str | None, Query()] = None,
        eventId: Annotated[str | None, Query()] = None,
        since: Annotated[int, Query(description="only attempts with a larger seq")] = 0,
    ) -> Response:
        found = [
            d
            for d in events.deliveries
            if d["seq"] > since
            and (webhookId is None or d["webhookId"] == webhookId)
            and (eventId is None or d["eventId"] == eventId)
        ]
        return json_response({"deliveries": found, "inFlight": len(events.tasks)})

    @api.delete("/_emulator/webhooks/deliveries", openapi_extra=admin(), include_in_schema=False)
    async def admin_clear_deliveries() -> Response:
        events.deliveries.clear()
        return json_response({"result": True})

    @api.post("/_emulator/events", openapi_extra=admin(), include_in_schema=False)
    async def admin_emit(body: SyntheticEvent) -> Response:
        """Emit a synthetic event to the matching webhooks; answers ``{"eventId", "webhooks": matched}``."""
        existing_group(state, body.groupId)
        data = body.data
        if data is None:
            if body.eventType == "TextMessageCreated":
                data = {"text": "Synthetic event"}
            elif body.eventType in ("MemberAdded", "MemberRemoved"):
                data = member_event_data(Member(body.fromUser or "+919800000000"))
            else:
                data = {"groupId": body.groupId, **({"actionId": body.actionId} if body.actionId else {})}
        event_id, matched = events.dispatch(
            body.eventType,
            body.groupId,
            data,
            body.fromUser,
            action_id=body.actionId,
            package_id=body.actionPackageId,
        )
        return json_response({"eventId": event_id, "webhooks": matched})

    return api
