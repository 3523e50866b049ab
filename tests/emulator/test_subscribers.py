"""Subscribers SU1-SU3, §5.4: paging, clamping, cursor walk under churn."""

from __future__ import annotations

import json

import phonenumbers
import pytest
import requests

from airflow_provider_kaizala.emulator.server import KaizalaEmulator
from tests.emulator.conftest import ADMIN, OTHER, assert_error, make_client, served_by

NEW = ["+919810000101", "+919810000102"]


def walk(client, gid, count=50, between=None):
    seen, cursor, pages = [], None, 0
    while True:
        body = {"count": count} if cursor is None else {"count": count, "cursor": cursor}
        resp = client.call("POST", f"/groups/{gid}/subscribers", json=body)
        assert resp.status_code == 200, resp.text
        data = resp.json()
        seen.extend(s["mobileNumber"] for s in data["subscribers"])
        pages += 1
        cursor = data.get("cursor")
        if cursor is None:
            return seen, pages
        assert isinstance(cursor, str)
        assert cursor
        if between:
            between(pages)


@pytest.fixture
def public(emu):
    client = make_client(emu)
    gid = emu.admin.create_group(name="Pub", groupType="ConnectGroup", admins=[ADMIN], subscriberCount=120)
    return client, gid


def test_page_shape_defaults_and_end(public):
    client, gid = public
    data = client.call("POST", f"/groups/{gid}/subscribers").json()  # no body at all
    assert len(data["subscribers"]) == 50
    assert "cursor" in data
    item = data["subscribers"][0]
    assert set(item) == {"id", "mobileNumber", "name", "profilePic", "isProvisioned"}
    assert isinstance(item["isProvisioned"], bool)
    assert phonenumbers.is_valid_number(phonenumbers.parse(item["mobileNumber"]))
    seen, pages = walk(client, gid)
    assert pages == 3
    assert len(seen) == 120
    assert len(set(seen)) == 120
    truth = [s["mobileNumber"] for s in client.em.admin.subscribers(gid)]
    assert sorted(seen) == sorted(truth)


def test_exact_multiple_has_no_trailing_cursor(emu):
    client = make_client(emu)
    gid = emu.admin.create_group(name="P", groupType="ConnectGroup", admins=[ADMIN], subscriberCount=100)
    seen, pages = walk(client, gid)
    assert pages == 2
    assert len(seen) == 100
    empty = emu.admin.create_group(name="E", groupType="ConnectGroup", admins=[ADMIN])
    assert client.call("POST", f"/groups/{empty}/subscribers", json={}).json() == {"subscribers": []}


def test_count_clamped_and_validated(public):
    client, gid = public
    url = f"/groups/{gid}/subscribers"
    assert len(client.call("POST", url, json={"count": 500}).json()["subscribers"]) == 50
    assert len(client.call("POST", url, json={"count": 7}).json()["subscribers"]) == 7
    assert len(client.call("POST", url, json={"Count": "7"}).json()["subscribers"]) == 7
    for bad in (0, -1, 2.5, "abc", True):
        assert_error(client.call("POST", url, json={"count": bad}), 400, "InvalidParameters")
    assert_error(client.call("POST", url, json={"cursor": "garbage!!"}), 400, "InvalidParameters")


def test_cursor_belongs_to_its_group(emu, public):
    client, gid = public
    other = emu.admin.create_group(name="P2", groupType="ConnectGroup", admins=[ADMIN], subscriberCount=60)
    cursor = client.call("POST", f"/groups/{gid}/subscribers", json={}).json()["cursor"]
    assert_error(client.call("POST", f"/groups/{other}/subscribers", json={"cursor": cursor}), 400, "InvalidParameters")


def test_not_a_public_group(emu):
    client = make_client(emu)
    gid = emu.admin.create_group(name="G", admins=[ADMIN])
    assert_error(client.call("POST", f"/groups/{gid}/subscribers", json={}), 400, "InvalidParameters")
    assert_error(
        client.call("PUT", f"/groups/{gid}/subscribers/add", json={"subscribers": NEW}), 400, "InvalidParameters"
    )
    assert_error(client.call("POST", "/groups/missing@1/subscribers", json={}), 404, "NotFound")


def test_add_and_remove(public):
    client, gid = public
    resp = client.call("PUT", f"/groups/{gid}/subscribers/add", json={"subscribers": NEW})
    assert resp.json() == {"result": {NEW[0]: {"isAdded": True}, NEW[1]: {"isAdded": True}}}
    resp = client.call("PUT", f"/groups/{gid}/subscribers/ADD", json={"Subscribers": [NEW[0]]})
    assert resp.json() == {"result": {NEW[0]: {"isAdded": False, "reason": "AlreadySubscribed"}}}
    assert len(client.em.admin.subscribers(gid)) == 122
    resp = client.call("PUT", f"/groups/{gid}/subscribers/remove", json={"subscribers": [NEW[0], OTHER]})
    assert resp.json() == {
        "result": {NEW[0]: {"isRemoved": True}, OTHER: {"isRemoved": False, "reason": "NotSubscribed"}}
    }
    resp = client.call("PUT", f"/groups/{gid}/subscribers/add", json={"subscribers": ["+1"]})
    assert resp.json() == {"result": {"+1": {"isAdded": False, "reason": "InvalidPhoneNumber"}}}
    body = assert_error(
        client.call("PUT", f"/groups/{gid}/subscribers/add", json={"subscribers": "+1"}), 400, "InvalidParameters"
    )
    assert "subscribers" in body["message"]
    truth = {s["mobileNumber"] for s in client.em.admin.subscribers(gid)}
    assert NEW[1] in truth
    assert NEW[0] not in truth
    assert len(truth) == 121


def test_walk_is_complete_under_churn(emu):
    client = make_client(emu)
    gid = emu.admin.create_group(name="Churn", groupType="ConnectGroup", admins=[ADMIN], subscriberCount=600)
    start = {s["mobileNumber"] for s in emu.admin.subscribers(gid)}
    removed: set[str] = set()

    def churn(page):
        result = emu.admin.churn(gid, "subscribers", add=15, remove=15, seed=page)
        removed.update(result["removed"])

    seen, pages = walk(client, gid, count=50, between=churn)
    assert len(seen) == len(set(seen)), "a subscriber was returned twice"
    stayed = start - removed
    assert stayed <= set(seen), f"{len(stayed - set(seen))} stable subscribers were skipped"
    assert pages >= 12


def test_subscriber_ids_match_ground_truth(public):
    client, gid = public
    page = client.call("POST", f"/groups/{gid}/subscribers", json={"count": 50}).json()["subscribers"]
    truth = {s["mobileNumber"]: s["id"] for s in client.em.admin.subscribers(gid)}
    assert all(truth[s["mobileNumber"]] == s["id"] for s in page)


def test_cursors_never_expire_by_default(public):
    """``cursor_lifetime`` 0 (the default): a cursor stays valid however far the emulator clock moves."""
    client, gid = public
    cursor = client.call("POST", f"/groups/{gid}/subscribers", json={}).json()["cursor"]
    client.em.admin.advance_clock(80_000)  # below the access token lifetime (86400 s)
    resp = client.call("POST", f"/groups/{gid}/subscribers", json={"cursor": cursor})
    assert resp.status_code == 200, resp.text


def test_cursor_older_than_its_lifetime_is_refused(public):
    """``cursor_lifetime`` > 0: the cursor carries its issue time on the emulator clock; once older than the
    lifetime it gets the status of any invalid cursor (400 InvalidParameters), naming why."""
    client, gid = public
    url = f"/groups/{gid}/subscribers"
    untimed = client.call("POST", url, json={}).json()["cursor"]
    assert client.em.admin.faults(cursor_lifetime=60)["cursor_lifetime"] == 60.0
    cursor = client.call("POST", url, json={}).json()["cursor"]
    client.em.admin.advance_clock(30)
    assert client.call("POST", url, json={"cursor": cursor}).status_code == 200
    client.em.admin.advance_clock(31)
    body = assert_error(client.call("POST", url, json={"cursor": cursor}), 400, "InvalidParameters")
    assert body["message"] == "Cursor expired"
    # A cursor issued while the switch was off has no issue time: it stays valid.
    assert client.call("POST", url, json={"cursor": untimed}).status_code == 200
    # The walk goes on from a fresh first page.
    fresh = client.call("POST", url, json={}).json()["cursor"]
    assert client.call("POST", url, json={"cursor": fresh}).status_code == 200


def test_cursor_lifetime_validation(emu):
    for bad in (-1, "soon", float("nan")):
        resp = requests.post(f"{emu.url}/_emulator/faults", data=json.dumps({"cursor_lifetime": bad}), timeout=10)
        assert resp.status_code == 400, bad
    assert emu.admin.faults()["cursor_lifetime"] == 0.0


def test_cursor_lifetime_is_a_harness_keyword():
    assert KaizalaEmulator(cursor_lifetime=90).config.cursor_lifetime == 90.0


def test_literal_segments_match_in_any_case_ids_verbatim(public):
    """The service matches path words in any case; a group id is an id and stays case-sensitive."""
    client, gid = public
    resp = client.call("POST", f"/GROUPS/{gid}/Subscribers", json={"count": 2})
    assert resp.status_code == 200, resp.text
    assert len(resp.json()["subscribers"]) == 2
    assert_error(client.call("POST", f"/groups/{gid.upper()}/subscribers", json={}), 404, "NotFound")
    assert_error(client.call("GET", f"/groups/{gid}/subscribers"), 404, "NotFound")


def test_a_bad_value_is_a_400_naming_its_field(public):
    client, gid = public
    body = assert_error(
        client.call("PUT", f"/groups/{gid}/subscribers/add", json={"subscribers": [NEW[0], 5]}),
        400,
        "InvalidParameters",
    )
    assert "subscribers[1]" in body["message"]
    body = assert_error(client.call("POST", f"/groups/{gid}/subscribers", json={"COUNT": 0}), 400, "InvalidParameters")
    assert "count" in body["message"]
    body = assert_error(
        client.call("POST", f"/groups/{gid}/subscribers", data="[1]", headers={"Content-Type": "application/json"}),
        400,
        "InvalidParameters",
    )
    assert body["message"] == "Request body must be a JSON object"
    body = assert_error(
        client.call("POST", f"/groups/{gid}/subscribers", data="{", headers={"Content-Type": "application/json"}),
        400,
        "InvalidParameters",
    )
    assert body["message"] == "Request body is not valid JSON"


def test_the_checks_run_in_their_fixed_order(emu, public):
    """404 (no such route), then 401 (token), 403 (permission), 415 (Content-Type), then the handler."""
    client, gid = public
    assert_error(client.call("POST", f"/groups/{gid}/subscribers/nope", token=""), 404, "NotFound")
    assert_error(client.call("POST", "/groups/missing@1/subscribers", token=""), 401, "InvalidToken")
    reader = make_client(emu, phone=OTHER, permissions=["groupinfo.read"])
    assert_error(reader.call("POST", "/groups/missing@1/subscribers", data="x"), 403, "Forbidden")
    resp = client.call("POST", "/groups/missing@1/subscribers", data="{}", headers={"Content-Type": "text/plain"})
    assert_error(resp, 415, "UnsupportedMediaType")
    assert_error(client.call("POST", "/groups/missing@1/subscribers", json={}), 404, "NotFound")


def test_the_group_is_checked_before_the_body(emu, public):
    """An unknown group is a 404 and a group the caller may not change a 403, whatever the body."""
    client, _ = public
    assert_error(client.call("POST", "/groups/missing@1/subscribers", json={"count": 0}), 404, "NotFound")
    assert_error(client.call("PUT", "/groups/missing@1/subscribers/add", json={}), 404, "NotFound")
    member = make_client(emu, phone=OTHER)
    pub = emu.admin.create_group(name="P", groupType="ConnectGroup", admins=[ADMIN], members=[OTHER])
    assert_error(member.call("PUT", f"/groups/{pub}/subscribers/add", json={"subscribers": 1}), 403, "Forbidden")


def test_every_route_declares_its_answer_and_errors(public):
    client, gid = public
    page = f"/groups/{gid}/subscribers"
    pages = [client.call("POST", page, json={})]
    while "cursor" in pages[-1].json():  # the last page has no cursor
        pages.append(client.call("POST", page, json={"cursor": pages[-1].json()["cursor"]}))
    add = ("PUT", f"/groups/{gid}/subscribers/add", {"subscribers": [NEW[0], NEW[0], "+1"]})
    remove = ("PUT", f"/groups/{gid}/subscribers/remove", {"subscribers": [NEW[0], NEW[1], "+1"]})
    answers = [("POST", page, pages[0]), ("POST", page, pages[-1])]
    answers += [(method, path, client.call(method, path, json=body)) for method, path, body in (add, remove)]
    for method, path, resp in answers:
        assert resp.status_code == 200, (method, path, resp.text)
        route = served_by(client.em, method, f"/v1{path}")
        route.response_model.model_validate_json(resp.content, strict=True)
        assert set(route.responses) == {400, 403, 404}, (method, path)
