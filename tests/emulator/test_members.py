"""Members M1-M4, §5.3."""

from __future__ import annotations

import uuid

from tests.emulator.conftest import ADMIN, OTHER, assert_error, make_client, served_by

THIRD = "+919810000003"


def test_list_members_shape_and_no_subscribers(emu):
    client = make_client(emu)
    gid = emu.admin.create_group(
        name="P", groupType="ConnectGroup", admins=[ADMIN], members=[OTHER], unprovisioned=[OTHER], subscriberCount=10
    )
    body = client.call("GET", f"/groups/{gid}/members").json()
    assert list(body) == ["members"]
    members = {m["mobileNumber"]: m for m in body["members"]}
    assert set(members) == {ADMIN, OTHER}
    assert set(members[OTHER]) == {"id", "role", "mobileNumber", "isProvisioned"}
    assert members[OTHER]["role"] == "Member"
    assert members[OTHER]["isProvisioned"] is False
    assert members[ADMIN]["role"] == "Admin"
    assert members[ADMIN]["isProvisioned"] is True
    uuid.UUID(members[OTHER]["id"])


def test_add_members_idempotent(emu):
    client = make_client(emu)
    gid = emu.admin.create_group(name="G", admins=[ADMIN])
    for _ in range(2):
        resp = client.call("PUT", f"/groups/{gid}/members", json={"members": [OTHER, THIRD]})
        assert resp.json() == {"result": True}
    assert sorted(m["mobileNumber"] for m in emu.admin.members(gid)) == sorted([ADMIN, OTHER, THIRD])
    # "true only if all were added": an invalid number makes the result false, the others are added
    resp = client.call("PUT", f"/groups/{gid}/members", json={"members": [OTHER, "12345"]})
    assert resp.status_code == 200
    assert resp.json() == {"result": False}
    body = assert_error(
        client.call("PUT", f"/groups/{gid}/members", json={"members": [OTHER, 12345]}), 400, "InvalidParameters"
    )
    assert "members" in body["message"]
    assert_error(client.call("PUT", f"/groups/{gid}/members", json={"members": []}), 400, "InvalidParameters")
    assert_error(client.call("PUT", "/groups/missing@1/members", json={"members": [OTHER]}), 404, "NotFound")


def test_remove_member(emu):
    client = make_client(emu)
    gid = emu.admin.create_group(name="G", admins=[ADMIN], members=[OTHER])
    other_id = next(m["id"] for m in emu.admin.members(gid) if m["mobileNumber"] == OTHER)
    assert client.call("DELETE", f"/groups/{gid}/members/{other_id}").json() == {"result": True}
    assert [m["mobileNumber"] for m in emu.admin.members(gid)] == [ADMIN]
    assert_error(client.call("DELETE", f"/groups/{gid}/members/{other_id}"), 404, "NotFound")


def test_change_role(emu):
    client = make_client(emu)
    gid = emu.admin.create_group(name="G", admins=[ADMIN], members=[OTHER])
    other_id = next(m["id"] for m in emu.admin.members(gid) if m["mobileNumber"] == OTHER)
    assert client.call("PUT", f"/groups/{gid}/members/{other_id}", json={"Role": "admin"}).json() == {"result": True}
    assert {m["mobileNumber"]: m["role"] for m in emu.admin.members(gid)}[OTHER] == "Admin"
    assert_error(
        client.call("PUT", f"/groups/{gid}/members/{other_id}", json={"role": "Boss"}), 400, "InvalidParameters"
    )
    assert_error(client.call("PUT", f"/groups/{gid}/members/nobody", json={"role": "Admin"}), 404, "NotFound")


def test_non_admin_cannot_change_members(emu):
    client = make_client(emu)
    gid = emu.admin.create_group(name="G", admins=[OTHER], members=[ADMIN])
    assert client.call("GET", f"/groups/{gid}/members").status_code == 200
    assert_error(client.call("PUT", f"/groups/{gid}/members", json={"members": [THIRD]}), 403, "Forbidden")
    # The group and the caller's role are checked before the body.
    assert_error(client.call("PUT", f"/groups/{gid}/members", json={"members": []}), 403, "Forbidden")
    assert_error(client.call("PUT", "/groups/missing@1/members", json={}), 404, "NotFound")
    assert_error(client.call("PUT", f"/groups/{gid}/members/nobody", json={"role": "Boss"}), 403, "Forbidden")


def test_a_body_that_is_not_text_is_a_three_field_400(emu):
    client = make_client(emu)
    gid = emu.admin.create_group(name="G", admins=[ADMIN], members=[OTHER])
    other_id = next(m["id"] for m in emu.admin.members(gid) if m["mobileNumber"] == OTHER)
    resp = client.call(
        "PUT", f"/groups/{gid}/members/{other_id}", data=b"\xff\xfe{", headers={"Content-Type": "application/json"}
    )
    assert assert_error(resp, 400, "InvalidParameters")["message"] == "Request body is not valid JSON"


def test_every_route_declares_its_answer_and_errors(emu):
    client = make_client(emu)
    gid = emu.admin.create_group(name="G", admins=[ADMIN], members=[OTHER], unprovisioned=[OTHER])
    other_id = next(m["id"] for m in emu.admin.members(gid) if m["mobileNumber"] == OTHER)
    calls = [
        ("GET", f"/groups/{gid}/members", None, {403, 404}),
        ("PUT", f"/groups/{gid}/members", {"members": [THIRD, "+91123"]}, {400, 403, 404}),
        ("PUT", f"/groups/{gid}/members/{other_id}", {"role": "Admin"}, {400, 403, 404}),
        ("DELETE", f"/groups/{gid}/members/{other_id}", None, {403, 404}),
    ]
    for method, path, body, errors in calls:
        resp = client.call(method, path, json=body)
        assert resp.status_code == 200, (method, path, resp.text)
        route = served_by(emu, method, f"/v1{path}")
        route.response_model.model_validate_json(resp.content, strict=True)
        assert set(route.responses) == errors, (method, path)


def test_every_result_answer_is_the_one_shared_schema(emu):
    """M2-M4, SG3/SG4 and W3/W4 answer ``{"result": bool}``: the generated document describes it once."""
    doc = emu.app.openapi_document(emu.url)
    result_answers = {
        ("put", "/v1/groups/{groupId}/members"),
        ("put", "/v1/groups/{groupId}/members/{memberId}"),
        ("delete", "/v1/groups/{groupId}/members/{memberId}"),
        ("put", "/v1/groups/{groupId}/subGroups"),
        ("delete", "/v1/groups/{groupId}/subGroups/{subGroupId}"),
        ("put", "/v1/webhook/{webhookId}"),
        ("delete", "/v1/webhook/{webhookId}"),
    }
    for method, path in result_answers:
        schema = doc["paths"][path][method]["responses"]["200"]["content"]["application/json"]["schema"]
        assert schema == {"$ref": "#/components/schemas/Result"}, (method, path, schema)
    shapes = {name for name, s in doc["components"]["schemas"].items() if set(s.get("properties", {})) == {"result"}}
    assert shapes == {"Result", "SubscribersAdded", "SubscribersRemoved"}
    assert doc["components"]["schemas"]["Result"]["properties"]["result"]["type"] == "boolean"
