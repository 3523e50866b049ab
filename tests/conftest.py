"""Shared fixtures: one emulator per test session on free loopback ports, and a fresh tenant per test."""

from __future__ import annotations

import itertools
import json
import logging
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

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
