"""The emulator's ASGI application: one app serving the primary and the alternate endpoint.

The request pipeline for API calls (everything outside ``/_emulator``) is, in order:
injected drop (phase ``before``) -> injected 5xx -> slow (phase ``before``) -> routing -> for resource calls:
access token check -> relocation (308) -> throttling (429) -> permission (403) -> handler -> drop/slow
(phase ``after``) -> response. Admin calls (``/_emulator/...``) skip faults, auth and the call log.

The pipeline is raw ASGI; behind it, the families already migrated are FastAPI routes (``api.py``, called for
an authorised request with the path's literal segments in their declared case), the others handlers of the
case-insensitive router (``routing.py``). A dropped
connection is really dropped: the transport is aborted before any byte is written, through the connection
registry of ``connections.py`` (the server records each connection's transport; the app names it by the scope's
``client``).
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

from airflow_provider_kaizala.emulator import media, webhooks
from airflow_provider_kaizala.emulator.api import FAMILIES, ApiRoutes, Matched
from airflow_provider_kaizala.emulator.connections import Connections
from airflow_provider_kaizala.emulator.faults import FaultConfig, FaultEngine
from airflow_provider_kaizala.emulator.routing import Router
from airflow_provider_kaizala.emulator.services import Services
from airflow_provider_kaizala.emulator.state import CURRENT_ACTOR, Connector, State
from airflow_provider_kaizala.emulator.wire import (
    MSG_TOKEN_INVALID,
    MSG_TOKEN_MISSING,
    ApiError,
    Reply,
    Request,
    encode_json,
    is_json_content_type,
)

log = logging.getLogger("kaizala.emulator")

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

MAX_BODY = 4 * 1024 * 1024
CALL_LOG_LIMIT = 200_000
_JSON_HEADERS = [(b"content-type", b"application/json; charset=utf-8")]


class _Dropped(Exception):
    """Internal: the connection could not be aborted (not served through ``connections``); the server answers 500."""


class Relocated(ApiError):
    """308: the connector's endpoint moved; ``Location`` carries the new base URL."""

    def __init__(self, location: str) -> None:
        super().__init__(308, "Endpoint relocated", headers=[(b"location", location.encode())], fault="relocate")
        self.location = location

    def body(self) -> dict[str, str]:
        return {"message": self.message, "endpointUrl": self.location}


async def _complete(result: Reply | Awaitable[Reply]) -> Reply:
    """The reply of a handler, awaiting it when the handler is a coroutine (webhook validation)."""
    if inspect.isawaitable(result):
        return await result
    return result


class EmulatorApp:
    """ASGI callable holding the whole emulator (state, faults, call log, routes)."""

    def __init__(self, faults: FaultConfig | None = None, *, id_seed: int = 0) -> None:
        self.state = State(id_seed)
        self.faults = FaultEngine(faults or FaultConfig())
        self.router = Router()
        self.urls: dict[str, str] = {"primary": "http://127.0.0.1", "alternate": "http://127.0.0.1"}
        self.port_names: dict[int, str] = {}
        self.calls: deque[dict[str, Any]] = deque(maxlen=CALL_LOG_LIMIT)
        self.seq = 0
        self.background: dict[str, asyncio.Task[None]] = {}
        self.connections = Connections()  # the server records transports here (the drop fault)
        self.deliverer = webhooks.Deliverer(self.state, self.faults)
        self.state.on_event = self.deliverer.emit
        for module, _ in FAMILIES:
            if hasattr(module, "register"):
                module.register(self.router)
        self.api = ApiRoutes(Services(self.state, self.faults, self.deliverer, self))  # the families on FastAPI

    # -- configuration -------------------------------------------------------------------------------
    def set_endpoints(self, primary: tuple[str, int], alternate: tuple[str, int]) -> None:
        """Tell the app which (host, port) is the primary and which the alternate endpoint."""
        self.urls = {
            "primary": f"http://{primary[0]}:{primary[1]}",
            "alternate": f"http://{alternate[0]}:{alternate[1]}",
        }
        self.port_names = {primary[1]: "primary", alternate[1]: "alternate"}

    def reset(self) -> None:
        """Empty state, start-up faults, empty call log, clock offset 0, background churn and deliveries stopped."""
        self.stop_background()
        self.deliverer.reset()
        self.state.reset()
        self.faults.reset()
        self.calls.clear()

    def stop_background(self) -> None:
        for task in self.background.values():
            task.cancel()
        self.background.clear()

    def openapi_document(self, server_url: str) -> dict[str, Any]:
        """The OpenAPI description of the Kaizala API the emulator serves, with ``server_url`` as its server."""
        from airflow_provider_kaizala.emulator.openapi import openapi_document

        return openapi_document(server_url)

    def other_endpoint(self, current: str) -> str:
        return self.urls["alternate"] if current == self.urls["primary"] else self.urls["primary"]

    def relocate(self, conn: Connector, to: str | None = None) -> str:
        conn.endpoint = (to or self.other_endpoint(conn.endpoint)).rstrip("/")
        self.faults.resource_calls[conn.application_id] = 0
        log.info("relocated connector %s to %s", conn.application_id, conn.endpoint)
        return conn.endpoint

    # -- call log ----------------------------------------------------------------------------------
    def _log_call(self, req: Request, status: int, app_id: str | None, fault: str | None) -> None:
        self.seq += 1
        self.calls.append(
            {
                "seq": self.seq,
                "ts": int(time.time() * 1000),
                "method": req.method,
                "path": req.path,
                "status": status,
                "applicationId": app_id,
                "endpoint": req.endpoint,
                "fault": fault,
            }
        )
        if log.isEnabledFor(logging.DEBUG):
            log.debug(
                "%s %s -> %s app=%s endpoint=%s fault=%s", req.method, req.path, status, app_id, req.endpoint, fault
            )

    # -- ASGI ----------------------------------------------------------------------------------------
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            await self._http(scope, receive, send)
        elif kind == "lifespan":
            await self._lifespan(receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                self.stop_background()
                await self.deliverer.close()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        chunks: list[bytes] = []
        size = 0
        too_big = False
        path: str = scope["path"]
        limit = self.faults.config.media_max_bytes if media.is_media_path(path) else MAX_BODY
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                too_big = True
            elif chunk:
                chunks.append(chunk)
            if not message.get("more_body", False):
                break
        server = scope.get("server")
        endpoint = self.port_names.get(server[1], "primary") if server else "primary"
        segments = [s for s in path.split("/") if s]
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        req = Request(
            self, scope["method"], path, segments, headers, scope.get("query_string", b""), b"".join(chunks), endpoint
        )
        req.client = scope.get("client")
        if segments and segments[0].lower() == "_emulator":
            matched = self.api.match(req.method, path)[0]
            if matched is not None and matched.rules.kind == "admin":
                status, payload, extra = await self.api.call(scope, matched, req.raw_body, self._request_state(req))
                await self._send(send, status, payload, extra)
                return
            reply = await self._admin(req)
            await self._send(send, reply.status, encode_json(reply.body), reply.headers)
            return
        if too_big:
            err = ApiError(413, f"Request body too large (limit {limit} bytes)")
            self._log_call(req, 413, None, None)
            await self._send(send, 413, encode_json(err.body()), None)
            return
        await self._api(scope, req, send)

    async def _admin(self, req: Request) -> Reply:
        route, params, _ = self.router.match(req.method, req.segments)
        if route is None or route.kind != "admin":
            err = ApiError(404, f"No admin route {req.method} {req.path}")
            return Reply(err.body(), err.status)
        req.params = params
        try:
            return await _complete(route.handler(req))
        except ApiError as err:
            return Reply(err.body(), err.status, err.headers)

    async def _api(self, scope: Scope, req: Request, send: Send) -> None:
        engine = self.faults
        cfg = engine.config
        faultable = engine.applies(req.path)
        drop = faultable and engine.roll(cfg.drop_rate)
        if drop and cfg.drop_phase == "before":
            self._log_call(req, 0, self._caller_id(req), "drop")
            await self._drop(req.client)
            return
        if faultable and engine.roll(cfg.error_rate):
            status = engine.pick_error_status()
            err = ApiError(status, "Injected server error", "InternalServerError", "ServerException")
            self._log_call(req, status, self._caller_id(req), "error")
            await self._send(send, status, encode_json(err.body()), None)
            return
        slow_after = False
        fault: str | None = None
        if faultable and engine.roll(cfg.slow_rate):
            fault = "slow"
            if cfg.slow_phase == "before":
                await asyncio.sleep(cfg.slow_seconds)
            else:
                slow_after = True

        try:
            route, params, _ = self.router.match(req.method, req.segments)
            matched = self.api.match(req.method, req.path)[0] if route is None else None
            if matched is not None:
                status, payload, headers = await self._call_api(scope, req, matched)
            else:
                if route is None or route.kind == "admin":
                    raise ApiError(404, f"No such API: {req.method} {req.path}")
                req.params = params
                if route.kind == "resource":
                    conn = self._authorise(req, route.permission)
                    self._check_content_type(req, route.body)
                    actor = CURRENT_ACTOR.set(conn.phone)
                    try:
                        reply = await _complete(route.handler(req))
                    finally:
                        CURRENT_ACTOR.reset(actor)
                    self._after_resource_call(conn)
                else:
                    self._check_content_type(req, route.body)
                    reply = await _complete(route.handler(req))
                status, payload, headers = reply.status, encode_json(reply.body), reply.headers or []
        except ApiError as err:
            status, payload, headers = err.status, encode_json(err.body()), err.headers
            fault = err.fault or fault
        app_id = req.connector.application_id if req.connector else None

        if drop:  # phase "after": the request was processed and recorded
            self._log_call(req, status, app_id, "drop")
            await self._drop(req.client)
            return
        self._log_call(req, status, app_id, fault)
        if slow_after:
            await asyncio.sleep(cfg.slow_seconds)
        await self._send(send, status, payload, headers)

    def _request_state(self, req: Request) -> dict[str, Any]:
        return {"connector": req.connector, "endpoint_url": self.urls[req.endpoint]}

    async def _call_api(
        self, scope: Scope, req: Request, matched: Matched
    ) -> tuple[int, bytes, list[tuple[bytes, bytes]]]:
        """Checks of a FastAPI route (by its declared kind), then the route."""
        rules = matched.rules
        if rules.kind == "admin":
            raise ApiError(404, f"No such API: {req.method} {req.path}")
        if rules.kind == "auth":
            self._check_content_type(req, rules.body)
            state = self._request_state(req)
            try:
                return await self.api.call(scope, matched, req.raw_body, state)
            finally:
                req.connector = state.get("connector")
        conn = self._authorise(req, rules.permission)
        self._check_content_type(req, rules.body)
        actor = CURRENT_ACTOR.set(conn.phone)
        try:
            reply = await self.api.call(scope, matched, req.raw_body, self._request_state(req))
        finally:
            CURRENT_ACTOR.reset(actor)
        self._after_resource_call(conn)
        return reply

    def _caller_id(self, req: Request) -> str | None:
        """The connector a not-yet-processed call belongs to (for the call log), if it can be told."""
        state = self.state
        token = req.headers.get("accesstoken")
        if token:
            at = state.access_tokens.get(token)
            return at.application_id if at else state.revoked_tokens.get(token)
        app_id = req.headers.get("applicationid")
        return app_id if app_id in state.connectors else None

    def _authorise(self, req: Request, permission: str | None) -> Connector:
        """Token, relocation, throttle and permission checks; sets ``req.connector`` as soon as it is known."""
        state = self.state
        token = req.headers.get("accesstoken")
        if not token:
            raise ApiError(401, MSG_TOKEN_MISSING)
        at = state.access_tokens.get(token)
        app_id = at.application_id if at else state.revoked_tokens.get(token)
        conn = state.connectors.get(app_id) if app_id else None
        if conn is None:
            raise ApiError(401, MSG_TOKEN_INVALID)
        req.connector = conn
        if at is None or at.expiry <= state.clock.now():
            raise ApiError(401, MSG_TOKEN_INVALID, fault="expired")
        if conn.endpoint != self.urls[req.endpoint]:
            raise Relocated(conn.endpoint + "/")
        retry_after = self.faults.throttle(conn.application_id, conn.tenant_id, time.monotonic())
        if retry_after is not None:
            raise ApiError(
                429,
                f"Too many requests. Retry after {retry_after} seconds",
                headers=[(b"retry-after", str(retry_after).encode())],
                fault="throttle",
            )
        if permission is not None and permission not in conn.permissions:
            raise ApiError(403, f"Connector does not have the permission {permission}")
        return conn

    @staticmethod
    def _check_content_type(req: Request, body: str | None) -> None:
        """415 when a JSON route gets a body without a ``Content-Type`` or with a non-JSON one (required on POST/PUT by
        the docs; a POST whose fields are all optional may come without a body, and then needs none)."""
        if body == "json" and req.raw_body.strip() and not is_json_content_type(req.headers.get("content-type")):
            raise ApiError(415, "Content-Type must be application/json")

    def _after_resource_call(self, conn: Connector) -> None:
        cfg = self.faults.config
        app_id = conn.application_id
        if cfg.relocate_after > 0:
            n = self.faults.resource_calls.get(app_id, 0) + 1
            self.faults.resource_calls[app_id] = n
            if n >= cfg.relocate_after:
                self.relocate(conn)
        if cfg.token_expire_every > 0:
            n = self.faults.expiry_calls.get(app_id, 0) + 1
            self.faults.expiry_calls[app_id] = n
            if n >= cfg.token_expire_every:
                self.faults.expiry_calls[app_id] = 0
                self.state.expire_access_tokens(app_id)

    @staticmethod
    async def _send(send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]] | None) -> None:
        hdrs = [*_JSON_HEADERS, (b"content-length", str(len(body)).encode())]
        if headers:
            hdrs.extend(headers)
        await send({"type": "http.response.start", "status": status, "headers": hdrs})
        await send({"type": "http.response.body", "body": body})

    async def _drop(self, client: Any) -> None:
        """Abort the TCP connection of ``client`` without writing a byte (the client sees a reset)."""
        if not self.connections.abort(client):
            raise _Dropped("the connection is not known to the connection registry; it cannot be dropped")
        # Let connection_lost run so the server marks the request disconnected and sends nothing.
        await asyncio.sleep(0)
        await asyncio.sleep(0)
