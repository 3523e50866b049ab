"""Token service (§2.2), token checks on resource calls (§3.4), refresh-token rotation."""

from __future__ import annotations

import time

import pytest
import requests

from tests.emulator.conftest import ADMIN, assert_error, get_token, make_client


def test_access_token_response_shape(emu):
    app = emu.admin.create_connector(phone=ADMIN)
    before = time.time() * 1000
    resp = get_token(emu.url, app)
    assert resp.status_code == 200
    body = resp.json()
    assert set(body) == {"accessToken", "endpointUrl", "accessTokenExpiry", "refreshToken", "scope"}
    assert body["endpointUrl"] == emu.url + "/"
    assert isinstance(body["accessTokenExpiry"], int)
    assert before + 86400_000 - 5000 < body["accessTokenExpiry"] < before + 86400_000 + 5000
    assert body["refreshToken"] == ""
    assert "groupinfo.read" in body["scope"].split(",")
    assert app["applicationSecret"] not in body["accessToken"]


def test_token_service_on_both_endpoints(emu):
    app = emu.admin.create_connector(phone=ADMIN)
    resp = get_token(emu.alt_url, app)
    assert resp.status_code == 200
    assert resp.json()["endpointUrl"] == emu.url + "/"


def test_bad_credentials(emu):
    app = emu.admin.create_connector(phone=ADMIN)
    other = emu.admin.create_connector(phone=ADMIN)
    for bad in (
        {**app, "applicationSecret": "nope"},
        {**app, "applicationId": "unknown@2"},
        {**app, "refreshToken": "rt.bogus"},
        {**app, "refreshToken": other["refreshToken"]},  # another connector's refresh token
    ):
        body = assert_error(get_token(emu.url, bad), 401, "Unauthenticated")
        assert body["message"] == "Dont have correct applicationId and secret in header!"
        assert body["errorCategoryKey"] == "AuthException"


def test_missing_and_invalid_access_token(client):
    resp = client.call("GET", "/groups", headers={"accessToken": ""})
    body = assert_error(resp, 401, "InvalidToken")
    assert body["message"] == "Token missing. Header should have token as value of ACCESSTOKEN"
    body = assert_error(client.call("GET", "/groups", token="at.garbage"), 401, "InvalidToken")
    assert body["message"] == "Invalid token. Failure reason:Token validation failed due to unknown reason!"
    # "Bearer <token>" is not accepted: the header carries the raw token.
    assert_error(client.call("GET", "/groups", token=f"Bearer {client.token}"), 401, "InvalidToken")
    assert client.call("GET", "/groups").status_code == 200


def test_access_token_lifetime_and_clock(emu):
    client = make_client(emu)
    emu.admin.advance_clock(86400 + 1)
    assert_error(client.call("GET", "/groups"), 401, "InvalidToken")
    assert emu.admin.calls()[-1]["fault"] == "expired"
    fresh = get_token(emu.url, client.app).json()["accessToken"]
    assert client.call("GET", "/groups", token=fresh).status_code == 200


def test_configurable_access_token_lifetime(emu):
    emu.admin.faults(access_token_lifetime=0.5)
    client = make_client(emu)
    assert client.call("GET", "/groups").status_code == 200
    time.sleep(0.7)
    assert_error(client.call("GET", "/groups"), 401, "InvalidToken")


def test_refresh_token_rotation_after_90_percent(emu):
    app = emu.admin.create_connector(phone=ADMIN)
    emu.admin.advance_clock(320 * 86400)  # 87.7 %: no rotation yet
    assert get_token(emu.url, app).json()["refreshToken"] == ""
    emu.admin.advance_clock(10 * 86400)  # 90.4 %
    first = get_token(emu.url, app).json()["refreshToken"]
    second = get_token(emu.url, app).json()["refreshToken"]
    assert first
    assert second
    assert first != second != app["refreshToken"]
    # The new token works and is young: no rotation when it is used.
    assert get_token(emu.url, {**app, "refreshToken": first}).json()["refreshToken"] == ""
    # The old one stays valid until its own expiry (day 365), then fails.
    emu.admin.advance_clock(36 * 86400)
    assert_error(get_token(emu.url, app), 401, "Unauthenticated")
    assert get_token(emu.url, {**app, "refreshToken": first}).status_code == 200


def test_auth_calls_are_not_throttled_but_logged(emu):
    emu.admin.faults(throttle_limit=2, throttle_window=30)
    app = emu.admin.create_connector(phone=ADMIN)
    for _ in range(5):
        assert get_token(emu.url, app).status_code == 200
    calls = emu.admin.calls()
    assert [c["path"] for c in calls] == ["/v1/accessToken"] * 5
    assert all(c["applicationId"] == app["applicationId"] and c["status"] == 200 for c in calls)


def test_permissions(emu):
    client = make_client(emu, permissions=["groupinfo.read"])
    assert client.call("GET", "/groups").status_code == 200
    resp = client.call("POST", "/groups", json={"name": "x", "welcomeMessage": "hi"})
    body = assert_error(resp, 403, "Forbidden")
    assert "groupinfo.write" in body["message"]
    assert get_token(emu.url, client.app).json()["scope"] == "groupinfo.read"


def test_credential_headers_match_in_any_case_and_missing_ones_are_bad_credentials(emu):
    app = emu.admin.create_connector(phone=ADMIN)
    headers = {
        "APPLICATIONID": app["applicationId"],
        "applicationsecret": app["applicationSecret"],
        "RefreshToken": app["refreshToken"],
    }
    assert requests.get(f"{emu.url}/v1/accessToken", headers=headers, timeout=30).status_code == 200
    for missing in headers:
        partial = {k: v for k, v in headers.items() if k != missing}
        resp = requests.get(f"{emu.url}/v1/accessToken", headers=partial, timeout=30)
        assert_error(resp, 401, "Unauthenticated")
    calls = emu.admin.calls()
    app_id = app["applicationId"]
    assert [c["applicationId"] for c in calls] == [app_id, None, app_id, app_id]  # the id once it names a connector


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "mobileNumber"),
        ({"mobileNumber": ADMIN}, "applicationId"),
        ({"mobileNumber": "+1", "applicationId": "a@2"}, "mobileNumber"),
        ({"mobileNumber": 919810000001, "applicationId": "a@2"}, "mobileNumber"),
        ({"mobileNumber": ADMIN, "applicationId": ""}, "applicationId"),
    ],
)
def test_pin_bodies_name_the_wrong_field(emu, body, field):
    resp = requests.post(f"{emu.url}/v1/generatePin", json=body, timeout=30)
    assert assert_error(resp, 400, "InvalidParameters")["message"].startswith(f"Parameter {field}: ")


@pytest.mark.parametrize("pin", [True, 12.5, "12a", "\u00b2", "\u0661\u0662\u0663\u0664", [1234]])
def test_a_pin_that_is_not_an_integer_is_a_400(emu, pin):
    """``pin`` is an integer (Swagger ``"type": "integer"``) or its ASCII digits; a Unicode digit such as "²" or
    "١٢٣٤" is refused with a 400 naming the field (it used to pass a digit check and fail int() with a 500)."""
    app = emu.admin.create_connector(phone=ADMIN)
    auth = {"mobileNumber": ADMIN, "applicationId": app["applicationId"]}
    assert requests.post(f"{emu.url}/v1/generatePin", json=auth, timeout=30).status_code == 200
    resp = requests.post(f"{emu.url}/v1/loginWithPinAndApplicationId", json={**auth, "pin": pin}, timeout=30)
    assert assert_error(resp, 400, "InvalidParameters")["message"] == "Parameter pin: must be an integer"


def test_a_pin_may_come_as_a_digit_string_in_any_key_case(emu):
    app = emu.admin.create_connector(phone=ADMIN)
    auth = {"MOBILENUMBER": ADMIN, "applicationid": app["applicationId"]}
    assert requests.post(f"{emu.url}/v1/generatePin", json=auth, timeout=30).status_code == 200
    pin = emu.admin.pin(ADMIN, app["applicationId"])
    resp = requests.post(f"{emu.url}/v1/loginWithPinAndApplicationId", json={**auth, "Pin": f" {pin} "}, timeout=30)
    assert resp.status_code == 200, resp.text
    assert get_token(emu.url, app, resp.json()["refreshToken"]).status_code == 200
