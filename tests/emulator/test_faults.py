"""Switchable faults: throttling, relocation, token expiry, injected 5xx, drops, slowness, fault_paths."""

from __future__ import annotations

import http.client
import time

import pytest
import requests

from tests.emulator.conftest import ADMIN, assert_error, get_token, make_client


@pytest.fixture
def group(emu):
    return emu.admin.create_group(name="G", admins=[ADMIN])


def test_throttle_per_connector_with_retry_after(emu, group):
    emu.admin.faults(throttle_limit=3, throttle_window=2.0)
    client = make_client(emu)
    other = make_client(emu)
    t0 = time.monotonic()
    for _ in range(3):
        assert client.call("GET", "/groups").status_code == 200
    resp = client.call("GET", "/groups")
    assert_error(resp, 429, "TooManyRequests")
    assert resp.headers["Retry-After"] in ("1", "2")
    assert emu.admin.calls()[-1]["fault"] == "throttle"
    assert other.call("GET", "/groups").status_code == 200  # another connector has its own window
    # Throttled calls do not count: once the window slides, the connector is served again.
    time.sleep(max(0.0, 2.05 - (time.monotonic() - t0)))
    assert client.call("GET", "/groups").status_code == 200


def test_retry_after_is_time_until_oldest_call_leaves(emu):
    emu.admin.faults(throttle_limit=1, throttle_window=5.0)
    client = make_client(emu)
    assert client.call("GET", "/groups").status_code == 200
    time.sleep(1.2)
    resp = client.call("GET", "/groups")
    assert resp.status_code == 429
    assert resp.headers["Retry-After"] == "4"


def test_throttle_per_tenant(emu):
    emu.admin.faults(throttle_limit=100, tenant_throttle_limit=4, throttle_window=30)
    a = make_client(emu, tenantId="t-1")
    b = make_client(emu, tenantId="t-1")
    c = make_client(emu, tenantId="t-2")
    for client in (a, b, a, b):
        assert client.call("GET", "/groups").status_code == 200
    assert_error(a.call("GET", "/groups"), 429, "TooManyRequests")
    assert_error(b.call("GET", "/groups"), 429, "TooManyRequests")
    assert c.call("GET", "/groups").status_code == 200


def test_relocation_on_demand(emu, group):
    client = make_client(emu)
    new = emu.admin.relocate(client.app["applicationId"])
    assert new == emu.alt_url + "/"
    resp = client.call("GET", f"/groups/{group}")
    assert resp.status_code == 308
    assert resp.headers["Location"] == emu.alt_url + "/"
    assert resp.json()["endpointUrl"] == emu.alt_url + "/"
    assert emu.admin.calls()[-1]["fault"] == "relocate"
    # The token stays valid on the new base, and the token service reports the new endpoint.
    assert client.call("GET", f"/groups/{group}", base=emu.alt_url).status_code == 200
    assert get_token(emu.url, client.app).json()["endpointUrl"] == emu.alt_url + "/"
    # The old endpoint keeps relocating; other connectors are unaffected.
    assert client.call("GET", "/groups").status_code == 308
    assert make_client(emu).call("GET", "/groups").status_code == 200
    assert emu.admin.calls()[-1]["endpoint"] == "primary"


def test_relocation_to_explicit_url_and_back(emu):
    client = make_client(emu)
    assert emu.admin.relocate(client.app["applicationId"], to="http://127.0.0.1:9/") == "http://127.0.0.1:9/"
    for base in (emu.url, emu.alt_url):
        resp = client.call("GET", "/groups", base=base)
        assert resp.status_code == 308
        assert resp.headers["Location"] == "http://127.0.0.1:9/"
    emu.admin.relocate(client.app["applicationId"], to=emu.url)
    assert client.call("GET", "/groups").status_code == 200


def test_relocate_after_n_calls(emu):
    emu.admin.faults(relocate_after=3)
    client = make_client(emu)
    assert [client.call("GET", "/groups").status_code for _ in range(4)] == [200, 200, 200, 308]
    assert [client.call("GET", "/groups", base=emu.alt_url).status_code for _ in range(4)] == [200, 200, 200, 308]
    assert client.call("GET", "/groups").status_code == 200  # every N calls: back to the primary


def test_expire_tokens_on_demand(emu):
    a, b = make_client(emu), make_client(emu)
    assert emu.admin.expire_tokens(a.app["applicationId"]) == 1
    assert_error(a.call("GET", "/groups"), 401, "InvalidToken")
    assert emu.admin.calls()[-1] | {"seq": 0, "ts": 0} == {
        "seq": 0,
        "ts": 0,
        "method": "GET",
        "path": "/v1/groups",
        "status": 401,
        "applicationId": a.app["applicationId"],
        "endpoint": "primary",
        "fault": "expired",
    }
    assert b.call("GET", "/groups").status_code == 200
    emu.admin.expire_tokens()
    assert_error(b.call("GET", "/groups"), 401, "InvalidToken")


def test_token_expire_every_n_calls(emu):
    emu.admin.faults(token_expire_every=2)
    client = make_client(emu)
    assert [client.call("GET", "/groups").status_code for _ in range(3)] == [200, 200, 401]
    client.token = get_token(emu.url, client.app).json()["accessToken"]
    assert [client.call("GET", "/groups").status_code for _ in range(3)] == [200, 200, 401]


def test_injected_errors_are_seeded_and_before_processing(emu, group):
    client = make_client(emu)

    def run():
        emu.admin.faults(error_rate=0.5, error_statuses=[503, 502], fault_seed=11)
        return [
            client.call("POST", f"/groups/{group}/messages", json={"message": f"m{i}"}).status_code for i in range(12)
        ]

    first = run()
    assert any(s >= 500 for s in first)
    assert 200 in first
    sent = emu.admin.messages(group)
    assert len(sent) == first.count(200)  # an injected error never records the action
    assert run() == first  # reproducible from the seed
    resp_codes = [c for c in emu.admin.calls() if c["fault"] == "error"]
    assert all(c["status"] in (502, 503) for c in resp_codes)
    assert all(c["applicationId"] == client.app["applicationId"] for c in resp_codes)
    emu.admin.faults(error_rate=1.0, error_statuses=[500])
    body = client.call("GET", "/groups").json()
    assert set(body) == {"message", "errorCode", "errorCategoryKey"}


def test_fault_paths_restricts_faults(emu, group):
    emu.admin.faults(error_rate=1.0, fault_paths="/messages$")
    client = make_client(emu)
    assert client.call("GET", "/groups").status_code == 200
    assert client.call("POST", f"/groups/{group}/messages", json={"message": "x"}).status_code >= 500


@pytest.mark.parametrize("phase", ["before", "after"])
def test_dropped_connection(emu, group, phase):
    client = make_client(emu)
    emu.admin.faults(drop_rate=1.0, drop_phase=phase, fault_paths="messages")
    with pytest.raises(requests.ConnectionError):
        client.call("POST", f"/groups/{group}/messages", json={"message": "dropped"})
    host, port = emu.url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    conn.request(
        "POST",
        f"/v1/groups/{group}/messages",
        body=b'{"message":"dropped"}',
        headers={"accessToken": client.token, "Content-Type": "application/json"},
    )
    with pytest.raises((ConnectionError, http.client.RemoteDisconnected)):
        conn.getresponse()
    conn.close()
    recorded = len(emu.admin.messages(group))
    assert recorded == (2 if phase == "after" else 0)
    drops = [c for c in emu.admin.calls() if c["fault"] == "drop"]
    assert len(drops) == 2
    assert all(c["status"] == (200 if phase == "after" else 0) for c in drops)
    # Other paths are unaffected and the server is fine afterwards.
    assert client.call("GET", "/groups").status_code == 200


def test_slow_before_times_out_without_effect(emu, group):
    client = make_client(emu)
    emu.admin.faults(slow_rate=1.0, slow_seconds=1.0, slow_phase="before", fault_paths="messages")
    with pytest.raises(requests.Timeout):
        requests.post(
            client.url(f"/groups/{group}/messages"),
            json={"message": "slow"},
            headers={"accessToken": client.token},
            timeout=0.3,
        )
    assert emu.admin.messages(group) == []  # not processed yet when the client gave up
    time.sleep(1.0)
    assert len(emu.admin.messages(group)) == 1  # ... but processed once the delay is over


def test_slow_after_records_then_delays(emu, group):
    client = make_client(emu)
    emu.admin.faults(slow_rate=1.0, slow_seconds=1.0, slow_phase="after", fault_paths="messages")
    t0 = time.monotonic()
    with pytest.raises(requests.Timeout):
        requests.post(
            client.url(f"/groups/{group}/messages"),
            json={"message": "slow"},
            headers={"accessToken": client.token},
            timeout=0.4,
        )
    assert time.monotonic() - t0 < 0.9
    assert [m["message"] for m in emu.admin.messages(group)] == ["slow"]  # recorded before the delay
    resp = client.call("POST", f"/groups/{group}/messages", json={"message": "patient"})
    assert resp.status_code == 200
    assert time.monotonic() - t0 >= 1.0
    assert emu.admin.calls()[-1]["fault"] == "slow"


def test_fault_update_validation(emu):
    for bad in (
        {"error_rate": 2},
        {"drop_phase": "during"},
        {"nope": 1},
        {"error_statuses": [404]},
        {"fault_paths": "("},
        {"throttle_window": 0},
    ):
        resp = requests.post(f"{emu.url}/_emulator/faults", json=bad, timeout=10)
        assert resp.status_code == 400, bad
    config = emu.admin.faults()
    assert config["error_rate"] == 0.0
    assert config["drop_phase"] == "before"
    assert emu.admin.faults(slow_seconds=3)["slow_seconds"] == 3.0
