"""Messages MS1, §5.5."""

from __future__ import annotations

import uuid

from tests.emulator.conftest import ADMIN, OTHER, assert_error, make_client, served_by


def test_send_message_recorded(emu):
    client = make_client(emu)
    gid = emu.admin.create_group(name="G", admins=[ADMIN])
    resp = client.call("POST", f"/groups/{gid}/messages", json={"Message": "hello"})
    assert resp.status_code == 200, resp.text
    ref = resp.json()["referenceId"]
    uuid.UUID(ref)
    [msg] = emu.admin.messages(gid)
    assert msg["referenceId"] == ref
    assert msg["message"] == "hello"
    assert msg["sender"] == ADMIN
    assert msg["sendToAllSubscribers"] is False
    assert msg["subscribers"] == []
    assert emu.admin.messages("other@1") == []


def test_message_length(emu):
    client = make_client(emu)
    gid = emu.admin.create_group(name="G", admins=[ADMIN])
    url = f"/groups/{gid}/messages"
    assert client.call("POST", url, json={"message": "x" * 4000}).status_code == 200
    for bad in ("", "x" * 4001, 5, None):
        assert_error(client.call("POST", url, json={"message": bad}), 400, "InvalidParameters")
    assert len(emu.admin.messages(gid)) == 1


def test_subscriber_sends_only_on_public_groups(emu):
    client = make_client(emu)
    gid = emu.admin.create_group(name="G", admins=[ADMIN])
    pub = emu.admin.create_group(name="P", groupType="ConnectGroup", admins=[ADMIN], subscribers=[OTHER])
    assert_error(
        client.call("POST", f"/groups/{gid}/messages", json={"message": "m", "sendToAllSubscribers": True}),
        400,
        "InvalidParameters",
    )
    assert_error(
        client.call("POST", f"/groups/{gid}/messages", json={"message": "m", "subscribers": [OTHER]}),
        400,
        "InvalidParameters",
    )
    resp = client.call("POST", f"/groups/{pub}/messages", json={"message": "m", "sendToAllSubscribers": "true"})
    assert resp.status_code == 200
    resp = client.call("POST", f"/groups/{pub}/messages", json={"message": "n", "subscribers": [OTHER, ADMIN]})
    assert resp.status_code == 200
    assert [f["subscriber"] for f in resp.json()["failedResult"]] == [ADMIN]
    sent = emu.admin.messages(pub)
    assert [(m["message"], m["sendToAllSubscribers"], m["subscribers"]) for m in sent] == [
        ("m", True, []),
        ("n", False, [OTHER, ADMIN]),
    ]
    resp = client.call("POST", f"/groups/{pub}/messages", json={"message": "m", "subscribers": ["+9"]})
    assert resp.status_code == 200
    assert [(f["subscriber"], f["errorCode"]) for f in resp.json()["failedResult"]] == [("+9", "InvalidPhoneNumber")]
    assert_error(
        client.call("POST", f"/groups/{pub}/messages", json={"message": "m", "subscribers": "+9"}),
        400,
        "InvalidParameters",
    )


def test_send_to_all_needs_admin(emu):
    client = make_client(emu)
    pub = emu.admin.create_group(name="P", groupType="ConnectGroup", admins=[OTHER], members=[ADMIN])
    assert client.call("POST", f"/groups/{pub}/messages", json={"message": "m"}).status_code == 200
    assert_error(
        client.call("POST", f"/groups/{pub}/messages", json={"message": "m", "sendToAllSubscribers": True}),
        403,
        "Forbidden",
    )
    assert_error(client.call("POST", "/groups/missing@1/messages", json={"message": "m"}), 404, "NotFound")


def test_the_group_is_checked_before_the_body(emu):
    """An unknown or invisible group is a 404/403 whatever the body; then the body's first bad field is named."""
    client = make_client(emu)
    assert_error(client.call("POST", "/groups/missing@1/messages", json={}), 404, "NotFound")
    hidden = emu.admin.create_group(name="H", admins=[OTHER])
    assert_error(client.call("POST", f"/groups/{hidden}/messages", json={"message": 5}), 403, "Forbidden")
    gid = emu.admin.create_group(name="G", admins=[ADMIN])
    body = assert_error(
        client.call("POST", f"/groups/{gid}/messages", json={"message": "m", "SendToAllSubscribers": "maybe"}),
        400,
        "InvalidParameters",
    )
    assert "sendToAllSubscribers" in body["message"]


def test_the_route_declares_its_answer_and_errors(emu):
    client = make_client(emu)
    pub = emu.admin.create_group(name="P", groupType="ConnectGroup", admins=[ADMIN], subscribers=[OTHER])
    route = served_by(emu, "POST", f"/v1/groups/{pub}/messages")
    assert set(route.responses) == {400, 403, 404}
    for body in ({"message": "m"}, {"message": "m", "subscribers": [OTHER, ADMIN, "+9"]}):
        resp = client.call("POST", f"/groups/{pub}/messages", json=body)
        assert resp.status_code == 200, resp.text
        route.response_model.model_validate_json(resp.content, strict=True)
