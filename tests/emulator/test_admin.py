"""The admin API (/_emulator), the demo tenant, the call log, the harness and the CLI."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

import phonenumbers
import pytest
import requests

from airflow_provider_kaizala.emulator.app import EmulatorApp
from airflow_provider_kaizala.emulator.server import KaizalaEmulator
from tests.emulator.conftest import ADMIN, OTHER, get_token, make_client

ROOT = Path(__file__).resolve().parents[2]


def test_reset_clears_everything(emu):
    client = make_client(emu)
    emu.admin.create_group(name="G", admins=[ADMIN])
    emu.admin.faults(error_rate=0.5)
    emu.admin.advance_clock(100)
    emu.admin.reset()
    assert emu.admin.groups() == []
    assert emu.admin.calls() == []
    assert emu.admin.messages() == []
    assert emu.admin.faults()["error_rate"] == 0.0
    assert get_token(emu.url, client.app).status_code == 401
    assert abs(emu.admin.advance_clock(0)["now"] / 1000 - time.time()) < 5


def test_admin_is_on_both_ports_and_unknown_route(emu):
    assert requests.get(f"{emu.alt_url}/_emulator/faults", timeout=10).json() == emu.admin.faults()
    resp = requests.get(f"{emu.url}/_emulator/nothing", timeout=10)
    assert resp.status_code == 404
    assert resp.json()["errorCode"] == "NotFound"


def test_connector_and_group_creation_validation(emu):
    app = emu.admin.create_connector(name="c", phone=OTHER, tenantId="t-9", permissions=["groupinfo.read"])
    assert set(app) >= {"applicationId", "applicationSecret", "refreshToken", "tenantId", "phone"}
    assert app["tenantId"] == "t-9"
    assert app["phone"] == OTHER
    assert app["applicationId"].endswith("@2")
    for bad in ({"phone": "123"}, {"permissions": ["root"]}):
        assert requests.post(f"{emu.url}/_emulator/connectors", json=bad, timeout=10).status_code == 400
    assert requests.post(f"{emu.url}/_emulator/connectors", json={"groupId": "x@1"}, timeout=10).status_code == 404
    for bad in ({"name": "g", "subscriberCount": 5}, {"name": "g", "groupType": "Nope"}, {"members": ["+1"]}):
        assert requests.post(f"{emu.url}/_emulator/groups", json=bad, timeout=10).status_code == 400


def test_groups_members_subscribers_views(emu):
    parent = emu.admin.create_group(name="P", admins=[ADMIN])
    gid = emu.admin.create_group(
        name="Pub",
        groupType="ConnectGroup",
        admins=[ADMIN],
        members=[OTHER],
        subscriberCount=30,
        subscribers=["+919810000009"],
        parentId=parent,
    )
    view = {g["groupId"]: g for g in emu.admin.groups()}[gid]
    assert view == {
        "groupId": gid,
        "groupName": "Pub",
        "groupType": "ConnectGroup",
        "parentIds": [parent],
        "subGroupIds": [],
        "memberCount": 2,
        "subscriberCount": 31,
    }
    assert [m["role"] for m in emu.admin.members(gid)] == ["Admin", "Member"]
    subs = emu.admin.subscribers(gid)
    assert len(subs) == 31
    assert set(subs[0]) == {"id", "mobileNumber"}
    assert all(phonenumbers.is_valid_number(phonenumbers.parse(s["mobileNumber"])) for s in subs)


def test_churn_members_and_subscribers(emu):
    client = make_client(emu)
    gid = emu.admin.create_group(
        name="G",
        groupType="ConnectGroup",
        admins=[ADMIN],
        members=[f"+91981000{i:04d}" for i in range(10, 20)],
        subscriberCount=50,
    )
    before = {m["mobileNumber"] for m in emu.admin.members(gid)}
    result = emu.admin.churn(gid, "members", add=3, remove=4, seed=1)
    assert len(result["added"]) == 3
    assert len(result["removed"]) == 4
    after = {m["mobileNumber"] for m in emu.admin.members(gid)}
    assert after == (before - set(result["removed"])) | set(result["added"])
    assert ADMIN in after  # admins and connector users are never churned away
    seen = {m["mobileNumber"] for m in client.call("GET", f"/groups/{gid}/members").json()["members"]}
    assert seen == after
    subs = emu.admin.churn(gid, "subscribers", add=5, remove=2, seed=1)
    truth = {s["mobileNumber"] for s in emu.admin.subscribers(gid)}
    assert len(truth) == 53
    assert set(subs["added"]) <= truth
    assert not set(subs["removed"]) & truth
    resp = requests.post(f"{emu.url}/_emulator/churn", json={"groupId": gid, "kind": "planets"}, timeout=10)
    assert resp.status_code == 400


def test_background_churn(emu):
    gid = emu.admin.create_group(name="G", groupType="ConnectGroup", admins=[ADMIN], subscriberCount=20)
    result = emu.admin.churn(gid, "subscribers", add=1, remove=0, every_seconds=0.1)
    assert result["background"] is True
    time.sleep(0.55)
    grown = len(emu.admin.subscribers(gid))
    assert grown >= 24
    assert emu.admin.churn(gid, "subscribers", every_seconds=0)["background"] is False
    time.sleep(0.25)
    assert len(emu.admin.subscribers(gid)) in (grown, grown + 1)


def test_calls_since_and_clear(emu):
    client = make_client(emu)
    client.call("GET", "/groups")
    calls = emu.admin.calls()
    assert [c["path"] for c in calls] == ["/v1/accessToken", "/v1/groups"]
    assert set(calls[0]) == {"seq", "ts", "method", "path", "status", "applicationId", "endpoint", "fault"}
    assert emu.admin.calls(since=calls[0]["seq"]) == calls[1:]
    body = requests.get(f"{emu.url}/_emulator/calls", params={"since": calls[-1]["seq"]}, timeout=10).json()
    assert body == {"calls": [], "next": calls[-1]["seq"]}
    emu.admin.clear_calls()
    assert emu.admin.calls() == []


def test_no_secret_in_call_log_or_logs(emu, caplog):
    caplog.set_level("DEBUG")
    emu.admin.faults(error_rate=0.3, fault_seed=2)
    client = make_client(emu)
    gid = emu.admin.create_group(name="G", admins=[ADMIN])
    for _ in range(5):
        client.call("GET", f"/groups/{gid}/members")
    get_token(emu.url, {**client.app, "applicationId": client.app["applicationSecret"]})  # secret in the id header
    get_token(emu.url, {**client.app, "refreshToken": client.app["applicationSecret"]})
    haystack = json.dumps(emu.admin.calls()) + caplog.text
    for secret in (client.app["applicationSecret"], client.app["refreshToken"], client.token):
        assert secret not in haystack


def test_demo_seed(emu):
    demo = emu.admin.seed_demo()
    assert {"Field Operations", "North Region", "South Region", "Delhi Team", "Customer Updates"} <= set(demo["groups"])
    views = {g["groupName"]: g for g in emu.admin.groups()}
    assert views["Customer Updates"]["subscriberCount"] >= 5000
    assert views["Customer Updates"]["groupType"] == "ConnectGroup"
    assert views["North Region"]["parentIds"] == [demo["groups"]["Field Operations"]]
    assert views["Delhi Team"]["parentIds"] == [demo["groups"]["North Region"]]
    members = emu.admin.members(demo["groups"]["Field Operations"])
    assert {m["role"] for m in members} == {"Admin", "Member"}
    assert not all(m["isProvisioned"] for m in members)
    conn = demo["conn"]
    assert conn["conn_type"] == "kaizala"
    assert conn["host"] == f"{emu.url}/v1"
    assert conn["extra"]["allowed_hosts"] == "127.0.0.1"
    app = {
        "applicationId": conn["login"],
        "applicationSecret": conn["password"],
        "refreshToken": conn["extra"]["refresh_token"],
    }
    token = get_token(emu.url, app).json()["accessToken"]
    names = [
        g["groupName"]
        for g in requests.get(f"{emu.url}/v1/groups", headers={"accessToken": token}, timeout=10).json()["groups"]
    ]
    assert "Field Operations" in names
    assert "Customer Updates" in names
    emu.admin.reset()
    again = emu.admin.seed_demo()
    assert again["groups"] == demo["groups"]  # deterministic ids


def test_connection_uri_json(emu):
    app = emu.admin.create_connector(phone=ADMIN)
    conn = json.loads(emu.connection_uri_json(app))
    assert conn == {
        "conn_type": "kaizala",
        "host": f"{emu.url}/v1",
        "login": app["applicationId"],
        "password": app["applicationSecret"],
        "extra": {"refresh_token": app["refreshToken"], "allowed_hosts": "127.0.0.1"},
    }


def test_harness_instances_are_independent():
    with KaizalaEmulator(seed="demo", demo_subscribers=60, error_rate=0.0) as a, KaizalaEmulator() as b:
        assert a.url != b.url
        assert a.demo is not None
        assert a.conn is not None
        assert len(a.admin.groups()) == 6
        assert b.admin.groups() == []
        assert a.admin.subscribers(a.demo["publicGroupId"]).__len__() == 60
    again = KaizalaEmulator(throttle_limit=7).start()
    try:
        assert again.admin.faults()["throttle_limit"] == 7
    finally:
        again.stop()


def test_million_subscribers_is_fast_and_compact():
    app = EmulatorApp()
    tracemalloc.start()
    t0 = time.process_time()  # CPU time: the machine's other load does not count
    group = app.state.create_group(name="Big", group_type="ConnectGroup")
    app.state.add_synthetic_subscribers(group, 1_000_000, random.Random(1))
    elapsed = time.process_time() - t0
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert len(group.subscribers) == 1_000_000
    assert elapsed < 10, elapsed
    assert peak < 150 * 2**20, peak
    sample = [group.subscribers[i] for i in (0, 1, 499_999, 999_999)]
    assert all(phonenumbers.is_valid_number(phonenumbers.parse(f"+{n}")) for n in sample)
    assert list(group.subscribers[:1000]) == sorted(set(group.subscribers[:1000]))


def test_cli_ready_line_call_and_stop(tmp_path):
    ready_file = tmp_path / "ready.json"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "airflow_provider_kaizala.emulator",
            "--port",
            "0",
            "--alt-port",
            "0",
            "--seed",
            "demo",
            "--demo-subscribers",
            "120",
            "--throttle-limit",
            "50",
            "--error-rate",
            "0",
            "--ready-file",
            str(ready_file),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert proc.stdout is not None
        ready = json.loads(proc.stdout.readline())
        assert json.loads(ready_file.read_text()) == ready
        assert ready["url"].startswith("http://127.0.0.1:")
        assert ready["alt_url"] != ready["url"]
        conn = ready["conn"]
        app = {
            "applicationId": conn["login"],
            "applicationSecret": conn["password"],
            "refreshToken": conn["extra"]["refresh_token"],
        }
        token = get_token(ready["url"], app).json()["accessToken"]
        gid = ready["demo"]["publicGroupId"]
        page = requests.post(
            f"{ready['url']}/v1/groups/{gid}/subscribers", json={}, headers={"accessToken": token}, timeout=10
        ).json()
        assert len(page["subscribers"]) == 50
        assert requests.get(f"{ready['url']}/_emulator/faults", timeout=10).json()["throttle_limit"] == 50
    finally:
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=15)
    assert proc.returncode == 0, err
    assert conn["password"] not in err


def test_subprocess_harness_keeps_its_faults_across_reset():
    em = KaizalaEmulator(subprocess=True, seed="demo", demo_subscribers=75, error_statuses=[503], throttle_auth=True)
    em.start()
    try:
        assert em.pid is not None
        assert em.demo is not None
        assert em.demo["subscriberCount"] == 75
        em.admin.faults(error_statuses=[500])
        em.admin.reset()
        faults = em.admin.faults()
        assert faults["error_statuses"] == [503]
        assert faults["throttle_auth"] is True
        proc = em._proc
    finally:
        em.stop()
    assert proc is not None
    assert proc.returncode == 0


def test_relocate_all_connectors(emu):
    a, b = make_client(emu), make_client(emu)
    assert emu.admin.relocate() == emu.alt_url + "/"
    assert a.call("GET", "/groups").status_code == 308
    assert b.call("GET", "/groups").status_code == 308
    assert b.call("GET", "/groups", base=emu.alt_url).status_code == 200


def test_throttle_auth_switch(emu):
    emu.admin.faults(throttle_limit=2, throttle_window=30, throttle_auth=True)
    app = emu.admin.create_connector(phone=ADMIN)
    assert [get_token(emu.url, app).status_code for _ in range(3)] == [200, 200, 429]


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("expire-tokens", {"applicationId": ["x@2"]}, "applicationId"),
        ("relocate", {"applicationId": {"id": "x@2"}}, "applicationId"),
        ("relocate", {"to": "ftp://elsewhere"}, "to"),
        ("connectors", {"groupId": ["g@1"]}, "groupId"),
        ("connectors", {"permissions": ["groupinfo.read", "root"]}, "permissions[1]"),
        ("groups", {"parentId": ["p@1"]}, "parentId"),
        ("groups", {"groupType": "ConnectGroup", "subscriberCount": -1}, "subscriberCount"),
        ("churn", {"groupId": "g@1", "kind": "members", "seed": [1]}, "seed"),
        ("clock", {"advance_seconds": "nan"}, "advance_seconds"),
        ("seed/demo", {"subscribers": "many"}, "subscribers"),
    ],
)
def test_admin_bodies_with_a_wrong_value_are_a_400_naming_it(emu, path, body, field):
    """A value of the wrong type is a 400 naming it (a list or object id used to be looked up and fail with a 500;
    a "nan" clock step used to make the emulator's clock NaN)."""
    resp = requests.post(f"{emu.url}/_emulator/{path}", json=body, timeout=10)
    assert resp.status_code == 400, resp.text
    assert resp.json()["message"].startswith(f"Parameter {field}: ")
    assert isinstance(emu.admin.advance_clock(0)["now"], int)


def test_admin_bodies_are_lenient(emu):
    """Keys in any case, a body without a Content-Type read as JSON, no body at all for what has defaults."""
    resp = requests.post(f"{emu.url}/_emulator/groups", data=b'{"NAME": "G", "GROUPTYPE": "connectgroup"}', timeout=10)
    assert resp.status_code == 200, resp.text
    assert requests.post(f"{emu.url}/_emulator/groups", timeout=10).status_code == 200
    views = {g["groupId"]: g for g in emu.admin.groups()}
    assert views[resp.json()["groupId"]]["groupType"] == "ConnectGroup"
    assert sorted(g["groupName"] for g in views.values()) == ["G", "Group"]
    assert requests.post(f"{emu.url}/_emulator/faults", json={"ERROR_RATE": 0.25}, timeout=10).status_code == 200
    assert emu.admin.faults()["error_rate"] == 0.25
    assert (
        requests.post(f"{emu.url}/_emulator/clock", data=b'{"Advance_Seconds": "60"}', timeout=10).json()["offset"]
        == 60.0
    )
    assert requests.get(f"{emu.url}/_emulator/calls", params={"SINCE": "0"}, timeout=10).status_code == 200


def test_pin_inbox_needs_a_valid_number_and_a_connector(emu):
    app = emu.admin.create_connector(phone=ADMIN)
    inbox = f"{emu.url}/_emulator/pins"
    resp = requests.get(inbox, params={"applicationId": app["applicationId"]}, timeout=10)
    assert resp.status_code == 400
    assert resp.json()["message"].startswith("Parameter mobileNumber: ")
    resp = requests.get(inbox, params={"mobileNumber": "+1", "applicationId": app["applicationId"]}, timeout=10)
    assert resp.json()["message"].startswith("Parameter mobileNumber: ")
    query = {"MOBILENUMBER": ADMIN, "applicationid": app["applicationId"]}
    assert requests.get(inbox, params=query, timeout=10).status_code == 404  # nothing sent yet
    auth = {"mobileNumber": ADMIN, "applicationId": app["applicationId"]}
    assert requests.post(f"{emu.url}/v1/generatePin", json=auth, timeout=10).status_code == 200
    assert requests.get(inbox, params=query, timeout=10).json()["pin"] == emu.admin.pin(ADMIN, app["applicationId"])
