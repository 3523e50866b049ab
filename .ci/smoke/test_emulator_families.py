"""The emulator alone: one call per route family and its generated OpenAPI document.

Run by the smoke set (every Airflow of the matrix, and the floors) and by ``.ci/emulator_latest.sh`` (the
emulator's own dependencies at their newest releases, without Airflow): FastAPI, Starlette, uvicorn, pydantic
and python-multipart change what they do between releases, and the emulator claims every release from its floor.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests

from airflow_provider_kaizala.emulator.server import KaizalaEmulator


@pytest.fixture(scope="module")
def emulator() -> Iterator[KaizalaEmulator]:
    with KaizalaEmulator(throttle_limit=0) as emu:
        yield emu


def test_the_emulator_serves_every_route_family(emulator: KaizalaEmulator) -> None:
    """JSON (any JSON type), multipart, the token service, query names in any case, the admin API without a
    Content-Type, a 400 naming the field, and the generated OpenAPI document."""
    base = emulator.url
    demo = emulator.admin.seed_demo(subscribers=5)
    conn = demo["connector"]
    credentials = {k: conn[k] for k in ("applicationId", "applicationSecret", "refreshToken")}
    token = requests.get(f"{base}/v1/accessToken", headers=credentials, timeout=10)
    assert token.status_code == 200, token.text
    auth = {"accessToken": token.json()["accessToken"]}
    group = demo["groups"]["Field Operations"]

    def call(method: str, path: str, **kw: Any) -> dict[str, Any]:
        kw.setdefault("headers", auth)
        resp = requests.request(method, f"{base}/v1{path}", timeout=10, **kw)
        assert resp.status_code == 200, (method, path, resp.status_code, resp.text)
        return dict(resp.json())

    assert "callerRole" in call("GET", "/groups?SHOWDETAIL=TRUE")["groups"][0]
    assert call("GET", f"/groups/{group}/members")["members"]
    assert call("POST", f"/groups/{demo['publicGroupId']}/subscribers", json={"count": 2})["subscribers"]
    message = call(
        "POST", f"/groups/{group}/messages", data=b'{"message": "smoke"}', headers={**auth, "Content-Type": "text/json"}
    )["referenceId"]
    call("POST", f"/groups/{group}/reaction", json={"referenceId": message, "reactionType": "like"})
    assert call("GET", f"/groups/{group}/reaction/summary")
    media = call("POST", "/media", files={"file": ("a.png", b"\x89PNG\r\n\x1a\nsmoke", "image/png")})
    assert media["mediaResource"]
    survey = {"actionType": "Survey", "actionBody": {"title": "smoke", "questions": [{"title": "q", "type": "Text"}]}}
    action = call("POST", f"/groups/{group}/actions", json=survey)["actionId"]
    assert call("GET", f"/groups/{group}/actions/{action}")
    bad = requests.post(f"{base}/v1/groups/{group}/messages", json={"message": 5}, headers=auth, timeout=10)
    assert bad.status_code == 400, bad.text
    assert set(bad.json()) == {"message", "errorCode", "errorCategoryKey"}
    assert "message" in bad.json()["message"]
    clock = requests.post(f"{base}/_emulator/clock", data=b'{"advance_seconds": 0}', timeout=10)
    assert clock.status_code == 200, clock.text
    pins = requests.get(
        f"{base}/_emulator/pins", params={"MOBILENUMBER": conn["phone"], "applicationid": conn["applicationId"]}
    )
    assert pins.status_code == 404, pins.text  # both names understood: no PIN was sent
    document = requests.get(f"{base}/_emulator/openapi.json", timeout=10).json()
    assert document["openapi"] == "3.0.3"
    assert len([op for item in document["paths"].values() for op in item]) == 32
