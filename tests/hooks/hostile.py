"""Small hostile or broken Kaizala servers on loopback, scripted per test, and a listener that records connections.

:class:`FakeKaizala` answers the token call itself (``endpointUrl`` pointing back at itself unless the test
says otherwise) and hands every other request to the test's ``answer`` function, which writes whatever it
likes: a 308 with a forged ``Location``, an HTML block page, a cursor that never advances, a body dripped a
byte at a time. :class:`Trap` is a plain TCP listener that records every connection made to it: a test
that points a forged URL at it proves the access token never left.
"""

from __future__ import annotations

import http.server
import itertools
import json
import socketserver
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from airflow_provider_kaizala.hooks.kaizala import KaizalaHook
from airflow_provider_kaizala.hooks.token_store import MemoryRefreshTokenStore

if TYPE_CHECKING:
    import pytest

#: The access token the fake token service issues (a trap that receives it shows a leak).
ACCESS_TOKEN = "hostile-test-access-token"


@dataclass
class Seen:
    """One request the fake server received."""

    method: str
    path: str
    headers: dict[str, str] = field(repr=False)  # carries the access token: kept out of failure reports
    body: bytes = field(repr=False)


class Handler(http.server.BaseHTTPRequestHandler):
    """Dispatches to the server's token answer or the test's ``answer`` function."""

    server: _Server
    protocol_version = "HTTP/1.1"

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        seen = Seen(self.command, self.path, {k: v for k, v in self.headers.items()}, body)
        self.server.fake.seen.append(seen)
        if self.path.endswith("/v1/accessToken"):
            self.server.fake.answer_token(self)
        else:
            self.server.fake.answer(self, seen)

    do_GET = do_POST = do_PUT = do_DELETE = _handle

    def log_message(self, *args: Any) -> None:
        pass

    def send_json(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        """Answer with a JSON body."""
        self.send_raw(status, json.dumps(body).encode(), {"Content-Type": "application/json", **(headers or {})})

    def send_raw(self, status: int, content: bytes, headers: dict[str, str] | None = None) -> None:
        """Answer with exactly ``content`` (Content-Length set)."""
        self.send_response(status)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(content)))
        self.end_headers()
        self.wfile.write(content)

    def send_chunked(self, status: int, chunks: Iterator[bytes], pause: float = 0.0) -> int:
        """Answer with a chunked body (no Content-Length), optionally ``pause`` seconds between chunks.

        Returns the number of body bytes written before the client went away.
        """
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        sent = 0
        try:
            for chunk in chunks:
                self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                self.wfile.flush()
                sent += len(chunk)
                if pause:
                    time.sleep(pause)
            self.wfile.write(b"0\r\n\r\n")
        except OSError:
            pass
        return sent


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    fake: FakeKaizala


@dataclass
class FakeKaizala:
    """A scripted Kaizala on a free loopback port.

    :param answer: writes the answer to every non-token request.
    :param endpoint_url: the ``endpointUrl`` of the token answer (default: this server).
    """

    answer: Callable[[Handler, Seen], None]
    endpoint_url: str | None = None
    seen: list[Seen] = field(default_factory=list)
    port: int = 0
    scheme: str = "http"

    def answer_token(self, handler: Handler) -> None:
        handler.send_json(
            200,
            {
                "accessToken": ACCESS_TOKEN,
                "endpointUrl": self.endpoint_url or self.url + "/",
                "accessTokenExpiry": int((time.time() + 86400) * 1000),
                "refreshToken": "",
            },
        )

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}"

    def api_calls(self) -> list[Seen]:
        """Requests other than the token call."""
        return [s for s in self.seen if not s.path.endswith("/accessToken")]

    def connection(self, **extra: Any) -> str:
        """``AIRFLOW_CONN_*`` JSON for this server (extras override; no retries unless asked)."""
        extras = {"refresh_token": "rt", "allowed_hosts": "127.0.0.1,*.kaiza.la", "max_retries": 0, **extra}
        return json.dumps(
            {"conn_type": "kaizala", "host": f"{self.url}/v1", "login": "app", "password": "pw", "extra": extras}
        )


@contextmanager
def serve(fake: FakeKaizala, tls: ssl.SSLContext | None = None) -> Iterator[FakeKaizala]:
    """Run ``fake`` on a free loopback port for the ``with`` block (over TLS with a server ``tls`` context)."""
    server = _Server(("127.0.0.1", 0), Handler)
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
        fake.scheme = "https"
    server.fake = fake
    fake.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


class _TrapHandler(socketserver.BaseRequestHandler):
    server: _TrapServer

    def handle(self) -> None:
        self.request.settimeout(2.0)
        data = b""
        try:
            data = self.request.recv(65536)
        except OSError:
            pass
        self.server.connections.append(data)


class _TrapServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    connections: list[bytes]


@contextmanager
def trap() -> Iterator[_TrapServer]:
    """A TCP listener on a free loopback port that records the first bytes of every connection."""
    server = _TrapServer(("127.0.0.1", 0), _TrapHandler)
    server.connections = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


_ids = itertools.count(1)


def fake_hook(fake: FakeKaizala, monkeypatch: pytest.MonkeyPatch, prefix: str, **extra: object) -> KaizalaHook:
    """A sync hook on a new connection ``<prefix>_<n>`` to ``fake`` (``extra`` overrides connection extras)."""
    conn_id = f"{prefix}_{next(_ids)}"
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", fake.connection(**extra))
    return KaizalaHook(conn_id, refresh_token_store=MemoryRefreshTokenStore(), retry_backoff=0.01)
