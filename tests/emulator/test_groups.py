"""Groups (G1-G3) and sub-groups (SG1-SG4), §5.1-5.2."""

from __future__ import annotations

import re

from tests.emulator.conftest import ADMIN, OTHER, assert_error, make_client, served_by

GROUP_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}@1$")
SUMMARY = {
    "groupId",
    "groupName",
    "groupImageUrl",
    "groupType",
    "hasSubGroups",
    "hasParentGroups",
    "isMappedToTenant",
    "userCount",
    "currentLevelUserCount",
}
DETAIL = SUMMARY | {
    "callerRole",
    "currentLevelSubGroupCount",
    "currentLevelParentGroupCount",
    "uniqueUserCount",
    "currentLevelUnProvisionedUserCount",
    "unProvisionedUserCount",
    "isDuplicate",
    "isEditable",
    "isDetailsReadable",
    "welcomeMessage",
}


def test_create_group_user_token(client):
    resp = client.call(
        "POST", "/groups", json={"name": "Ops", "welcomeMessage": "hi", "members": [OTHER], "groupType": "ConnectGroup"}
    )
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["groupName"] == "Ops"
    assert body["membersAdded"] is True
    assert GROUP_ID.match(body["groupId"])
    members = {m["mobileNumber"]: m["role"] for m in client.em.admin.members(body["groupId"])}
    assert members == {ADMIN: "Admin", OTHER: "Member"}
    group = client.call("GET", f"/groups/{body['groupId']}").json()["groups"][0]
    assert group["groupType"] == "ConnectGroup"
    assert group["hasParentGroups"] is False


def test_create_group_with_group_token_makes_a_subgroup(emu):
    parent = emu.admin.create_group(name="Parent", admins=[ADMIN])
    client = make_client(emu, groupId=parent)
    resp = client.call("POST", "/groups", json={"name": "Child", "welcomeMessage": ""})
    assert resp.status_code == 200, resp.text
    child = resp.json()["groupId"]
    groups = {g["groupId"]: g for g in emu.admin.groups()}
    assert groups[child]["parentIds"] == [parent]
    assert groups[parent]["subGroupIds"] == [child]


def test_create_group_validation(client):
    assert_error(client.call("POST", "/groups", json={"welcomeMessage": "x"}), 400, "InvalidParameters")
    assert_error(client.call("POST", "/groups", json={"name": "x"}), 400, "InvalidParameters")
    assert_error(
        client.call("POST", "/groups", json={"name": "x", "welcomeMessage": "", "groupType": "Chat"}),
        400,
        "InvalidParameters",
    )
    # an invalid number is a per-number outcome (membersAdded false), a non-string one a bad request
    resp = client.call("POST", "/groups", json={"name": "x", "welcomeMessage": "", "members": ["+91123"]})
    assert resp.status_code == 200
    assert resp.json()["membersAdded"] is False
    body = assert_error(
        client.call("POST", "/groups", json={"name": "x", "welcomeMessage": "", "members": [91123]}),
        400,
        "InvalidParameters",
    )
    assert "members" in body["message"]
    many = [f"+91980000{i:04d}" for i in range(101)]
    assert_error(
        client.call("POST", "/groups", json={"name": "x", "welcomeMessage": "", "members": many}),
        400,
        "InvalidParameters",
    )
    assert_error(
        client.call("POST", "/groups", data="{not json", headers={"Content-Type": "application/json"}),
        400,
        "InvalidParameters",
    )


def test_case_insensitive_keys_and_paths(client):
    resp = client.call("POST", "/GROUPS", json={"Name": "Caps", "WELCOMEMESSAGE": "x", "groupTYPE": "connectgroup"})
    assert resp.status_code == 200, resp.text
    gid = resp.json()["groupId"]
    assert client.call("GET", f"/Groups/{gid}").json()["groups"][0]["groupType"] == "ConnectGroup"
    assert client.call("GET", f"/groups/{gid}/subgroups").status_code == 200
    assert client.call("GET", f"/groups/{gid}/SUBGROUPS").status_code == 200
    # ids are case-sensitive
    assert_error(client.call("GET", f"/groups/{gid.upper()}"), 404, "NotFound")


def test_list_groups_visibility_and_details(emu):
    client = make_client(emu)
    top = emu.admin.create_group(name="Top", admins=[ADMIN], members=[OTHER])
    sub = emu.admin.create_group(name="Sub", members=[OTHER], parentId=top)
    emu.admin.create_group(name="Hidden", admins=[OTHER])
    resp = client.call("GET", "/groups")
    groups = resp.json()["groups"]
    assert [g["groupId"] for g in groups] == [top]
    assert set(groups[0]) == SUMMARY
    assert groups[0]["hasSubGroups"] is True
    assert groups[0]["userCount"] == 2
    every = client.call("GET", "/groups", params={"fetchAllGroups": "true", "showDetail": "TRUE"}).json()["groups"]
    assert [g["groupId"] for g in every] == [top, sub]
    assert set(every[0]) == DETAIL
    assert every[0]["callerRole"] == "Admin"
    assert every[1]["callerRole"] == "Admin"
    assert every[1]["hasParentGroups"] is True
    detail = client.call("GET", "/groups", params={"showDetails": "true"}).json()["groups"]
    assert set(detail[0]) == DETAIL
    assert_error(client.call("GET", "/groups", params={"showDetail": "maybe"}), 400, "InvalidParameters")


def test_caller_role_through_parent_membership(emu):
    client = make_client(emu)
    top = emu.admin.create_group(name="Top", admins=[OTHER], members=[ADMIN])
    sub = emu.admin.create_group(name="Sub", admins=[OTHER], parentId=top)
    assert client.call("GET", f"/groups/{top}").json()["groups"][0]["callerRole"] == "Member"
    g = client.call("GET", f"/groups/{sub}").json()["groups"][0]
    assert g["callerRole"] == ""
    assert g["isEditable"] is False
    assert_error(client.call("POST", f"/groups/{sub}/messages", json={"message": "x"}), 403, "Forbidden")


def test_get_group(emu):
    client = make_client(emu)
    gid = emu.admin.create_group(name="G", admins=[ADMIN], members=[OTHER], unprovisioned=[OTHER])
    body = client.call("GET", f"/groups/{gid}").json()
    assert list(body) == ["groups"]
    assert len(body["groups"]) == 1
    g = body["groups"][0]
    assert g["groupId"] == gid
    assert g["currentLevelUserCount"] == 2
    assert g["currentLevelUnProvisionedUserCount"] == 1
    assert_error(client.call("GET", "/groups/00000000-0000-4000-8000-000000000000@1"), 404, "NotFound")
    hidden = emu.admin.create_group(name="H", admins=[OTHER])
    assert_error(client.call("GET", f"/groups/{hidden}"), 403, "Forbidden")


def test_subgroups_list_create_attach_detach(emu):
    client = make_client(emu)
    top = emu.admin.create_group(name="Top", admins=[ADMIN])
    resp = client.call(
        "POST", f"/groups/{top}/subGroups", json={"groupName": "A", "welcomeMessage": "w", "members": [OTHER]}
    )
    assert resp.status_code == 200, resp.text
    a = resp.json()["groupId"]
    assert resp.json()["groupName"] == "A"
    b = client.call(
        "POST", f"/groups/{top}/subgroups", json={"name": "B", "welcomeMessage": "w", "addUserToGroup": "false"}
    ).json()["groupId"]
    assert ADMIN not in {m["mobileNumber"] for m in emu.admin.members(b)}
    c = client.call("POST", f"/groups/{a}/subGroups", json={"groupName": "C", "welcomeMessage": ""}).json()["groupId"]
    body = client.call("GET", f"/groups/{top}/subGroups").json()
    assert len(body["groups"]) == 1
    assert body["groups"][0]["groupId"] == top
    items = body["groups"][0]["subGroups"]
    assert [i["groupId"] for i in items] == [a, b]
    assert "subGroups" not in items[0]
    assert items[0]["hasSubGroups"] is True
    assert items[0]["isDuplicate"] is False
    nested = client.call("GET", f"/groups/{top}/subGroups", params={"fetchAllGroups": True}).json()
    assert [i["groupId"] for i in nested["groups"][0]["subGroups"][0]["subGroups"]] == [c]

    loose = emu.admin.create_group(name="Loose", admins=[ADMIN])
    for _ in range(2):  # idempotent
        resp = client.call("PUT", f"/groups/{top}/subGroups", json={"subGroups": [loose]})
        assert resp.json() == {"result": True}
    assert [g["subGroupIds"] for g in emu.admin.groups() if g["groupId"] == top] == [[a, b, loose]]
    assert_error(client.call("PUT", f"/groups/{c}/subGroups", json={"subGroups": [top]}), 400, "InvalidParameters")
    assert_error(client.call("PUT", f"/groups/{top}/subGroups", json={"subGroups": ["nope@1"]}), 404, "NotFound")

    assert client.call("DELETE", f"/groups/{top}/subGroups/{loose}").json() == {"result": True}
    assert_error(client.call("DELETE", f"/groups/{top}/subGroups/{loose}"), 404, "NotFound")
    assert [g["parentIds"] for g in emu.admin.groups() if g["groupId"] == loose] == [[]]  # detached, not deleted
    assert_error(client.call("POST", f"/groups/{top}/subGroups", json={}), 400, "InvalidParameters")


def test_member_cannot_change_hierarchy(emu):
    client = make_client(emu)
    gid = emu.admin.create_group(name="G", admins=[OTHER], members=[ADMIN])
    assert_error(client.call("POST", f"/groups/{gid}/subGroups", json={"groupName": "x"}), 403, "Forbidden")


def test_unknown_route(client):
    assert_error(client.call("GET", "/nothing"), 404, "NotFound")
    assert_error(client.call("PATCH", "/groups"), 404, "NotFound")


def test_every_route_declares_its_answer_and_errors(emu):
    client = make_client(emu)
    top = emu.admin.create_group(name="Top", admins=[ADMIN], members=[OTHER])
    loose = emu.admin.create_group(name="Loose", admins=[ADMIN])
    calls = [
        ("POST", "/groups", {"name": "G", "welcomeMessage": "", "members": ["+91123"]}, None, {400}),
        ("POST", f"/groups/{top}/subGroups", {"groupName": "S", "welcomeMessage": "w"}, None, {400, 403, 404}),
        ("PUT", f"/groups/{top}/subGroups", {"subGroups": [loose]}, None, {400, 403, 404}),
        ("GET", "/groups", None, None, {400}),
        ("GET", "/groups", None, {"showDetail": "true", "fetchAllGroups": "true"}, {400}),
        ("GET", f"/groups/{top}", None, None, {403, 404}),
        ("GET", f"/groups/{top}/subGroups", None, None, {400, 403, 404}),
        ("GET", f"/groups/{top}/subGroups", None, {"fetchAllGroups": "true"}, {400, 403, 404}),
        ("DELETE", f"/groups/{top}/subGroups/{loose}", None, None, {403, 404}),
    ]
    for method, path, body, params, errors in calls:
        resp = client.call(method, path, json=body, params=params)
        assert resp.status_code == 200, (method, path, resp.text)
        route = served_by(emu, method, f"/v1{path}")
        route.response_model.model_validate_json(resp.content, strict=True)
        assert set(route.responses) == errors, (method, path)


def test_a_blank_query_value_counts_as_absent(emu):
    client = make_client(emu)
    top = emu.admin.create_group(name="Top", admins=[ADMIN])
    sub = emu.admin.create_group(name="Sub", admins=[ADMIN], parentId=top)
    groups = client.call("GET", "/groups?showDetail=&fetchAllGroups").json()["groups"]
    assert [g["groupId"] for g in groups] == [top]
    assert set(groups[0]) == SUMMARY
    item = client.call("GET", f"/groups/{top}/subGroups?fetchAllGroups=").json()["groups"][0]["subGroups"][0]
    assert item["groupId"] == sub
    assert "subGroups" not in item


def test_show_detail_wins_over_its_alias(emu):
    client = make_client(emu)
    emu.admin.create_group(name="Top", admins=[ADMIN])
    groups = client.call("GET", "/groups", params={"showDetail": "false", "showDetails": "true"}).json()["groups"]
    assert set(groups[0]) == SUMMARY
    groups = client.call("GET", "/groups", params={"SHOWDETAILS": "True"}).json()["groups"]
    assert set(groups[0]) == DETAIL


def test_sub_group_name_or_its_alias(emu):
    client = make_client(emu)
    top = emu.admin.create_group(name="Top", admins=[ADMIN])
    both = {"GroupName": "Given", "name": "Alias", "welcomeMessage": ""}
    assert client.call("POST", f"/groups/{top}/subGroups", json=both).json()["groupName"] == "Given"
    alias = {"NAME": "Alias", "welcomeMessage": ""}
    assert client.call("POST", f"/groups/{top}/subGroups", json=alias).json()["groupName"] == "Alias"


def test_bad_values_are_400s_naming_the_field(emu):
    client = make_client(emu)
    top = emu.admin.create_group(name="Top", admins=[ADMIN])
    sub = emu.admin.create_group(name="Sub", admins=[ADMIN], parentId=top)
    cases = [
        ("GET", "/groups", None, {"showDetails": "maybe"}, "showDetails"),
        ("GET", "/groups", None, {"fetchAllGroups": "2"}, "fetchAllGroups"),
        ("GET", f"/groups/{top}/subGroups", None, {"fetchAllGroups": "yes"}, "fetchAllGroups"),
        ("POST", "/groups", {"name": " ", "welcomeMessage": ""}, None, "name"),
        ("POST", "/groups", {"name": "x", "welcomeMessage": 5}, None, "welcomeMessage"),
        ("POST", "/groups", {"name": "x", "welcomeMessage": "", "groupType": "Chat"}, None, "groupType"),
        ("POST", f"/groups/{top}/subGroups", {"welcomeMessage": ""}, None, "groupName"),
        ("POST", f"/groups/{top}/subGroups", {"groupName": "x"}, None, "welcomeMessage"),
        ("POST", f"/groups/{top}/subGroups", {"name": "x", "welcomeMessage": "", "addUserToGroup": 1}, None, "addUser"),
        ("PUT", f"/groups/{top}/subGroups", {"subGroups": []}, None, "subGroups"),
        ("PUT", f"/groups/{top}/subGroups", {"subGroups": "x"}, None, "subGroups"),
        ("PUT", f"/groups/{sub}/subGroups", {"subGroups": [top]}, None, "subGroups"),
    ]
    for method, path, body, params, field in cases:
        error = assert_error(client.call(method, path, json=body, params=params), 400, "InvalidParameters")
        assert field in error["message"], (method, path, body, params, error)


def test_the_group_is_checked_before_the_body(emu):
    client = make_client(emu)
    theirs = emu.admin.create_group(name="Theirs", admins=[OTHER], members=[ADMIN])
    for method in ("POST", "PUT"):
        assert_error(client.call(method, "/groups/missing@1/subGroups", json={}), 404, "NotFound")
        assert_error(client.call(method, f"/groups/{theirs}/subGroups", json={}), 403, "Forbidden")
    assert_error(client.call("DELETE", f"/groups/{theirs}/subGroups/missing@1"), 403, "Forbidden")
