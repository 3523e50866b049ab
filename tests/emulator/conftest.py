"""Fixtures for the emulator contract tests: one in-process emulator per session, reset before each test."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import requests

from airflow_provider_kaizala.emulator.server import KaizalaEmulator

ADMIN = "+919810000001"
OTHER = "+919810000002"


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


def assert_error(resp: requests.Response, status: int, code: str) -> dict[str, Any]:
    assert resp.status_code == status, (resp.status_code, resp.text)
    body = resp.json()
    assert set(body) == {"message", "errorCode", "errorCategoryKey"}, body
    assert body["errorCode"] == code, body
    assert body["message"]
    return body  # type: ignore[no-any-return]
