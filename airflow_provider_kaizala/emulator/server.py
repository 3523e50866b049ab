"""Python harness: start/stop an emulator in-process (uvicorn in a daemon thread) or as a child process."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess as sp
import sys
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import Any

import uvicorn

from airflow_provider_kaizala.emulator.admin import EmulatorAdmin
from airflow_provider_kaizala.emulator.app import EmulatorApp
from airflow_provider_kaizala.emulator.connections import http_protocol
from airflow_provider_kaizala.emulator.credentials import CredentialStore
from airflow_provider_kaizala.emulator.demo import DEFAULT_SUBSCRIBERS, airflow_conn
from airflow_provider_kaizala.emulator.demo import seed as seed_demo
from airflow_provider_kaizala.emulator.faults import FaultConfig

_PACKAGE_ROOT = str(Path(__file__).resolve().parents[2])


def bind_socket(host: str, port: int = 0) -> socket.socket:
    """A listening TCP socket (port 0 = a free port)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(1024)
    sock.set_inheritable(True)
    return sock


def uvicorn_config(app: EmulatorApp, http: str = "auto") -> uvicorn.Config:
    """Fast, quiet uvicorn settings (httptools + uvloop when installed, no access log, no logging setup); the HTTP
    protocol records its connections in ``app.connections`` (the drop fault)."""
    return uvicorn.Config(
        app,
        http=app.connections.protocol(http_protocol(http)),
        loop="auto",
        lifespan="on",
        access_log=False,
        log_config=None,
        log_level="warning",
        proxy_headers=False,
        server_header=False,
        timeout_graceful_shutdown=2,
        timeout_keep_alive=30,
    )


def build_faults(
    access_token_lifetime: float, throttle_limit: int, throttle_window: float, faults: dict[str, Any]
) -> FaultConfig:
    config = FaultConfig(
        access_token_lifetime=access_token_lifetime, throttle_limit=throttle_limit, throttle_window=throttle_window
    )
    config.merge(faults)
    return config


class KaizalaEmulator:
    """A running Kaizala emulator with two endpoints (``url`` primary, ``alt_url`` alternate) and an admin client.

    ``seed="demo"`` creates the demo tenant (described in ``self.demo``); ``state_file`` keeps connector credentials
    across restarts (``--state-file``); ``**faults`` are :class:`~airflow_provider_kaizala.emulator.faults.FaultConfig`
    keys (``error_rate=0.1``, ``drop_phase="after"``, ``extensions=True``...).
    """

    url: str
    alt_url: str
    admin: EmulatorAdmin

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        seed: str | None = None,
        demo_subscribers: int = DEFAULT_SUBSCRIBERS,
        access_token_lifetime: float = 86400.0,
        throttle_limit: int = 100,
        throttle_window: float = 60.0,
        subprocess: bool = False,
        state_file: Path | None = None,
        **faults: Any,
    ) -> None:
        if seed not in (None, "none", "demo"):
            raise ValueError(f"unknown seed {seed!r} (use 'demo' or None)")
        self.host = host
        self.seed = None if seed == "none" else seed
        self.demo_subscribers = demo_subscribers
        self.subprocess = subprocess
        self.state_file = state_file
        self.config = build_faults(access_token_lifetime, throttle_limit, throttle_window, faults)
        self.demo: dict[str, Any] | None = None
        self.conn: dict[str, Any] | None = None
        self.app: EmulatorApp | None = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._sockets: list[socket.socket] = []
        self._proc: sp.Popen[str] | None = None

    # -- lifecycle -------------------------------------------------------------------------------------
    def start(self) -> KaizalaEmulator:
        if self._thread is not None or self._proc is not None:
            raise RuntimeError("emulator already started")
        if self.subprocess:
            self._start_process()
        else:
            self._start_thread()
        self.admin = EmulatorAdmin(self.url)
        return self

    def _start_thread(self) -> None:
        app = EmulatorApp(self.config)
        s1, s2 = bind_socket(self.host), bind_socket(self.host)
        self._sockets = [s1, s2]
        p1, p2 = s1.getsockname()[1], s2.getsockname()[1]
        app.set_endpoints((self.host, p1), (self.host, p2))
        self.url, self.alt_url = app.urls["primary"], app.urls["alternate"]
        if self.state_file is not None:
            try:
                CredentialStore(self.state_file).attach(app.state, self.url)
            except BaseException:
                for sock in self._sockets:
                    sock.close()
                self._sockets = []
                raise
        if self.seed == "demo":
            self.demo = seed_demo(app.state, app.urls["primary"], self.demo_subscribers)
            self.conn = self.demo["conn"]
        config = uvicorn_config(app)
        server = uvicorn.Server(config)
        self.app, self._server = app, server
        errors: list[BaseException] = []

        def run() -> None:
            factory = config.get_loop_factory()
            loop = factory() if factory else asyncio.new_event_loop()
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(server.serve(sockets=[s1, s2]))
            except BaseException as exc:  # pragma: no cover - reported to start()
                errors.append(exc)
            finally:
                loop.close()

        self._thread = threading.Thread(target=run, name=f"kaizala-emulator-{p1}", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 20
        while not server.started:
            if errors or not self._thread.is_alive():
                raise RuntimeError(f"emulator failed to start: {errors[:1]}")
            if time.monotonic() > deadline:
                raise RuntimeError("emulator did not start within 20 s")
            time.sleep(0.005)

    def _start_process(self) -> None:
        cmd = [
            sys.executable,
            "-m",
            "airflow_provider_kaizala.emulator",
            "--host",
            self.host,
            "--port",
            "0",
            "--alt-port",
            "0",
            "--seed",
            self.seed or "none",
            "--demo-subscribers",
            str(self.demo_subscribers),
        ]
        if self.state_file is not None:
            cmd += ["--state-file", str(self.state_file)]
        cmd += self.config.command_line()
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (_PACKAGE_ROOT, env.get("PYTHONPATH")) if p)
        proc = sp.Popen(cmd, stdout=sp.PIPE, text=True, env=env)
        self._proc = proc
        line: list[str] = []
        reader = threading.Thread(
            target=lambda: line.append(proc.stdout.readline() if proc.stdout else ""), daemon=True
        )
        reader.start()
        reader.join(timeout=60)
        if not line or not line[0].strip():
            self.stop()
            raise RuntimeError("emulator process did not report ready")
        ready = json.loads(line[0])
        self.url, self.alt_url = ready["url"], ready["alt_url"]
        self.conn = ready.get("conn")
        self.demo = ready.get("demo")

    def stop(self) -> None:
        """Stop what ``start`` started (joins the thread / terminates the child process)."""
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(timeout=10)
        self._server, self._thread = None, None
        for sock in self._sockets:
            sock.close()
        self._sockets = []
        if self._proc is not None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=10)
            except sp.TimeoutExpired:  # pragma: no cover
                self._proc.kill()
                self._proc.wait()
            if self._proc.stdout:
                self._proc.stdout.close()
            self._proc = None
        admin = getattr(self, "admin", None)
        if admin is not None:
            admin.close()

    def __enter__(self) -> KaizalaEmulator:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def pid(self) -> int | None:
        """Process id of the child emulator (``subprocess=True``), else ``None``."""
        return self._proc.pid if self._proc is not None else None

    # -- helpers -----------------------------------------------------------------------------------------
    def connection_uri_json(self, app: dict[str, Any]) -> str:
        """The ``AIRFLOW_CONN_*`` JSON reaching the connector ``app`` (as returned by ``admin.create_connector``)."""
        return json.dumps(airflow_conn(self.url, app["applicationId"], app["applicationSecret"], app["refreshToken"]))
