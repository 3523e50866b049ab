"""The outer ASGI layer of the emulator's API: faults, the call log and what the service checks before a handler.

For an API call (everything outside ``/_emulator``) the order is: body limit (413) -> injected drop (phase
``before``) -> injected 5xx -> slow (phase ``before``) -> route (404) -> for a resource route: access token (401)
-> relocation (308) -> throttling (429) -> permission (403) -> ``Content-Type`` (415) -> the FastAPI route
(``api.py``) -> relocation/expiry counters -> drop/slow (phase ``after``) -> answer. A token-service route gets
the faults, the 415 check and the call log; an admin route (``/_emulator/...``) none of them.

What each route needs is declared on the route (``services.resource``/``auth``/``admin``). A dropped connection
is really dropped: the transport is aborted before any byte is written, through the connection registry of
``connections.py`` (the server records each connection's transport; the pipeline names it by the scope's
``client``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

from airflow_provider_kaizala.emulator.api import ApiRoutes, Matched, is_json_content_type
from airflow_provider_kaizala.emulator.connections import Connections
from airflow_provider_kaizala.emulator.faults import FaultEngine
from airflow_provider_kaizala.emulator.media import is_media_path
from airflow_provider_kaizala.emulator.state import CURRENT_ACTOR, Connector, State
from airflow_provider_kaizala.emulator.wire import MSG_TOKEN_INVALID, MSG_TOKEN_MISSING, ApiError, encode_json

log = logging.getLogger("kaizala.emulator")

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
Headers = list[tuple[bytes, bytes]]

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


class Endpoints:
    """The primary and the alternate endpoint, and which one each connector is on (relocation)."""

    def __init__(self, faults: FaultEngine) -> None:
        self.faults = faults
        self.urls: dict[str, str] = {"primary": "http://127.0.0.1", "alternate": "http://127.0.0.1"}
        self.port_names: dict[int, str] = {}

    def set(self, primary: tuple[str, int], alternate: tuple[str, int]) -> None:
        self.urls = {
            "primary": f"http://{primary[0]}:{primary[1]}",
            "alternate": f"http://{alternate[0]}:{alternate[1]}",
        }
        self.port_names = {primary[1]: "primary", alternate[1]: "alternate"}

    def name_of(self, scope: Scope) -> str:
        """``primary`` or ``alternate``: the endpoint a request came to (by the server port)."""
        server = scope.get("server")
        return self.port_names.get(server[1], "primary") if server else "primary"

    def relocate(self, conn: Connector, to: str | None = None) -> str:
        """Move ``conn`` to ``to`` (default: the other endpoint); its relocation counter starts again."""
        current = conn.endpoint
        other = self.urls["alternate"] if current == self.urls["primary"] else self.urls["primary"]
        conn.endpoint = (to or other).rstrip("/")
        self.faults.resource_calls[conn.application_id] = 0
        log.info("relocated connector %s to %s", conn.application_id, conn.endpoint)
        return conn.endpoint


class CallLog:
    """The API calls the emulator answered (``GET /_emulator/calls``), newest last, numbered from 1."""

    def __init__(self) -> None:
        self.entries: deque[dict[str, Any]] = deque(maxlen=CALL_LOG_LIMIT)
        self.seq = 0

    def record(self, call: Call, status: int, fault: str | None, app_id: str | None = None) -> None:
        app_id = app_id if app_id is not None else (call.connector.application_id if call.connector else None)
        self.seq += 1
        self.entries.append(
            {
                "seq": self.seq,
                "ts": int(time.time() * 1000),
                "method": call.method,
                "path": call.path,
                "status": status,
                "applicationId": app_id,
                "endpoint": call.endpoint,
                "fault": fault,
            }
        )
        if log.isEnabledFor(logging.DEBUG):
            log.debug(
                "%s %s -> %s app=%s endpoint=%s fault=%s", call.method, call.path, status, app_id, call.endpoint, fault
            )

    def clear(self) -> None:
        self.entries.clear()


def _declared_length(scope: Scope) -> int:
    """The request's ``Content-Length`` (0 when absent or unreadable: the body is then counted as it comes)."""
    for name, value in scope["headers"]:
        if name.lower() == b"content-length":
            try:
                return int(value)
            except ValueError:
                return 0
    return 0


class Call:
    """One request as the pipeline sees it (header names lower-cased); ``connector`` once it is known."""

    __slots__ = ("body", "client", "connector", "endpoint", "headers", "method", "path", "scope")

    def __init__(self, scope: Scope, body: bytes, endpoint: str) -> None:
        self.scope = scope
        self.method: str = scope["method"]
        self.path: str = scope["path"]
        self.headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        self.body = body
        self.endpoint = endpoint
        self.client: Any = scope.get("client")
        self.connector: Connector | None = None


class Pipeline:
    """The ASGI layer in front of the FastAPI routes (see the module docstring)."""

    def __init__(
        self,
        api: ApiRoutes,
        state: State,
        faults: FaultEngine,
        endpoints: Endpoints,
        calls: CallLog,
        connections: Connections,
    ) -> None:
        self.api = api
        self.state = state
        self.faults = faults
        self.endpoints = endpoints
        self.calls = calls
        self.connections = connections

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope["path"]
        limit = self.faults.config.media_max_bytes if is_media_path(path) else MAX_BODY
        admin = next((s for s in path.split("/") if s), "").lower() == "_emulator"
        if _declared_length(scope) > limit:  # answered at once, the body is never read
            call = Call(scope, b"", self.endpoints.name_of(scope))
            await self._too_large(call, limit, send, admin)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:  # a chunked (or understated) body: answered as soon as it passes
                await self._too_large(Call(scope, b"", self.endpoints.name_of(scope)), limit, send, admin)
                return
            if chunk:
                chunks.append(chunk)
            if not message.get("more_body", False):
                break
        call = Call(scope, b"".join(chunks), self.endpoints.name_of(scope))
        matched = self.api.match(call.method, path)[0]
        if admin:
            if matched is None or matched.rules.kind != "admin":
                err = ApiError(404, f"No admin route {call.method} {path}")
                await self._send(send, err.status, encode_json(err.body()), None)
                return
            await self._send(send, *await self._route(call, matched))
            return
        await self._api(call, matched, send)

    async def _too_large(self, call: Call, limit: int, send: Send, admin: bool) -> None:
        """413 and close the connection; an API call is logged (an admin call never is)."""
        err = ApiError(413, f"Request body too large (limit {limit} bytes)")
        if not admin:
            self.calls.record(call, 413, None)
        await self._send(send, 413, encode_json(err.body()), [(b"connection", b"close")])

    async def _api(self, call: Call, matched: Matched | None, send: Send) -> None:
        engine = self.faults
        cfg = engine.config
        faultable = engine.applies(call.path)
        drop = faultable and engine.roll(cfg.drop_rate)
        if drop and cfg.drop_phase == "before":
            self.calls.record(call, 0, "drop", self._caller_id(call))
            await self._drop(call.client)
            return
        if faultable and engine.roll(cfg.error_rate):
            status = engine.pick_error_status()
            err = ApiError(status, "Injected server error", "InternalServerError", "ServerException")
            self.calls.record(call, status, "error", self._caller_id(call))
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
            if matched is None or matched.rules.kind == "admin":
                raise ApiError(404, f"No such API: {call.method} {call.path}")
            status, payload, headers = await self._checked(call, matched)
        except ApiError as err:
            status, payload, headers = err.status, encode_json(err.body()), err.headers
            fault = err.fault or fault
        if drop:  # phase "after": the request was processed and recorded
            self.calls.record(call, status, "drop")
            await self._drop(call.client)
            return
        self.calls.record(call, status, fault)
        if slow_after:
            await asyncio.sleep(cfg.slow_seconds)
        await self._send(send, status, payload, headers)

    async def _checked(self, call: Call, matched: Matched) -> tuple[int, bytes, Headers]:
        """The checks a route's kind asks for, then the route."""
        rules = matched.rules
        if rules.kind == "auth":
            self._check_content_type(call, rules.body)
            return await self._route(call, matched)
        conn = self._authorise(call, rules.permission)
        self._check_content_type(call, rules.body)
        actor = CURRENT_ACTOR.set(conn.phone)
        try:
            answer = await self._route(call, matched)
        finally:
            CURRENT_ACTOR.reset(actor)
        self._after_resource_call(conn)
        return answer

    async def _route(self, call: Call, matched: Matched) -> tuple[int, bytes, Headers]:
        state: dict[str, Any] = {"connector": call.connector, "endpoint_url": self.endpoints.urls[call.endpoint]}
        try:
            return await self.api.call(call.scope, matched, call.body, state)
        finally:
            call.connector = state["connector"]  # a token-service route reports whose call it was

    def _caller_id(self, call: Call) -> str | None:
        """The connector a not-yet-processed call belongs to (for the call log), if it can be told."""
        state = self.state
        token = call.headers.get("accesstoken")
        if token:
            at = state.access_tokens.get(token)
            return at.application_id if at else state.revoked_tokens.get(token)
        app_id = call.headers.get("applicationid")
        return app_id if app_id in state.connectors else None

    def _authorise(self, call: Call, permission: str | None) -> Connector:
        """Token, relocation, throttle and permission checks; sets ``call.connector`` as soon as it is known."""
        state = self.state
        token = call.headers.get("accesstoken")
        if not token:
            raise ApiError(401, MSG_TOKEN_MISSING)
        at = state.access_tokens.get(token)
        app_id = at.application_id if at else state.revoked_tokens.get(token)
        conn = state.connectors.get(app_id) if app_id else None
        if conn is None:
            raise ApiError(401, MSG_TOKEN_INVALID)
        call.connector = conn
        if at is None or at.expiry <= state.clock.now():
            raise ApiError(401, MSG_TOKEN_INVALID, fault="expired")
        if conn.endpoint != self.endpoints.urls[call.endpoint]:
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
    def _check_content_type(call: Call, body: str) -> None:
        """415 when a POST/PUT JSON route gets a body without a ``Content-Type`` or with a non-JSON one (required by
        the docs; a POST whose fields are all optional may come without a body, and then needs none). A GET or
        DELETE takes no body: one that comes is ignored."""
        if (
            body == "json"
            and call.method in ("POST", "PUT")
            and call.body.strip()
            and not is_json_content_type(call.headers.get("content-type"))
        ):
            raise ApiError(415, "Content-Type must be application/json")

    def _after_resource_call(self, conn: Connector) -> None:
        cfg = self.faults.config
        app_id = conn.application_id
        if cfg.relocate_after > 0:
            n = self.faults.resource_calls.get(app_id, 0) + 1
            self.faults.resource_calls[app_id] = n
            if n >= cfg.relocate_after:
                self.endpoints.relocate(conn)
        if cfg.token_expire_every > 0:
            n = self.faults.expiry_calls.get(app_id, 0) + 1
            self.faults.expiry_calls[app_id] = n
            if n >= cfg.token_expire_every:
                self.faults.expiry_calls[app_id] = 0
                self.state.expire_access_tokens(app_id)

    @staticmethod
    async def _send(send: Send, status: int, body: bytes, headers: Headers | None) -> None:
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
