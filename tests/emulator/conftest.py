"""Fixtures for the emulator contract tests: one in-process emulator per session, reset before each test, and a
loopback webhook receiver (test modules import these helpers from here and never from each other)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from airflow_provider_kaizala.emulator.server import KaizalaEmulator

ADMIN = "+919810000001"
OTHER = "+919810000002"
THIRD = "+919810000003"


@pytest.fixture(scope="session")
def emulator_session() -> Iterator[KaizalaEmulator]:
    with KaizalaEmulator() as em:
        yield em


@pytest.fixture
def emu(emulator_session: KaizalaEmulator) -> KaizalaEmulator:
    emulator_session.admin.reset()
    return emulator_session


@dataclass
class Client:
    """A connector on the emulator plus a requests session that sends its access token."""

    em: KaizalaEmulator
    app: dict[str, Any]
    token: str
    base: str

    def url(self, path: str) -> str:
        return f"{self.base}/v1{path}"

    def call(
        self, method: str, path: str, *, base: str | None = None, token: str | None = None, **kw: Any
    ) -> requests.Response:
        headers = kw.pop("headers", {})
        headers.setdefault("accessToken", token if token is not None else self.token)
        return requests.request(
            method, f"{base or self.base}/v1{path}", headers=headers, allow_redirects=False, timeout=30, **kw
        )


def get_token(base: str, app: dict[str, Any], refresh: str | None = None) -> requests.Response:
    return requests.get(
        f"{base}/v1/accessToken",
        headers={
            "applicationId": app["applicationId"],
            "applicationSecret": app["applicationSecret"],
            "refreshToken": refresh or app["refreshToken"],
        },
        timeout=30,
    )


def make_client(em: KaizalaEmulator, **kw: Any) -> Client:
    kw.setdefault("phone", ADMIN)
    app = em.admin.create_connector(**kw)
    resp = get_token(em.url, app)
    assert resp.status_code == 200, resp.text
    return Client(em, app, resp.json()["accessToken"], em.url)


@pytest.fixture
def client(emu: KaizalaEmulator) -> Client:
    return make_client(emu)


def ok(resp: requests.Response) -> Any:
    """The JSON body of a 200 answer (the test fails on any other status)."""
    assert resp.status_code == 200, (resp.status_code, resp.text)
    return resp.json()


def served_by(em: KaizalaEmulator, method: str, path: str) -> Any:
    """The FastAPI route that serves ``method`` ``path`` (the path as requested, e.g. ``/v1/groups/...``)."""
    matched, _ = em.app.api.match(method, path)
    assert matched is not None, (method, path)
    return matched.route


def assert_error(resp: requests.Response, status: int, code: str) -> dict[str, Any]:
    assert resp.status_code == status, (resp.status_code, resp.text)
    body = resp.json()
    assert set(body) == {"message", "errorCode", "errorCategoryKey"}, body
    assert body["errorCode"] == code, body
    assert body["message"]
    return body  # type: ignore[no-any-return]


class Receiver:
    """A tiny webhook receiver: echoes validation tokens (or misbehaves on demand) and records callbacks."""

    def __init__(self) -> None:
        self.validation = "echo"  # echo | wrong | slow | error
        self.statuses: list[int] = []  # statuses for the next POSTs (then 200)
        self.fail_all = False
        self.validations: list[str] = []
        self.posts: list[tuple[dict[str, str], dict[str, Any]]] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _answer(self, status: int, body: bytes = b"", ctype: str = "text/plain") -> None:
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                token = parse_qs(urlsplit(self.path).query).get("validationToken", [""])[0]
                receiver.validations.append(token)
                mode = receiver.validation
                if mode == "slow":
                    time.sleep(1.0)
                if mode == "error":
                    self._answer(500, b"boom")
                elif mode == "wrong":
                    self._answer(200, b"not-the-token")
                else:
                    self._answer(200, token.encode())

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = json.loads(self.rfile.read(length))
                with receiver.lock:
                    receiver.posts.append(({k.lower(): v for k, v in self.headers.items()}, body))
                    status = 500 if receiver.fail_all else (receiver.statuses.pop(0) if receiver.statuses else 200)
                self._answer(status, b"{}", "application/json")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.02,), daemon=True)
        self.thread.start()

    def bodies(self, event_type: str | None = None) -> list[dict[str, Any]]:
        with self.lock:
            return [b for _, b in self.posts if event_type is None or b["eventType"] == event_type]

    def wait(self, count: int, event_type: str | None = None, timeout: float = 5.0) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            got = self.bodies(event_type)
            if len(got) >= count:
                return got
            time.sleep(0.01)
        return self.bodies(event_type)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()
