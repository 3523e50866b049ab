"""Inputs at the edges of what JSON and URLs allow get a 400 with the 3-field error body, never a 500."""

from __future__ import annotations

import contextlib
import json
import socket
from collections.abc import Iterator

import pytest
import requests

from airflow_provider_kaizala.emulator.server import KaizalaEmulator


@pytest.fixture(scope="module")
def demo() -> Iterator[tuple[str, dict, str, str]]:
    with KaizalaEmulator(seed="demo", demo_subscribers=60, throttle_limit=0, tenant_throttle_limit=0) as emu:
        connector = emu.demo["connector"]
        token = requests.get(
            f"{emu.url}/v1/accessToken",
            headers={
                "applicationId": connector["applicationId"],
                "applicationSecret": connector["applicationSecret"],
                "refreshToken": connector["refreshToken"],
            },
            timeout=10,
        ).json()["accessToken"]
        yield emu.url, {"accessToken": token}, emu.demo["groups"]["Field Operations"], emu.demo["publicGroupId"]


HUGE = int("1" + "0" * 400)
PACKAGE_QUESTIONS = [{"title": "d", "type": "Date"}, {"title": "l", "type": "Location"}]


@pytest.mark.parametrize(
    ("method", "path", "body", "params"),
    [
        (
            "POST",
            "/v1/groups/{g}/actions",
            {"actionType": "Job", "actionBody": {"title": "t", "assignedTo": ["+919810000003"], "dueDate": 10**12}},
            None,
        ),
        (
            "POST",
            "/v1/groups/{g}/actions",
            {
                "actionType": "Poll",
                "actionBody": {"question": "q", "choices": [{"title": "a"}], "expiryInHours": 2**31},
            },
            None,
        ),
        ("POST", "/v1/groups/{g}/actions", {"id": "com.x.y", "actionBody": {"validity": 2**31}}, None),
        (
            "POST",
            "/v1/groups/{g}/actions",
            {"actionType": "LetsMeet", "actionBody": {"title": "t", "startingTime": "0001-01-01T00:00:00+01:00"}},
            None,
        ),
        (
            "POST",
            "/v1/groups/{g}/actions",
            {
                "actionType": "LetsMeet",
                "actionBody": {
                    "title": "t",
                    "startingTime": "2026-12-01T09:00:00Z",
                    "place": {"latitude": HUGE, "longitude": 1},
                },
            },
            None,
        ),
        ("GET", "/v1/groups/{g}/actions", None, {"actionType": "Job", "count": "--5"}),
        ("GET", "/v1/groups/{g}/actions", None, {"actionType": "Job", "count": "\u00b2"}),
        ("GET", "/v1/groups/{g}/reaction/summary", None, {"cursor": "\u00b2"}),
        ("POST", "/v1/groups/{p}/subscribers", {"count": "--1"}, None),
        ("POST", "/v1/media/url", {"mediaUrl": "http://[::1"}, None),
        (
            "POST",
            "/v1/webhook",
            {"objectId": "{g}", "objectType": "Group", "eventTypes": ["MemberAdded"], "callBackUrl": "https://[::1"},
            None,
        ),
    ],
)
def test_edge_inputs_are_bad_requests(demo, method, path, body, params):
    url, headers, group, public = demo
    if body is not None and body.get("objectId") == "{g}":
        body = {**body, "objectId": group}
    response = requests.request(
        method, url + path.format(g=group, p=public), json=body, params=params, headers=headers, timeout=10
    )
    assert response.status_code == 400, response.text
    assert set(response.json()) == {"message", "errorCode", "errorCategoryKey"}


def test_non_finite_answers_are_bad_requests(demo):
    url, headers, group, _ = demo
    posted = requests.post(
        f"{url}/v1/groups/{group}/actions",
        json={"id": "com.x.y", "actionBody": {"questions": PACKAGE_QUESTIONS}},
        headers=headers,
        timeout=10,
    ).json()
    responses = f"{url}/v1/groups/{group}/actions/{posted['actionId']}/responses"
    for answers in (["inf", {"lt": 1, "lg": 1}], [1, {"lt": HUGE, "lg": 1}]):
        reply = requests.post(
            responses, json={"id": "com.x.y", "actionBody": {"answers": answers}}, headers=headers, timeout=10
        )
        assert reply.status_code == 400, reply.text


@pytest.mark.parametrize(
    "content_type", ["application/json", "text/json", "application/vnd.kaizala+json; charset=utf-8"]
)
def test_every_json_content_type_the_pipeline_accepts_reaches_the_handler(
    demo: tuple[str, dict, str, str], content_type: str
) -> None:
    """The pipeline lets any JSON type through (415 otherwise); FastAPI must then read the body as JSON too."""
    url, headers, group, _ = demo
    resp = requests.post(
        f"{url}/v1/groups/{group}/messages",
        data=b'{"message": "hello"}',
        headers={**headers, "Content-Type": content_type},
        timeout=10,
    )
    assert resp.status_code == 200, resp.text
    assert resp.json()["referenceId"]


def test_blank_query_values_are_no_values(demo: tuple[str, dict, str, str]) -> None:
    """``?showDetail=`` is absent, as on the service (the old query parser dropped blank values)."""
    url, headers, _, _ = demo
    resp = requests.get(f"{url}/v1/groups?showDetail=&FETCHALLGROUPS=true", headers=headers, timeout=10)
    assert resp.status_code == 200, resp.text
    assert "callerRole" not in resp.json()["groups"][0]


def test_an_admin_body_without_a_content_type_is_read_as_json(demo: tuple[str, dict, str, str]) -> None:
    """The harness's admin API stays lenient on every supported FastAPI (0.115 parsed such a body, newer ones not)."""
    url, _, _, _ = demo
    resp = requests.post(f"{url}/_emulator/clock", data=b'{"advance_seconds": 1}', timeout=10)
    assert resp.status_code == 200, resp.text
    assert resp.json()["offset"] >= 1


@pytest.mark.parametrize(
    ("method", "path", "body", "field"),
    [
        ("POST", "/v1/groups/{p}/subscribers", {"count": 10**30}, "count"),
        ("POST", "/v1/groups/{p}/subscribers", {"count": 2**63}, "count"),
        (
            "POST",
            "/v1/webhook",
            {
                "objectId": "{g}",
                "objectType": "Group",
                "eventTypes": ["MemberAdded"],
                "callBackUrl": "https://x.y",
                "validity": 10**30,
            },
            "validity",
        ),
    ],
)
def test_integers_beyond_64_bits_are_refused(
    demo: tuple[str, dict, str, str], method: str, path: str, body: dict, field: str
) -> None:
    """The service's integer fields are .NET Int64: a bigger number is a 400 naming the field, never stored and
    sent back (a client in Java, .NET or Go could not read it)."""
    url, headers, group, public = demo
    text = json.dumps(body).replace("{g}", group)
    resp = requests.request(
        method,
        url + path.format(p=public, g=group),
        data=text,
        headers={**headers, "Content-Type": "application/json"},
        timeout=10,
    )
    assert resp.status_code == 400, resp.text
    assert field in resp.json()["message"]
    assert "64-bit" in resp.json()["message"]


def test_a_body_on_a_get_is_ignored_not_a_415(demo: tuple[str, dict, str, str]) -> None:
    """Only POST and PUT take a JSON body (the docs require its Content-Type there); a GET's body is ignored."""
    url, headers, _, _ = demo
    resp = requests.request(
        "GET", f"{url}/v1/groups", data=b"zzz", headers={**headers, "Content-Type": "text/plain"}, timeout=10
    )
    assert resp.status_code == 200, resp.text


@pytest.mark.parametrize(
    "head",
    [
        b"Content-Length: 99999999999\r\n",  # declared, never sent
        b"Transfer-Encoding: chunked\r\n",  # a chunked body that passes the limit
    ],
)
def test_a_body_over_the_limit_is_answered_413_at_once(demo: tuple[str, dict, str, str], head: bytes) -> None:
    """413 as soon as the limit is known to be passed (not after draining the body), and the connection closes."""
    url, headers, group, _ = demo
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        token = headers["accessToken"].encode()
        sock.sendall(
            f"POST /v1/groups/{group}/messages HTTP/1.1\r\nHost: x\r\n".encode()
            + b"accessToken: "
            + token
            + b"\r\nContent-Type: application/json\r\n"
            + head
            + b"\r\n"
        )
        if b"chunked" in head:
            chunk = b"x" * (1024 * 1024)
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # the answer may come before the end
                for _ in range(5):
                    sock.sendall(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
        answer = b""
        while b"\r\n\r\n" not in answer:
            data = sock.recv(65536)
            if not data:
                break
            answer += data
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]


def test_out_of_range_dates_windows_and_admin_bodies_are_refused(demo: tuple[str, dict, str, str]) -> None:
    """What the first review's re-check still found: a Date answer beyond the year 9999 was stored, a fromDate
    beyond 64 bits listed nothing, a throttle window of 1e30 s gave a 31-digit Retry-After, and an admin body over
    4 MiB was cut and reported as invalid JSON."""
    url, headers, group, _ = demo
    survey = {"actionType": "Survey", "actionBody": {"title": "d", "questions": [{"title": "when", "type": "Date"}]}}
    action = requests.post(f"{url}/v1/groups/{group}/actions", json=survey, headers=headers, timeout=10).json()
    answer = {"actionType": "Survey", "actionBody": {"answers": [2**63]}}
    resp = requests.post(
        f"{url}/v1/groups/{group}/actions/{action['actionId']}/responses", json=answer, headers=headers, timeout=10
    )
    assert resp.status_code == 400, resp.text
    assert "answers[0]" in resp.json()["message"]
    resp = requests.get(
        f"{url}/v1/groups/{group}/actions",
        params={"actionType": "Survey", "fromDate": str(2**64)},
        headers=headers,
        timeout=10,
    )
    assert resp.status_code == 400, resp.text
    assert "fromDate" in resp.json()["message"]
    resp = requests.post(f"{url}/_emulator/faults", json={"throttle_window": 1e30}, timeout=10)
    assert resp.status_code == 400, resp.text
    assert "throttle_window" in resp.json()["message"]
    resp = requests.post(f"{url}/_emulator/faults", data=b'{"x": "' + b"y" * (5 * 1024 * 1024) + b'"}', timeout=30)
    assert resp.status_code == 413, resp.text
    assert resp.json()["errorCode"] == "RequestEntityTooLarge"
