"""Shared fixtures: one emulator per test session on free loopback ports, a fresh tenant per test, a loopback
webhook receiver, and a migrated Airflow home for ``airflow dags test`` runs of the example DAGs.

Test modules import these helpers from conftest modules and never from each other.
"""

from __future__ import annotations

import http.server
import itertools
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

# An isolated Airflow home: the tests never touch the user's ~/airflow.
os.environ.setdefault("AIRFLOW_HOME", os.path.join(os.path.dirname(__file__), "..", ".pytest-airflow-home"))
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
os.environ.setdefault("AIRFLOW__CORE__UNIT_TEST_MODE", "True")
#: Every secret the emulator issues (application secrets, refresh and access tokens) carries this marker;
#: the session fails if it shows up in any log record, captured output or failure report (see below).
SECRET_MARKER = os.environ.setdefault("KAIZALA_EMULATOR_SECRET_MARKER", "KZSECRETMARK")

from airflow_provider_kaizala.emulator.server import KaizalaEmulator  # noqa: E402
from airflow_provider_kaizala.hooks.config import TOKEN_CACHE  # noqa: E402
from airflow_provider_kaizala.hooks.kaizala import KaizalaHook  # noqa: E402
from airflow_provider_kaizala.hooks.token_store import MemoryRefreshTokenStore  # noqa: E402

#: Faults every test starts from: no throttling, no injected failures.
QUIET_FAULTS: dict[str, Any] = {
    "throttle_limit": 0,
    "tenant_throttle_limit": 0,
    "throttle_window": 60.0,
    "error_rate": 0.0,
    "drop_rate": 0.0,
    "slow_rate": 0.0,
    "relocate_after": 0,
    "token_expire_every": 0,
    "fault_paths": None,
    "access_token_lifetime": 86400.0,
    "cursor_lifetime": 0.0,
    "extensions": False,
    "webhook_duplicate_rate": 0.0,
    "webhook_retries": 6,
    "webhook_retry_base": 0.2,
    "webhook_validation_timeout": 5.0,
    "webhook_delivery_timeout": 5.0,
}
_numbers = itertools.count(1)
_leaks: list[str] = []


class _SecretLeakHandler(logging.Handler):
    """Records every log record, from any logger, whose text carries the secret marker."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = record.getMessage() + (record.exc_text or "")
        except Exception:
            text = str(record.msg)
        if SECRET_MARKER in text:
            _leaks.append(f"log record of {record.name}: {text[:200]}")


def pytest_configure(config: pytest.Config) -> None:
    logging.getLogger().addHandler(_SecretLeakHandler(level=logging.DEBUG))


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    texts = [content for _, content in report.sections] + [report.longreprtext or ""]
    for text in texts:
        if SECRET_MARKER in text:
            _leaks.append(
                f"output of {report.nodeid} ({report.when}): ...{text[text.index(SECRET_MARKER) - 80 :][:200]}"
            )


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if _leaks:
        sys.stderr.write(f"\n{len(_leaks)} secret leak(s) found (marker {SECRET_MARKER}):\n")
        for leak in _leaks[:20]:
            sys.stderr.write(f"  {leak}\n")
        session.exitstatus = 1


@pytest.fixture(scope="session")
def emulator() -> Iterator[KaizalaEmulator]:
    """The Kaizala emulator, in-process, on two free loopback ports."""
    with KaizalaEmulator(**QUIET_FAULTS) as emu:
        yield emu


@dataclass
class Tenant:
    """A connector of its own with a private group and a public group, and a way to build hooks for it."""

    emulator: KaizalaEmulator
    connector: dict[str, Any]
    group_id: str
    public_group_id: str
    subscriber_count: int
    monkeypatch: pytest.MonkeyPatch
    start_seq: int
    store: MemoryRefreshTokenStore = field(default_factory=MemoryRefreshTokenStore)

    @property
    def application_id(self) -> str:
        return str(self.connector["applicationId"])

    @property
    def secrets(self) -> list[str]:
        return [self.connector["applicationSecret"], self.connector["refreshToken"]]

    def conn_json(self, **extra: Any) -> str:
        conn = json.loads(self.emulator.connection_uri_json(self.connector))
        conn.setdefault("extra", {}).update(extra)
        return json.dumps(conn)

    def hook(self, **extra: Any) -> KaizalaHook:
        """A hook on a new connection to this tenant; ``extra`` overrides connection extras."""
        conn_id = f"kaizala_test_{next(_numbers)}"
        self.monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", self.conn_json(**extra))
        return KaizalaHook(conn_id, refresh_token_store=self.store, retry_backoff=0.01)

    def calls(self) -> list[dict[str, Any]]:
        """The emulator's call log since this tenant was created (tests run one at a time)."""
        return self.emulator.admin.calls(self.start_seq)


def free_port() -> int:
    """A free loopback TCP port."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


REPO = Path(__file__).resolve().parent.parent


def start_module(module: str, args: dict[str, Any]) -> subprocess.Popen[str]:
    """``python -m <module> <args as JSON>`` from the checkout, in this environment, its output piped as text."""
    return subprocess.Popen(
        [sys.executable, "-m", module, json.dumps(args)],
        cwd=REPO,
        env=dict(os.environ),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def kill_mid_walk(process: subprocess.Popen[str], progress: Callable[[], int], until: int, what: str) -> None:
    """Wait until ``progress()`` reaches ``until`` (the process still running), then kill the process with
    SIGKILL; ``what`` names the process in the failure message. At most 120 s."""
    try:
        deadline = time.monotonic() + 120
        while progress() < until:
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline, f"{what} never got half way"
            time.sleep(0.02)
        process.send_signal(signal.SIGKILL)
    finally:
        process.kill()
        process.communicate(timeout=60)
    assert process.returncode == -signal.SIGKILL


def subscriber_calls(tenant: Tenant, group_id: str, since: int) -> int:
    """How many subscriber pages of ``group_id`` were fetched after call-log sequence number ``since``."""
    path = f"/v1/groups/{group_id}/subscribers"
    return sum(1 for c in tenant.emulator.admin.calls(since) if c["path"] == path and c["method"] == "POST")


def last_seq(tenant: Tenant) -> int:
    """The sequence number of the tenant's latest call in the emulator's call log."""
    calls = tenant.emulator.admin.calls(tenant.start_seq)
    return int(calls[-1]["seq"]) if calls else tenant.start_seq


def _phone(n: int) -> str:
    return f"+9198{n:08d}"


@pytest.fixture
def tenant(emulator: KaizalaEmulator, monkeypatch: pytest.MonkeyPatch) -> Iterator[Tenant]:
    """A fresh connector (admin of one group of 5 members and one public group of 237 subscribers)."""
    emulator.admin.faults(**QUIET_FAULTS)
    TOKEN_CACHE.clear()
    base = next(_numbers) * 1000
    connector = emulator.admin.create_connector(phone=_phone(base))
    group_id = emulator.admin.create_group(
        name=f"Team {base}",
        groupType="Group",
        admins=[connector["phone"]],
        members=[_phone(base + i) for i in range(1, 5)],
    )
    public_group_id = emulator.admin.create_group(
        name=f"Public {base}", groupType="ConnectGroup", admins=[connector["phone"]], subscriberCount=237
    )
    calls = emulator.admin.calls()
    start_seq = calls[-1]["seq"] if calls else 0
    yield Tenant(emulator, connector, group_id, public_group_id, 237, monkeypatch, start_seq)
    emulator.admin.faults(**QUIET_FAULTS)
    TOKEN_CACHE.clear()


class Receiver:
    """A tiny webhook receiver: echoes ``validationToken`` on GET, records every POST (headers and JSON)."""

    def __init__(self) -> None:
        self.events: list[tuple[dict[str, str], dict]] = []
        self.validations = 0
        self.echo = True
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                receiver.validations += 1
                token = parse_qs(urlsplit(self.path).query).get("validationToken", [""])[0]
                body = (token if receiver.echo else "nope").encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self) -> None:
                data = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                receiver.events.append(({k.lower(): v for k, v in self.headers.items()}, json.loads(data)))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/kaizala/events"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.02,), daemon=True)

    def wait(self, count: int, timeout: float = 10.0) -> list[tuple[dict[str, str], dict]]:
        deadline = time.monotonic() + timeout
        while len(self.events) < count and time.monotonic() < deadline:
            time.sleep(0.02)
        return list(self.events)


EXAMPLES = REPO / "example_dags"


@pytest.fixture(scope="session")
def webhook_receiver() -> Iterator[Receiver]:
    """A loopback receiver for the webhook example (the emulator validates and delivers to it)."""
    receiver = Receiver()
    receiver.thread.start()
    yield receiver
    receiver.server.shutdown()
    receiver.server.server_close()


@pytest.fixture(scope="session")
def airflow_env(
    tmp_path_factory: pytest.TempPathFactory, emulator: KaizalaEmulator, webhook_receiver: Receiver
) -> dict[str, str]:
    """An embedded SQLite Airflow home, migrated once, with a connection to a demo tenant."""
    home = tmp_path_factory.mktemp("airflow_home")
    demo = emulator.admin.seed_demo(subscribers=300)
    # Subscribers keep joining and leaving, so the change-driven examples have something to see.
    emulator.admin.churn(demo["publicGroupId"], "subscribers", add=2, remove=1, every_seconds=1.0, seed=7)
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(EXAMPLES),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        "AIRFLOW_CONN_KAIZALA_DEFAULT": json.dumps(demo["conn"]),
        "AIRFLOW_VAR_KAIZALA_MANAGERS_GROUP": demo["groups"]["Managers"],
        "AIRFLOW_VAR_KAIZALA_WEBHOOK_URL": webhook_receiver.url,
        "AIRFLOW_VAR_KAIZALA_WEBHOOK_TOKEN": f"{SECRET_MARKER}-callback-token",
        "AIRFLOW_CONN_KAIZALA_WAREHOUSE": json.dumps({"conn_type": "sqlite", "host": str(home / "warehouse.db")}),
    }
    env.pop("AIRFLOW__CORE__UNIT_TEST_MODE", None)
    subprocess.run([airflow_cli(), "db", "migrate"], env=env, check=True, capture_output=True, timeout=300)
    return env


def airflow_cli() -> str:
    """The ``airflow`` command of this interpreter's environment."""
    return str(Path(sys.executable).with_name("airflow"))


def dags_test(env: dict[str, str], dag_id: str) -> subprocess.CompletedProcess[str]:
    """``airflow dags test <dag_id>`` in ``env``, its output captured as text (at most 600 s)."""
    return subprocess.run([airflow_cli(), "dags", "test", dag_id], env=env, capture_output=True, text=True, timeout=600)
