"""What the emulator's FastAPI route handlers are given: the state, the fault switches, webhook delivery and (for the
admin API) control of the whole emulator, explicitly.

Each family module has a ``router(services) -> APIRouter``; handlers reach the state through the
:class:`Services` their router was built with, the calling connector through the :func:`caller` dependency (the
request pipeline authenticated it before the handler runs) and the endpoint that was asked through
:func:`endpoint_url`, never through the whole app. :class:`Events` and :class:`Control` are protocols, so no
family module imports the app or the webhook deliverer.

What the pipeline checks before a handler runs is declared on the route with one of :func:`resource`,
:func:`auth` or :func:`admin` (its ``openapi_extra``), and read back by :func:`route_rules`.
"""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass
from typing import Annotated, Any, Literal, Protocol

from fastapi import Depends
from starlette.requests import Request

from airflow_provider_kaizala.emulator.faults import FaultEngine
from airflow_provider_kaizala.emulator.state import Action, Connector, State

#: ``openapi_extra`` key of a resource route: the connector permission it needs (the pipeline answers 403).
PERMISSION = "x-kaizala-permission"
#: ``openapi_extra`` key: what the pipeline does before the handler (``auth``, ``resource`` or ``admin``).
KIND = "x-kaizala-kind"
#: ``openapi_extra`` key: the body a POST/PUT route takes (``json``: a body needs a JSON Content-Type, else 415;
#: ``multipart``: the handler checks its own Content-Type).
BODY = "x-kaizala-body"
#: Keys that only steer the pipeline (left out of the generated OpenAPI document).
PIPELINE_KEYS = (KIND, BODY)

RouteKind = Literal["auth", "resource", "admin"]
BodyKind = Literal["json", "multipart"]


def resource(permission: str, *, body: BodyKind = "json") -> dict[str, Any]:
    """``openapi_extra`` of a resource route: access token, relocation, throttling, then ``permission`` (403)."""
    return {KIND: "resource", PERMISSION: permission, BODY: body}


def auth() -> dict[str, Any]:
    """``openapi_extra`` of a token-service route: faults and the call log, no access token."""
    return {KIND: "auth", BODY: "json"}


def admin() -> dict[str, Any]:
    """``openapi_extra`` of an admin route (``/_emulator``): no faults, no auth, not in the call log. Declare admin
    routes with ``include_in_schema=False`` as well: they are not part of the Kaizala API."""
    return {KIND: "admin", BODY: "json"}


#: What each error status of the API means (the description of a route's declared answer).
ANSWERS = {
    400: "Invalid parameters",
    401: "Missing, unknown, expired or revoked token, or bad credentials",
    403: "The connector lacks the permission, or the caller's role does not allow the call",
    404: "Unknown group, member, action, reference or webhook",
    409: "Conflict with the current state",
    413: "Body too large",
    415: "Unsupported Content-Type",
    429: "Throttled (sliding window per connector and per tenant)",
}


def answers(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` of a route: the error statuses its handler and validation can answer. (The generated
    OpenAPI document gives them the API's three-field error body and adds what the pipeline can answer.)"""
    return {status: {"description": ANSWERS[status]} for status in statuses}


@dataclass(frozen=True)
class RouteRules:
    """What the pipeline checks for one route (read from its ``openapi_extra``)."""

    kind: RouteKind
    permission: str | None
    body: BodyKind


def route_rules(openapi_extra: dict[str, Any] | None) -> RouteRules:
    """The :class:`RouteRules` a route declared; a route that declared none is a mistake (``ValueError``)."""
    extra = openapi_extra or {}
    kind = extra.get(KIND)
    if kind not in ("auth", "resource", "admin"):
        raise ValueError("every emulator route declares its kind with services.resource(), auth() or admin()")
    return RouteRules(kind, extra.get(PERMISSION), extra.get(BODY, "json"))


class Events(Protocol):
    """Webhook event delivery (``webhooks.Deliverer``), as the route handlers use it."""

    deliveries: deque[dict[str, Any]]
    tasks: set[asyncio.Task[None]]

    def emit_action(self, event_type: str, action: Action, data: dict[str, Any]) -> None: ...

    def dispatch(
        self,
        event_type: str,
        group_id: str,
        data: dict[str, Any],
        actor: str | None,
        *,
        action_id: str | None = None,
        package_id: str | None = None,
    ) -> tuple[str, int]: ...

    async def validate(self, url: str) -> None: ...


class Control(Protocol):
    """Control of the whole emulator (the app), for the admin API only."""

    background: dict[str, asyncio.Task[None]]

    @property
    def urls(self) -> dict[str, str]: ...

    @property
    def calls(self) -> deque[dict[str, Any]]: ...

    def reset(self) -> None: ...

    def relocate(self, conn: Connector, to: str | None = None) -> str: ...

    def openapi_document(self, server_url: str) -> dict[str, Any]: ...


@dataclass(frozen=True)
class Services:
    """What route handlers are built with."""

    state: State
    faults: FaultEngine
    events: Events
    control: Control


async def caller(request: Request) -> Connector:
    """The connector whose access token the pipeline accepted for this call."""
    conn: Connector = request.state.connector
    return conn


async def endpoint_url(request: Request) -> str:
    """The base URL (``http://host:port``) of the endpoint the request came to (primary or alternate)."""
    url: str = request.state.endpoint_url
    return url


def report_caller(request: Request, conn: Connector) -> None:
    """Tell the pipeline which connector a token-service call belongs to (for the call log)."""
    request.state.connector = conn


#: Handler parameter annotations for the two dependencies.
Caller = Annotated[Connector, Depends(caller)]
EndpointUrl = Annotated[str, Depends(endpoint_url)]
