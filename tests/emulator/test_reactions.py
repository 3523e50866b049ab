"""Reactions R1-R4, §5.8: likes and comments, per-reference and per-group summaries, ticks cursors, paging."""

from __future__ import annotations

import time

import pytest

from airflow_provider_kaizala.emulator.services import RouteRules, route_rules
from tests.emulator.conftest import ADMIN, OTHER, assert_error, make_client, ok, served_by

TICKS_AT_EPOCH = 621_355_968_000_000_000


@pytest.fixture
def setup(emu):
    client = make_client(emu)
    gid = emu.admin.create_group(name="G", admins=[ADMIN], members=[OTHER])
    return client, gid


def message(client, gid, text="m"):
    resp = client.call("POST", f"/groups/{gid}/messages", json={"message": text})
    assert resp.status_code == 200, resp.text
    return resp.json()["referenceId"]


def react(client, gid, ref, kind="Like", **extra):
    return client.call("POST", f"/groups/{gid}/reaction", json={"referenceId": ref, "reactionType": kind, **extra})


def test_like_comment_and_reference_summary(emu, setup):
    client, gid = setup
    ref = message(client, gid)
    other = make_client(emu, phone=OTHER)
    like = ok(react(client, gid, ref))["reactionId"]
    assert ok(react(client, gid, ref, "like"))["reactionId"] == like  # one like per user
    ok(react(other, gid, ref, "LIKE"))
    ok(react(client, gid, ref, "Comment", comment="nice"))
    ok(react(client, gid, ref, "Comment", comment="again"))
    summary = ok(client.call("GET", f"/groups/{gid}/reaction/{ref}/summary"))
    assert summary == {"summary": [{"referenceId": ref, "reactionsCountMap": {"like": 2, "comment": 2}}]}
    action = ok(
        client.call(
            "POST",
            f"/groups/{gid}/actions",
            json={"actionType": "Poll", "actionBody": {"question": "q", "choices": [{"title": "a"}]}},
        )
    )
    ok(react(client, gid, action["referenceId"]))
    ok(react(client, gid, action["actionId"], "Comment", comment="by action id"))
    summary = ok(client.call("GET", f"/groups/{gid}/reaction/{action['referenceId']}/summary"))
    assert summary["summary"][0]["reactionsCountMap"] == {"like": 1, "comment": 1}


def test_reaction_errors(emu, setup):
    client, gid = setup
    ref = message(client, gid)
    assert_error(react(client, gid, ref, "Love"), 400, "InvalidParameters")
    assert_error(react(client, gid, ref, "Comment"), 400, "InvalidParameters")
    assert_error(react(client, gid, ref, "Comment", comment="x" * 4001), 400, "InvalidParameters")
    assert_error(react(client, gid, "no-such-ref"), 404, "NotFound")
    assert_error(
        client.call("POST", f"/groups/{gid}/reaction", json={"reactionType": "Like"}), 400, "InvalidParameters"
    )
    assert_error(client.call("GET", f"/groups/{gid}/reaction/nope/summary"), 404, "NotFound")
    assert_error(
        client.call("GET", f"/groups/{gid}/reaction/summary", params={"cursor": "abc"}), 400, "InvalidParameters"
    )
    assert_error(
        client.call("GET", f"/groups/{gid}/reaction/{ref}", params={"reactionType": "x"}), 400, "InvalidParameters"
    )
    limited = make_client(emu, permissions=["action.read"])  # reactions follow the action scopes
    assert_error(react(limited, gid, ref), 403, "Forbidden")
    assert ok(limited.call("GET", f"/groups/{gid}/reaction/{ref}/summary"))


def test_source_group_for_sub_groups(emu, setup):
    client, gid = setup
    sub = emu.admin.create_group(name="S", admins=[ADMIN], parentId=gid)
    unrelated = emu.admin.create_group(name="U", admins=[ADMIN])
    ref = message(client, sub)
    assert_error(react(client, gid, ref), 404, "NotFound")  # not posted in the path group
    ok(react(client, gid, ref, sourceGroupId=sub))
    assert_error(react(client, unrelated, ref, sourceGroupId=sub), 400, "InvalidParameters")
    summary = ok(client.call("GET", f"/groups/{gid}/reaction/{ref}/summary", params={"sourceGroupId": sub}))
    assert summary["summary"][0]["reactionsCountMap"]["like"] == 1
    page = ok(client.call("GET", f"/groups/{gid}/reaction/summary", params={"sourceGroupId": sub}))
    assert [s["referenceId"] for s in page["summary"]] == [ref]
    assert ok(client.call("GET", f"/groups/{gid}/reaction/summary"))["summary"] == []


def test_group_summary_paging_by_ticks(emu, setup):
    client, gid = setup
    refs = [message(client, gid, f"m{i}") for i in range(45)]
    t0 = time.time()
    for ref in refs:
        ok(react(client, gid, ref))
    seen, sizes, cursor = [], [], None
    while True:
        params = {} if cursor is None else {"cursor": cursor}
        page = ok(client.call("GET", f"/groups/{gid}/reaction/summary", params=params))
        assert isinstance(page["cursor"], int)
        if not page["summary"]:
            assert page["cursor"] == cursor  # end: empty list, same cursor
            break
        sizes.append(len(page["summary"]))
        seen += [s["referenceId"] for s in page["summary"]]
        cursor = page["cursor"]
    assert seen == refs
    assert sizes == [20, 20, 5]
    assert abs((cursor - TICKS_AT_EPOCH) / 1e7 - t0) < 30  # .NET ticks of about now
    # a new reaction moves its reference past the cursor
    ok(react(client, gid, refs[0], "Comment", comment="later"))
    page = ok(client.call("GET", f"/groups/{gid}/reaction/summary", params={"cursor": cursor}))
    assert page["summary"] == [{"referenceId": refs[0], "reactionsCountMap": {"like": 1, "comment": 1}}]


def test_details_paging(emu, setup):
    client, gid = setup
    emu.admin.faults(extensions=True)  # the comment text is an extension ("not in the documented item")
    ref = message(client, gid)
    for i in range(25):
        ok(react(client, gid, ref, "Comment", comment=f"c{i}"))
    ok(react(client, gid, ref))
    comments, cursor = [], 0
    while True:
        page = ok(
            client.call("GET", f"/groups/{gid}/reaction/{ref}", params={"reactionType": "Comment", "cursor": cursor})
        )
        if not page["reactionDetails"]:
            assert page["cursor"] == cursor
            break
        comments += page["reactionDetails"]
        cursor = page["cursor"]
    assert [c["comment"] for c in comments] == [f"c{i}" for i in range(25)]
    item = comments[0]
    assert set(item) >= {"reactionId", "userId", "lastModifiedTime"}
    assert abs(item["lastModifiedTime"] / 1000 - time.time()) < 30
    likes = ok(client.call("GET", f"/groups/{gid}/reaction/{ref}", params={"reactionType": "like"}))
    assert len(likes["reactionDetails"]) == 1
    assert "comment" not in likes["reactionDetails"][0]
    both = ok(client.call("GET", f"/groups/{gid}/reaction/{ref}"))
    assert len(both["reactionDetails"]) == 20


@pytest.mark.parametrize("extensions", [False, True])
def test_reaction_routes_declare_their_rules_answer_and_errors(emu, setup, extensions):
    client, gid = setup
    emu.admin.faults(extensions=extensions)
    ref = message(client, gid)
    ok(react(client, gid, ref, "Comment", comment="c"))
    calls = [
        ("POST", f"/groups/{gid}/reaction", {"referenceId": ref, "reactionType": "Like"}, "action.write"),
        ("GET", f"/groups/{gid}/reaction/summary", None, "action.read"),
        ("GET", f"/groups/{gid}/reaction/{ref}/summary", None, "action.read"),
        ("GET", f"/groups/{gid}/reaction/{ref}", None, "action.read"),
    ]
    for method, path, body, permission in calls:
        resp = client.call(method, path, json=body)
        assert resp.status_code == 200, (method, path, resp.text)
        route = served_by(emu, method, f"/v1{path}")
        assert route_rules(route.openapi_extra) == RouteRules("resource", permission, "json")
        route.response_model.model_validate_json(resp.content, strict=True)
        assert set(route.responses) == {400, 403, 404}, (method, path)
    assert served_by(emu, "GET", f"/v1/groups/{gid}/reaction/SUMMARY").path.endswith("/reaction/summary")


def test_blank_query_values_count_as_absent(emu, setup):
    client, gid = setup
    ref = message(client, gid)
    ok(react(client, gid, ref))
    ok(react(client, gid, ref, "Comment", comment="c"))
    summary = ok(client.call("GET", f"/groups/{gid}/reaction/summary?cursor=&sourceGroupId="))
    assert [s["referenceId"] for s in summary["summary"]] == [ref]
    details = ok(client.call("GET", f"/groups/{gid}/reaction/{ref}?reactionType=&cursor=&sourceGroupId="))
    assert len(details["reactionDetails"]) == 2


@pytest.mark.parametrize("cursor", ["-1", "+1", "1.0", "1" * 19, "\u00b2", "x", "true"])
def test_cursors_are_non_negative_ticks_of_up_to_18_digits(emu, setup, cursor):
    client, gid = setup
    ref = message(client, gid)
    for path in ("/reaction/summary", f"/reaction/{ref}"):
        body = assert_error(
            client.call("GET", f"/groups/{gid}{path}", params={"CURSOR": cursor}), 400, "InvalidParameters"
        )
        assert "cursor" in body["message"]
    assert ok(client.call("GET", f"/groups/{gid}/reaction/summary", params={"cursor": " 7 "}))["cursor"] == 7


def test_comment_rules(emu, setup):
    client, gid = setup
    ref = message(client, gid)
    for comment in (None, "", "x" * 4001, 5):
        extra = {} if comment is None else {"comment": comment}
        body = assert_error(react(client, gid, ref, "comment", **extra), 400, "InvalidParameters")
        assert "comment" in body["message"]
    ok(react(client, gid, ref, "Comment", comment="x" * 4000))
    # a Like carries no comment: whatever comes with it is ignored, as the emulator always did
    ok(react(client, gid, ref, "Like", comment=5))
    emu.admin.faults(extensions=True)
    items = ok(client.call("GET", f"/groups/{gid}/reaction/{ref}", params={"reactionType": "LIKE"}))["reactionDetails"]
    assert [(i["reactionType"], "comment" in i) for i in items] == [("Like", False)]
