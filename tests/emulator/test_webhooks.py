"""Webhooks W1-W4 (§5.9) and event delivery (§7): handshake, envelope, duplicates, retries, disable, re-enable."""

from __future__ import annotations

import time

import pytest
import requests

from tests.emulator.conftest import ADMIN, OTHER, THIRD, Receiver, assert_error, make_client


@pytest.fixture
def setup(emu):
    client = make_client(emu)
    gid = emu.admin.create_group(name="G", admins=[ADMIN], members=[OTHER])
    return client, gid


def register(client, object_id, url, events, object_type="Group", **extra):
    body = {"objectId": object_id, "objectType": object_type, "eventTypes": events, "callBackUrl": url, **extra}
    return client.call("POST", "/webhook", json=body)


def hook(client, gid, receiver, events, **extra) -> str:
    resp = register(client, gid, receiver.url, events, callBackToken="secret-tok", callBackContext="ctx-1", **extra)
    assert resp.status_code == 200, resp.text
    return str(resp.json()["webhookId"])


def listing(client, object_id, object_type="Group"):
    resp = client.call("GET", "/webhook", params={"objectId": object_id, "objectType": object_type})
    assert resp.status_code == 200, resp.text
    return resp.json()["webhooks"]


def test_register_handshake_and_list_shape(emu, setup, receiver):
    client, gid = setup
    wid = hook(client, gid, receiver, ["textmessagecreated", "MemberAdded"])
    assert len(receiver.validations) == 1
    assert len(receiver.validations[0]) >= 16
    [wh] = listing(client, gid)
    assert wh["id"] == wid
    assert wh["objectId"] == gid
    assert wh["objectType"] == "Group"
    assert wh["events"] == ["TextMessageCreated", "MemberAdded"]
    assert wh["callbackUrl"] == receiver.url
    assert wh["callbackToken"] == "secret-tok"
    assert wh["active"] is True
    assert wh["filters"] == []
    assert abs(wh["validity"] - wh["ts"] - 2 * 365 * 86_400_000) < 1000
    assert abs(wh["ts"] / 1000 - time.time()) < 10
    assert listing(client, gid, "actionpackage") == []


def test_handshake_rejections(emu, setup, receiver):
    client, gid = setup
    receiver.validation = "wrong"
    err = assert_error(register(client, gid, receiver.url, ["TextMessageCreated"]), 400, "InvalidParameters")
    assert "validationToken" in err["message"]
    receiver.validation = "error"
    err = assert_error(register(client, gid, receiver.url, ["TextMessageCreated"]), 400, "InvalidParameters")
    assert "HTTP 500" in err["message"]
    receiver.validation = "slow"
    emu.admin.faults(webhook_validation_timeout=0.3)
    t0 = time.monotonic()
    err = assert_error(register(client, gid, receiver.url, ["TextMessageCreated"]), 400, "InvalidParameters")
    assert "within 0.3 s" in err["message"]
    assert time.monotonic() - t0 < 0.9
    err = assert_error(register(client, gid, "http://127.0.0.1:9/x", ["TextMessageCreated"]), 400, "InvalidParameters")
    assert "reached" in err["message"]
    err = assert_error(register(client, gid, "http://example.com/x", ["TextMessageCreated"]), 400, "InvalidParameters")
    assert "https" in err["message"]
    assert emu.admin.webhooks() == []


def test_register_validation_and_permissions(emu, setup, receiver):
    client, gid = setup
    for events in ([], ["Nope"], "TextMessageCreated"):
        assert_error(register(client, gid, receiver.url, events), 400, "InvalidParameters")
    assert_error(register(client, gid, receiver.url, ["MemberAdded"], "Tenant"), 400, "InvalidParameters")
    assert_error(register(client, "missing@1", receiver.url, ["MemberAdded"]), 404, "NotFound")
    assert_error(register(client, "nope", receiver.url, ["ActionResponse"], "Action"), 404, "NotFound")
    assert_error(register(client, gid, receiver.url, ["MemberAdded"], validity=1000), 400, "InvalidParameters")
    hidden = emu.admin.create_group(name="H", admins=[OTHER])
    assert_error(register(client, hidden, receiver.url, ["MemberAdded"]), 403, "Forbidden")
    limited = make_client(emu, permissions=["webhook.read"])
    assert_error(register(limited, gid, receiver.url, ["MemberAdded"]), 403, "Forbidden")
    assert_error(client.call("GET", "/webhook", params={"objectId": gid}), 400, "InvalidParameters")
    assert receiver.validations == []  # nothing was called for invalid requests
    # ActionPackage webhooks need no existing object; any spelling of the request names works
    resp = client.call(
        "POST",
        "/webhook",
        json={
            "objectid": "com.x.pkg",
            "OBJECTTYPE": "actionpackage",
            "events": ["ActionResponse"],
            "callbackUrl": receiver.url,
        },
    )
    assert resp.status_code == 200, resp.text
    assert listing(client, "com.x.pkg", "ActionPackage")[0]["events"] == ["ActionResponse"]


def test_delivery_envelope_and_header(emu, setup, receiver):
    client, gid = setup
    wid = hook(client, gid, receiver, ["TextMessageCreated"])
    resp = client.call("POST", f"/groups/{gid}/messages", json={"message": "hello"})
    assert resp.status_code == 200
    [body] = receiver.wait(1)
    headers = receiver.posts[0][0]
    assert headers["kz-callback-token"] == "secret-tok"
    assert headers["content-type"].startswith("application/json")
    assert body["objectId"] == gid
    assert body["objectType"] == "Group"
    assert body["eventType"] == "TextMessageCreated"
    assert body["data"] == {"text": "hello"}
    assert body["context"] == "ctx-1"
    assert body["subscriptionId"] == wid
    assert body["fromUser"] == ADMIN
    assert body["fromUserId"]
    assert body["fromUserName"]
    assert "fromUserProfilePic" in body
    [attempt] = emu.admin.wait_deliveries(1)
    assert attempt["webhookId"] == wid
    assert attempt["eventId"] == body["eventId"]
    assert (attempt["status"], attempt["attempt"], attempt["duplicate"]) == (200, 1, False)


def test_event_kinds(emu, setup, receiver):
    client, gid = setup
    events = [
        "MemberAdded",
        "MemberRemoved",
        "GroupAdded",
        "GroupRemoved",
        "JobCreated",
        "SurveyCreated",
        "SurveyResponse",
        "JobResponse",
        "PollCreated",
        "LetsMeetCreated",
        "AttachmentCreated",
        "Announcement",
        "ActionCreated",
    ]
    hook(client, gid, receiver, events)
    # members via API and churn
    client.call("PUT", f"/groups/{gid}/members", json={"members": [THIRD]})
    member_id = next(m["id"] for m in emu.admin.members(gid) if m["mobileNumber"] == THIRD)
    client.call("DELETE", f"/groups/{gid}/members/{member_id}")
    emu.admin.churn(gid, "members", add=2, remove=0, seed=1)
    # sub-groups
    sub = emu.admin.create_group(name="S", admins=[ADMIN])
    assert client.call("PUT", f"/groups/{gid}/subGroups", json={"subGroups": [sub]}).status_code == 200
    assert client.call("DELETE", f"/groups/{gid}/subGroups/{sub}").status_code == 200
    # actions and responses
    post = lambda body: client.call("POST", f"/groups/{gid}/actions", json=body).json().get("actionId")  # noqa: E731
    post({"actionType": "Job", "actionBody": {"title": "J", "assignedTo": [OTHER], "dueDate": 1}})
    survey = post({"actionType": "Survey", "actionBody": {"title": "S", "questions": [{"title": "q", "type": "Text"}]}})
    client.call(
        "POST",
        f"/groups/{gid}/actions/{survey}/responses",
        json={"actionType": "Survey", "actionBody": {"answers": ["a"]}},
    )
    post({"actionType": "Poll", "actionBody": {"question": "P", "choices": [{"title": "y"}]}})
    post({"actionType": "LetsMeet", "actionBody": {"title": "L", "startingTime": "2030-01-01T00:00:00Z"}})
    post({"id": "com.pkg.x", "actionBody": {"title": "C"}})
    media = client.call("POST", "/media", files={"files": ("a.png", b"\x89PNG", "image/png")}).json()["mediaResource"]
    post({"actionType": "Image", "actionBody": {"mediaResource": media, "caption": "cap"}})
    post({"actionType": "Announcement", "actionBody": {"title": "T", "message": "M", "mediaResources": [media]}})
    got = receiver.wait(14)
    kinds = [b["eventType"] for b in got]
    assert sorted(kinds) == sorted(
        ["MemberAdded", "MemberRemoved", "MemberAdded", "MemberAdded", "GroupAdded", "GroupRemoved", "JobCreated",
         "SurveyCreated", "SurveyResponse", "PollCreated", "LetsMeetCreated", "ActionCreated", "AttachmentCreated",
         "Announcement"]
    )  # fmt: skip
    by = {b["eventType"]: b["data"] for b in got}
    assert by["MemberRemoved"]["member"] == THIRD
    assert by["MemberRemoved"]["type"] == "Member"
    assert set(by["MemberAdded"]) >= {"member", "memberName", "memberProfilePic", "type", "memberId"}
    assert by["GroupAdded"]["groupId"] == sub
    assert by["GroupRemoved"]["groupId"] == sub
    job = by["JobCreated"]
    assert set(job) >= {"actionId", "groupId", "title", "dueDate", "assignedTo"}
    assert job["dueDate"].endswith("Z")
    assert by["SurveyCreated"]["questions"][0]["title"] == "q"
    resp = by["SurveyResponse"]
    assert resp["actionId"] == survey
    assert resp["isUpdateResponse"] is False
    assert resp["responder"] == ADMIN
    assert resp["responseDetails"]["responseWithQuestions"][0]["answer"] == "a"
    assert by["ActionCreated"]["actionPackageId"] == "com.pkg.x"
    att = by["AttachmentCreated"]
    assert att["actionType"] == "Image"
    assert att["caption"] == "cap"
    assert set(att["media"][0]) == {"mediaUrl", "mediaFileName"}
    ann = by["Announcement"]
    assert (ann["title"], ann["text"]) == ("T", "M")
    assert set(ann["media"][0]) == {"url", "fileName"}
    assert len({b["eventId"] for b in got}) == len(got)
    # not subscribed: TextMessageCreated; other groups: nothing
    client.call("POST", f"/groups/{gid}/messages", json={"message": "x"})
    client.call("POST", f"/groups/{sub}/messages", json={"message": "x"})
    time.sleep(0.2)
    assert len(receiver.bodies()) == 14


def test_action_and_package_webhooks(emu, setup, receiver):
    client, gid = setup
    survey = client.call(
        "POST", f"/groups/{gid}/actions",
        json={"id": "pkg.s", "actionBody": {"questions": [{"title": "q", "type": "Numeric"}]}},
    ).json()["actionId"]  # fmt: skip
    hook(client, survey, receiver, ["ActionResponse"], objectType="Action")
    resp = register(client, "pkg.s", receiver.url, ["ActionResponse", "ActionCreated"], "ActionPackage")
    assert resp.status_code == 200
    url = f"/groups/{gid}/actions/{survey}/responses"
    rid = client.call("POST", url, json={"id": "pkg.s", "actionBody": {"answers": [1]}}).json()["responseId"]
    client.call("POST", url, json={"id": "pkg.s", "responseId": rid, "actionBody": {"answers": [2]}})
    got = receiver.wait(4)
    assert [b["objectType"] for b in got].count("Action") == 2
    assert [b["objectType"] for b in got].count("ActionPackage") == 2
    updates = [b["data"]["isUpdateResponse"] for b in got if b["objectType"] == "Action"]
    assert sorted(updates) == [False, True]
    # one event to two webhooks keeps one eventId
    assert len({b["eventId"] for b in got}) == 2


def test_duplicates_keep_the_event_id(emu, setup, receiver):
    client, gid = setup
    emu.admin.faults(webhook_duplicate_rate=1.0)
    hook(client, gid, receiver, ["TextMessageCreated"])
    for i in range(3):
        client.call("POST", f"/groups/{gid}/messages", json={"message": f"m{i}"})
    got = receiver.wait(6)
    assert len(got) == 6
    ids = [b["eventId"] for b in got]
    assert all(ids.count(e) == 2 for e in ids)
    deliveries = emu.admin.wait_deliveries(6)
    assert sum(d["duplicate"] for d in deliveries) == 3


def test_retry_then_success(emu, setup, receiver):
    client, gid = setup
    emu.admin.faults(webhook_retry_base=0.02)
    wid = hook(client, gid, receiver, ["TextMessageCreated"])
    receiver.statuses = [500, 302]
    client.call("POST", f"/groups/{gid}/messages", json={"message": "m"})
    got = receiver.wait(3)
    assert len({b["eventId"] for b in got}) == 1
    assert len(got) == 3
    attempts = emu.admin.wait_deliveries(3, webhook_id=wid)
    assert [(d["attempt"], d["status"]) for d in attempts] == [(1, 500), (2, 302), (3, 200)]
    assert listing(client, gid)[0]["active"] is True


def test_retries_exhausted_disable_then_put_reactivates(emu, setup, receiver):
    client, gid = setup
    emu.admin.faults(webhook_retry_base=0.01)
    wid = hook(client, gid, receiver, ["TextMessageCreated"])
    receiver.fail_all = True
    client.call("POST", f"/groups/{gid}/messages", json={"message": "lost"})
    attempts = emu.admin.wait_deliveries(7, webhook_id=wid)
    assert [d["attempt"] for d in attempts] == list(range(1, 8))  # first try + 6 retries
    assert all(d["status"] == 500 for d in attempts)
    assert attempts[-1]["disabled"] is True
    assert listing(client, gid)[0]["active"] is False
    # disabled: nothing is delivered
    client.call("POST", f"/groups/{gid}/messages", json={"message": "ignored"})
    time.sleep(0.15)
    assert len(receiver.bodies()) == 7
    receiver.fail_all = False
    resp = client.call("PUT", f"/webhook/{wid}", json={"Active": "true"})
    assert resp.status_code == 200
    assert resp.json() == {"result": True}
    assert listing(client, gid)[0]["active"] is True
    client.call("POST", f"/groups/{gid}/messages", json={"message": "back"})
    assert receiver.wait(8)[-1]["data"] == {"text": "back"}


def test_unreachable_callback_is_retried(emu, setup, receiver):
    client, gid = setup
    emu.admin.faults(webhook_retry_base=0.01, webhook_retries=2)
    wid = hook(client, gid, receiver, ["TextMessageCreated"])
    receiver.close()
    client.call("POST", f"/groups/{gid}/messages", json={"message": "m"})
    attempts = emu.admin.wait_deliveries(3, webhook_id=wid)
    assert [d["status"] for d in attempts] == [None, None, None]
    assert all(d["error"] for d in attempts)
    assert attempts[-1]["disabled"] is True


def test_update_and_delete(emu, setup, receiver):
    client, gid = setup
    wid = hook(client, gid, receiver, ["TextMessageCreated"])
    other = Receiver()
    try:
        resp = client.call("PUT", f"/webhook/{wid}", json={"eventTypes": ["MemberAdded"], "callBackContext": "c2"})
        assert resp.status_code == 200
        [wh] = listing(client, gid)
        assert wh["events"] == ["MemberAdded"]
        assert wh["callbackUrl"] == receiver.url
        assert len(receiver.validations) == 1  # no re-validation without a URL change
        other.validation = "wrong"
        assert_error(client.call("PUT", f"/webhook/{wid}", json={"callBackUrl": other.url}), 400, "InvalidParameters")
        assert listing(client, gid)[0]["callbackUrl"] == receiver.url
        other.validation = "echo"
        assert client.call("PUT", f"/webhook/{wid}", json={"callbackUrl": other.url}).status_code == 200
        assert len(other.validations) == 2
        client.call("PUT", f"/groups/{gid}/members", json={"members": [THIRD]})
        [body] = other.wait(1)
        assert body["context"] == "c2"
        assert body["eventType"] == "MemberAdded"
        assert client.call("PUT", f"/webhook/{wid}", json={"active": False}).status_code == 200
        assert listing(client, gid)[0]["active"] is False
        assert_error(client.call("PUT", f"/webhook/{wid}", json={"eventTypes": ["Bad"]}), 400, "InvalidParameters")
        assert_error(client.call("PUT", "/webhook/nope", json={"active": True}), 404, "NotFound")
        foreign = make_client(emu, tenantId="another-tenant")
        assert_error(foreign.call("DELETE", f"/webhook/{wid}"), 404, "NotFound")
        resp = client.call("DELETE", f"/webhook/{wid}")
        assert resp.status_code == 200
        assert resp.json() == {"result": True}
        assert listing(client, gid) == []
        assert_error(client.call("DELETE", f"/webhook/{wid}"), 404, "NotFound")
    finally:
        other.close()


def test_synthetic_events_and_admin_views(emu, setup, receiver):
    client, gid = setup
    wid = hook(client, gid, receiver, ["JobResponse", "TextMessageCreated"])
    out = emu.admin.emit_event(gid, "jobresponse", {"actionId": "a1"}, from_user=OTHER)
    assert out["webhooks"] == 1
    out2 = emu.admin.emit_event(gid, "TextMessageCreated")
    assert emu.admin.emit_event(gid, "MemberAdded")["webhooks"] == 0
    got = receiver.wait(2)
    by = {b["eventId"]: b for b in got}
    assert by[out["eventId"]]["data"] == {"actionId": "a1"}
    assert by[out["eventId"]]["fromUser"] == OTHER
    assert by[out2["eventId"]]["data"] == {"text": "Synthetic event"}
    [wh] = emu.admin.webhooks()
    assert wh["id"] == wid
    assert wh["tenantId"] == client.app["tenantId"]
    # the attempt is logged once the callback has answered: wait for it rather than race it
    assert len(emu.admin.wait_deliveries(1, event_id=out["eventId"])) == 1
    emu.admin.clear_deliveries()
    assert emu.admin.deliveries() == []
    emu.admin.reset()
    assert emu.admin.webhooks() == []


def test_webhook_calls_are_logged_and_faultable(emu, setup, receiver):
    client, gid = setup
    emu.admin.faults(error_rate=1.0, fault_paths="^/v1/webhook")
    resp = register(client, gid, receiver.url, ["TextMessageCreated"])
    assert resp.status_code >= 500
    assert receiver.validations == []
    call = emu.admin.calls()[-1]
    assert (call["path"], call["fault"]) == ("/v1/webhook", "error")


# -- request rules (the FastAPI models): every invalid field is a 400 naming it, before any handshake -----------
GOOD_EVENTS = ["MemberAdded"]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"objectId": "  "}, "objectId"),
        ({"objectId": 5}, "objectId"),
        ({"objectId": None}, "objectId"),
        ({"objectType": "Tenant"}, "objectType"),
        ({"objectType": None}, "objectType"),
        ({"eventTypes": []}, "eventTypes"),
        ({"eventTypes": ["Nope"]}, "eventTypes[0]"),
        ({"eventTypes": "MemberAdded"}, "eventTypes"),
        ({"eventTypes": None}, "eventTypes"),
        ({"callBackUrl": " "}, "callBackUrl"),
        ({"callBackUrl": "ftp://127.0.0.1/x"}, "callBackUrl"),
        ({"callBackUrl": "https://[::1"}, "callBackUrl"),
        ({"callBackUrl": "http://example.com/x"}, "callBackUrl"),
        ({"callBackUrl": 5}, "callBackUrl"),
        ({"callBackToken": 5}, "callBackToken"),
        ({"callBackContext": ["c"]}, "callBackContext"),
        ({"validity": True}, "validity"),
        ({"validity": 2.5}, "validity"),
        ({"validity": 1000}, "validity"),
        ({"validity": -1}, "validity"),
    ],
)
def test_register_rejects_each_invalid_field(emu, setup, receiver, change, field):
    client, gid = setup
    body = {
        "objectId": gid,
        "objectType": "Group",
        "eventTypes": GOOD_EVENTS,
        "callBackUrl": receiver.url,
        "callBackToken": "tok-not-for-messages",
        **change,
    }
    err = assert_error(client.call("POST", "/webhook", json=body), 400, "InvalidParameters")
    assert err["message"].startswith(f"Parameter {field}"), err
    assert "tok-not-for-messages" not in err["message"]
    assert receiver.validations == []
    assert emu.admin.webhooks() == []


def test_register_events_alias_and_spellings(emu, setup, receiver):
    client, gid = setup
    # `events` is an alias of eventTypes; eventTypes wins when both come; a null eventTypes counts as absent
    both = {"eventTypes": ["MemberAdded"], "events": ["TextMessageCreated"]}
    resp = client.call(
        "POST", "/webhook", json={"objectId": gid, "objectType": "Group", "callBackUrl": receiver.url, **both}
    )
    assert resp.status_code == 200, resp.text
    resp = client.call(
        "POST",
        "/webhook",
        json={"objectId": gid, "objectType": "GROUP", "EventTypes": None, "EVENTS": ["memberremoved"],
              "callBackUrl": receiver.url, "validity": str(int(time.time() * 1000) + 60_000)},
    )  # fmt: skip
    assert resp.status_code == 200, resp.text
    # duplicates in any case are one subscription
    register(client, gid, receiver.url, ["memberadded", "MemberAdded", "MEMBERADDED"])
    assert [wh["events"] for wh in listing(client, gid)] == [["MemberAdded"], ["MemberRemoved"], ["MemberAdded"]]
    # the query names and the objectType value of W2 match in any case
    resp = client.call("GET", "/webhook", params={"OBJECTID": gid, "objecttype": "group"})
    assert len(resp.json()["webhooks"]) == 3


def test_register_body_rules_come_before_object_checks(emu, setup, receiver):
    client, _ = setup
    hidden = emu.admin.create_group(name="H", admins=[OTHER])
    # a valid body on an object the caller cannot see: 404/403, and no handshake
    assert_error(register(client, hidden, receiver.url, GOOD_EVENTS), 403, "Forbidden")
    assert_error(register(client, "missing@1", receiver.url, GOOD_EVENTS), 404, "NotFound")
    # an invalid body is a 400 whatever the object
    assert_error(register(client, "missing@1", receiver.url, ["Bad"]), 400, "InvalidParameters")
    for body in (None, [1], "x"):
        assert_error(client.call("POST", "/webhook", json=body), 400, "InvalidParameters")
    assert receiver.validations == []


def test_list_needs_both_query_parameters(emu, setup):
    client, gid = setup
    for params, field in (
        ({"objectId": gid}, "objectType"),
        ({"objectType": "Group"}, "objectId"),
        ({"objectId": gid, "objectType": "Tenant"}, "objectType"),
        ({"objectId": " ", "objectType": "Group"}, "objectId"),
    ):
        err = assert_error(client.call("GET", "/webhook", params=params), 400, "InvalidParameters")
        assert err["message"].startswith(f"Parameter {field}"), err
    assert_error(
        client.call("GET", "/webhook", params={"objectId": "missing@1", "objectType": "Group"}), 404, "NotFound"
    )


def test_update_rules(emu, setup, receiver):
    client, gid = setup
    wid = hook(client, gid, receiver, ["TextMessageCreated"])
    # the webhook is looked up before the body is validated
    assert_error(client.call("PUT", "/webhook/nope", json={"active": "maybe"}), 404, "NotFound")
    for body, field in (
        ({"active": "maybe"}, "active"),
        ({"validity": 1000}, "validity"),
        ({"events": []}, "eventTypes"),
        ({"callBackUrl": "http://example.com/x"}, "callBackUrl"),
        ({"objectType": "Tenant"}, "objectType"),
    ):
        err = assert_error(client.call("PUT", f"/webhook/{wid}", json=body), 400, "InvalidParameters")
        assert err["message"].startswith(f"Parameter {field}"), err
    assert_error(client.call("PUT", f"/webhook/{wid}", json={"objectId": "missing@1"}), 404, "NotFound")
    [before] = listing(client, gid)
    # no body, or only nulls: nothing changes
    assert client.call("PUT", f"/webhook/{wid}").json() == {"result": True}
    assert client.call("PUT", f"/webhook/{wid}", json={"active": None, "eventTypes": None}).status_code == 200
    assert listing(client, gid) == [before]
    # objectType alone keeps the objectId; an ActionPackage needs no object
    resp = client.call("PUT", f"/WEBHOOK/{wid}", json={"OBJECTTYPE": "actionpackage", "Events": ["actionresponse"]})
    assert resp.status_code == 200, resp.text
    [moved] = listing(client, gid, "ActionPackage")
    assert (moved["objectId"], moved["events"], moved["active"]) == (gid, ["ActionResponse"], True)
    assert listing(client, gid) == []
    assert len(receiver.validations) == 1


def test_admin_event_and_delivery_rules(emu, setup, receiver):
    client, gid = setup
    base = f"{emu.url}/_emulator"
    wid = hook(client, gid, receiver, ["MemberAdded"])
    for body, status in (
        ({"groupId": gid, "eventType": "Nope"}, 400),
        ({"groupId": gid, "eventType": "MemberAdded", "fromUser": "+1"}, 400),
        ({"groupId": gid, "eventType": "MemberAdded", "data": [1]}, 400),
        ({"eventType": "MemberAdded"}, 400),
        ({"groupId": "missing@1", "eventType": "MemberAdded"}, 404),
    ):
        assert requests.post(f"{base}/events", json=body, timeout=10).status_code == status, body
    out = requests.post(
        f"{base}/events", json={"GROUPID": gid, "eventtype": "memberadded", "FromUser": OTHER}, timeout=10
    ).json()
    assert out["webhooks"] == 1
    [body] = receiver.wait(1)
    assert (body["eventId"], body["fromUser"], body["data"]["member"]) == (out["eventId"], OTHER, OTHER)
    [attempt] = emu.admin.wait_deliveries(1)
    # query names in any case; `since` is a sequence number
    got = requests.get(f"{base}/webhooks/deliveries", params={"WEBHOOKID": wid, "Since": "-1"}, timeout=10).json()
    assert got["deliveries"] == [attempt]
    assert emu.admin.deliveries(since=attempt["seq"]) == []
    assert emu.admin.deliveries(event_id="other") == []
    resp = requests.get(f"{base}/webhooks/deliveries", params={"since": "x"}, timeout=10)
    assert_error(resp, 400, "InvalidParameters")


def test_generated_description_of_the_webhook_routes():
    from airflow_provider_kaizala.emulator.app import EmulatorApp

    doc = EmulatorApp().api.openapi_document("http://127.0.0.1:1")
    schemas = doc["components"]["schemas"]
    assert schemas["WebhookRegistration"]["required"] == ["objectId", "objectType", "eventTypes", "callBackUrl"]
    assert "required" not in schemas["WebhookChange"]
    listed = schemas["Webhook"]
    assert set(listed["required"]) == set(listed["properties"])
    ops = {(m, p): op for p, item in doc["paths"].items() for m, op in item.items() if "webhook" in p}
    assert set(ops) == {
        ("post", "/v1/webhook"),
        ("get", "/v1/webhook"),
        ("put", "/v1/webhook/{webhookId}"),
        ("delete", "/v1/webhook/{webhookId}"),
    }
    permissions = {key: op["x-kaizala-permission"] for key, op in ops.items()}
    assert permissions == {
        ("post", "/v1/webhook"): "webhook.write",
        ("get", "/v1/webhook"): "webhook.read",
        ("put", "/v1/webhook/{webhookId}"): "webhook.update",
        ("delete", "/v1/webhook/{webhookId}"): "webhook.remove",
    }
    assert {"400", "403", "404"} <= set(ops["post", "/v1/webhook"]["responses"])
    assert not any(p.startswith("/_emulator") for p in doc["paths"])
