"""The HTTP side of :class:`~airflow_provider_kaizala.triggers.webhook.KaizalaWebhookTrigger`.

A small ASGI application (Starlette requests and responses) served by uvicorn's h11 protocol inside the
triggerer's event loop. The limits that keep a hostile caller from exhausting the triggerer:

* the request head (request line and headers) is at most ``MAX_HEADER_BYTES`` (h11's incomplete-event cap:
  a longer head, e.g. endless header lines, is answered 400 and the connection closed) and holds at most
  ``MAX_HEADER_COUNT`` header lines (431);
* the ``kz-callback-token`` header is checked, in constant time, before any body byte is read (401);
* the body is at most ``max_body_bytes`` whether sent with ``Content-Length`` or chunked (413), and is JSON
  nested at most ``MAX_JSON_DEPTH`` levels (400);
* every connection, from accept to the last byte of the answer, lives at most ``request_timeout`` seconds
  (slow or idle clients are cut off), and every answer closes the connection, so that deadline is per request;
* at most ``max_connections`` connections are open at once: when that many are open, uvicorn's
  ``limit_concurrency`` answers the newest request 503, and connections beyond it are closed as they are
  accepted.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import socket
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, Protocol

import uvicorn
from starlette.requests import ClientDisconnect, Request
from starlette.responses import PlainTextResponse
from starlette.types import Receive, Scope, Send
from uvicorn.config import Config
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.server import ServerState

from airflow_provider_kaizala.triggers.webhook import WebhookLimits

#: Largest request head (request line and all header lines), in bytes.
MAX_HEADER_BYTES = 16 * 1024
#: Most header lines in one request.
MAX_HEADER_COUNT = 100
#: Deepest nesting of arrays and objects accepted in a delivery.
MAX_JSON_DEPTH = 32
#: Longest ``eventId`` and ``validationToken`` accepted.
MAX_ID_CHARS = 256
MAX_VALIDATION_TOKEN_CHARS = 1024

TOKEN_HEADER = "kz-callback-token"

#: What :class:`WebhookApp` does with a parsed event: ``"ok"``, ``"duplicate"``, ``"ignored"`` or ``"busy"``.
Deliver = Callable[[dict[str, Any]], Awaitable[str]]


def _digest(value: bytes) -> bytes:
    return hashlib.sha256(value).digest()


def json_depth(value: Any) -> int:
    """The nesting depth of a parsed JSON value (a scalar is 0, ``[]`` is 1), walked without recursion."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        deepest = max(deepest, depth + 1)
        stack.extend((child, depth + 1) for child in children)
    return deepest


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def parse_event(body: bytes) -> dict[str, Any] | str:
    """The delivery as a dict, or the reason it is refused (not JSON, too deep, not a Kaizala event)."""
    try:
        event = json.loads(body, parse_constant=_no_constants)
    except RecursionError:
        return f"JSON nested deeper than {MAX_JSON_DEPTH} levels"
    except ValueError:
        return "the body is not JSON"
    if json_depth(event) > MAX_JSON_DEPTH:
        return f"JSON nested deeper than {MAX_JSON_DEPTH} levels"
    if not isinstance(event, dict):
        return "not a Kaizala event (a JSON object is expected)"
    event_id = event.get("eventId")
    if not isinstance(event_id, (str, int)) or isinstance(event_id, bool) or event_id in ("", 0):
        return "not a Kaizala event (eventId missing)"
    if len(str(event_id)) > MAX_ID_CHARS:
        return f"eventId longer than {MAX_ID_CHARS} characters"
    return event


class WarningLog(Protocol):
    """Anything with a logging-style ``warning`` (a ``logging.Logger``, the trigger's structlog logger)."""

    def warning(self, msg: Any, /, *args: Any) -> Any: ...


class _RejectionLog:
    """Logs rejected deliveries at most once a minute, with the count, so a caller cannot flood the log."""

    def __init__(self, log: WarningLog) -> None:
        self.log = log
        self.count = 0
        self.last = -float("inf")

    def __call__(self, why: str) -> None:
        self.count += 1
        now = time.monotonic()
        if now - self.last >= 60:
            self.log.warning("Rejected %d webhook request(s) in the last minute; the latest: %s.", self.count, why)
            self.count, self.last = 0, now


class WebhookApp:
    """The ASGI application: the validation handshake (GET) and deliveries (POST) at one path.

    :param path: the callback path.
    :param token: the expected ``kz-callback-token`` (non-empty).
    :param deliver: awaited with each accepted event; its answer becomes the response text (``busy``: 503).
    :param limits: body cap (the other limits are enforced by the server).
    :param log: where rejections are logged (rate-limited, never with a token).
    """

    def __init__(self, *, path: str, token: str, deliver: Deliver, limits: WebhookLimits, log: WarningLog) -> None:
        if not token:
            raise ValueError("the callback token must not be empty")
        self.path = path.rstrip("/") or "/"
        self._token_digest = _digest(token.encode())
        self.deliver = deliver
        self.limits = limits
        self.closing = False
        self.rejected = _RejectionLog(log)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        response = await self._answer(Request(scope, receive))
        if response is not None:
            response.headers["connection"] = "close"
            response.headers["x-content-type-options"] = "nosniff"
            await response(scope, receive, send)

    def _token_ok(self, request: Request) -> bool:
        given = [value for name, value in request.scope["headers"] if name == TOKEN_HEADER.encode()]
        # One header, compared by digest so neither the content nor the length leaks through timing.
        return len(given) == 1 and hmac.compare_digest(_digest(given[0]), self._token_digest)

    async def _answer(self, request: Request) -> PlainTextResponse | None:
        if len(request.scope["headers"]) > MAX_HEADER_COUNT:
            self.rejected(f"more than {MAX_HEADER_COUNT} header lines")
            return PlainTextResponse(f"more than {MAX_HEADER_COUNT} header lines", 431)
        # scope["path"], not request.url: the URL is rebuilt from the Host header, which the caller controls
        if (request.scope["path"].rstrip("/") or "/") != self.path:
            return PlainTextResponse("not found", 404)
        if self.closing:
            return PlainTextResponse("shutting down, retry later", 503)
        if request.method == "GET":
            token = request.query_params.get("validationToken")
            if not token:
                return PlainTextResponse("validationToken missing", 400)
            if len(token) > MAX_VALIDATION_TOKEN_CHARS or not token.isprintable():
                return PlainTextResponse("validationToken too long or not printable", 400)
            return PlainTextResponse(token)
        if request.method != "POST":
            return PlainTextResponse("method not allowed", 405, headers={"allow": "GET, POST"})
        if not self._token_ok(request):
            self.rejected(f"no or wrong {TOKEN_HEADER} header")
            return PlainTextResponse(f"wrong or missing {TOKEN_HEADER}", 401)
        body = await self._body(request)
        if body is None:
            return None
        if isinstance(body, PlainTextResponse):
            return body
        event = parse_event(body)
        if isinstance(event, str):
            self.rejected(event)
            return PlainTextResponse(event, 400)
        outcome = await self.deliver(event)
        return PlainTextResponse(outcome, 503 if outcome == "busy" else 200)

    async def _body(self, request: Request) -> bytes | PlainTextResponse | None:
        """The body within the cap; a 413 answer past it; None when the client went away."""
        cap = self.limits.max_body_bytes
        too_large = PlainTextResponse(f"body larger than {cap} bytes", 413)
        declared = request.headers.get("content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > cap):  # h11 checked the syntax
            self.rejected("body too large")
            return too_large
        body = bytearray()
        try:
            async for chunk in request.stream():
                body += chunk
                if len(body) > cap:
                    self.rejected("body too large")
                    return too_large
        except ClientDisconnect:
            return None
        return bytes(body)


class _Connections:
    """The open connections of one receiver: capped at accept, each cut off at its deadline."""

    def __init__(self, limits: WebhookLimits) -> None:
        self.limits = limits
        self.open: set[asyncio.Transport] = set()

    def accept(self, transport: asyncio.Transport) -> asyncio.TimerHandle | None:
        if len(self.open) >= self.limits.max_connections:
            transport.abort()
            return None
        self.open.add(transport)
        # abort, not close: close would wait for a client that never reads its answer
        return asyncio.get_running_loop().call_later(self.limits.request_timeout, transport.abort)

    def abort_all(self) -> None:
        for transport in list(self.open):
            transport.abort()


def _protocol_class(connections: _Connections) -> type[H11Protocol]:
    class KaizalaH11Protocol(H11Protocol):
        """uvicorn's h11 protocol with a connection cap at accept and a deadline per connection."""

        def __init__(
            self,
            config: Config,
            server_state: ServerState,
            app_state: dict[str, Any],
            _loop: asyncio.AbstractEventLoop | None = None,
        ) -> None:
            super().__init__(config, server_state, app_state, _loop)
            self.kz_transport: asyncio.Transport | None = None
            self.kz_deadline: asyncio.TimerHandle | None = None

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self.kz_transport = transport
            self.kz_deadline = connections.accept(transport)

        def connection_lost(self, exc: Exception | None) -> None:
            if self.kz_deadline is not None:
                self.kz_deadline.cancel()
            if self.kz_transport is not None:
                connections.open.discard(self.kz_transport)
            super().connection_lost(exc)

    return KaizalaH11Protocol


class _EmbeddedServer(uvicorn.Server):
    """A uvicorn server that leaves the process's signal handlers alone: they belong to the triggerer."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class WebhookServer:
    """Serves a :class:`WebhookApp` with uvicorn in the running event loop until :meth:`stop`.

    The listening socket is bound here, so a bind error is an ``OSError`` raised by :meth:`start` (uvicorn
    would ``sys.exit``), and uvicorn's ``Server.serve`` runs as a task of the current loop.
    """

    def __init__(self, app: WebhookApp, host: str, port: int, limits: WebhookLimits) -> None:
        self.app = app
        self.host = host
        self.port = port
        self.connections = _Connections(limits)
        self.config = Config(
            app,
            http=_protocol_class(self.connections),
            ws="none",
            lifespan="off",
            log_config=None,
            access_log=False,  # the access log would print the validationToken query
            proxy_headers=False,
            server_header=False,
            limit_concurrency=limits.max_connections,
            timeout_keep_alive=1,
            timeout_graceful_shutdown=1,
            h11_max_incomplete_event_size=MAX_HEADER_BYTES,
            backlog=128,
        )
        self.server = _EmbeddedServer(self.config)
        self.task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Bind and listen (connections queue in the backlog at once), then start serving."""
        loop = asyncio.get_running_loop()
        infos = await loop.getaddrinfo(self.host, self.port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
        family, _, _, _, address = infos[0]
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(address)
            sock.listen(self.config.backlog)
            sock.setblocking(False)
        except OSError:
            sock.close()
            raise
        self.task = asyncio.create_task(self.server.serve(sockets=[sock]), name=f"kaizala-webhook-{self.port}")

    async def stop(self) -> None:
        """Answer 503 to anything still arriving, cut every connection, close the socket and wait for uvicorn."""
        self.app.closing = True
        self.server.should_exit = True
        self.connections.abort_all()
        if self.task is not None:
            done, _ = await asyncio.wait({self.task}, timeout=10)
            if not done:
                self.task.cancel()
            elif not self.task.cancelled():
                self.task.exception()  # retrieved here too, so asyncio does not log it a second time
        self.connections.abort_all()
