"""The connection-drop mechanism (``connections.py``): a real reset, with either uvicorn HTTP protocol, no leaks."""

from __future__ import annotations

import asyncio
import http.client
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import requests
import uvicorn

from airflow_provider_kaizala.emulator.app import EmulatorApp
from airflow_provider_kaizala.emulator.connections import Connections, http_protocol
from airflow_provider_kaizala.emulator.faults import FaultConfig
from airflow_provider_kaizala.emulator.server import bind_socket, uvicorn_config


class Served:
    """An ASGI app served by uvicorn in a thread on a free loopback port."""

    def __init__(self, config: uvicorn.Config) -> None:
        self.sock = bind_socket("127.0.0.1")
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        asyncio.run(self.server.serve(sockets=[self.sock]))

    def __enter__(self) -> Served:
        self.thread.start()
        while not self.server.started:
            if not self.thread.is_alive():
                raise RuntimeError("server did not start")
            threading.Event().wait(0.005)
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.sock.close()


def make_app(connections: Connections) -> Any:
    """Answers ``/ok``; aborts the connection of ``/drop`` through ``connections``."""

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        if scope["path"] == "/drop":
            assert connections.abort(scope["client"])
            await asyncio.sleep(0)
            return
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
        await send({"type": "http.response.body", "body": b"ok"})

    return app


@pytest.fixture(params=["h11", "httptools"])
def served(request: pytest.FixtureRequest) -> Iterator[tuple[Served, Connections]]:
    connections = Connections()
    config = uvicorn.Config(
        make_app(connections),
        http=connections.protocol(http_protocol(request.param)),
        lifespan="off",
        log_config=None,
        access_log=False,
    )
    with Served(config) as s:
        yield s, connections


def test_abort_resets_the_connection_without_a_byte(served):
    s, connections = served
    session = requests.Session()
    assert session.get(f"{s.url}/ok", timeout=10).text == "ok"
    assert len(connections) == 1  # the keep-alive connection is recorded
    with pytest.raises(requests.ConnectionError):
        session.get(f"{s.url}/drop", timeout=10)
    conn = http.client.HTTPConnection("127.0.0.1", int(s.url.rsplit(":", 1)[1]), timeout=10)
    conn.request("GET", "/drop")
    with pytest.raises((ConnectionResetError, http.client.RemoteDisconnected)):
        conn.getresponse()
    conn.close()
    session.close()


def test_closed_connections_are_forgotten(served):
    s, connections = served
    for _ in range(5):
        with requests.Session() as session:
            assert session.get(f"{s.url}/ok", timeout=10).text == "ok"
    deadline = threading.Event()
    for _ in range(200):
        if len(connections) == 0:
            break
        deadline.wait(0.01)
    assert len(connections) == 0


def test_an_unknown_client_cannot_be_aborted():
    connections = Connections()
    assert connections.abort(("127.0.0.1", 1)) is False
    assert connections.abort(None) is False


def test_the_emulator_serves_through_the_registry():
    app = EmulatorApp(FaultConfig(drop_rate=1.0))
    config = uvicorn_config(app)
    assert issubclass(config.http, http_protocol("auto"))  # type: ignore[arg-type]
    app.set_endpoints(("127.0.0.1", 1), ("127.0.0.1", 2))
    with Served(config) as s:
        with pytest.raises(requests.ConnectionError):
            requests.get(f"{s.url}/v1/groups", timeout=10)
        assert [c["fault"] for c in app.calls] == ["drop"]
