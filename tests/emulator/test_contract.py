"""Contract tests written from the documentation (issue 14, points 1-9).

Each test quotes the documented line it checks. ``DOC`` lines come from the Kaizala connector docs as collected in
the project's API reference; ``SWAGGER`` values are copied verbatim from the official Swagger 2.0 file
(``kaizala_api_full_swagger.json``, rev. 2018-04-26), so the tests need nothing outside this repository.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
import requests

from tests.emulator.conftest import ADMIN, OTHER, THIRD, assert_error, get_token, make_client

#: Swagger ``Response - Refresh Token`` example: the documented grant.
SWAGGER_GRANTED_SCOPE = (
    "groupinfo.read,groupinfo.write,groupinfo.remove,groupinfo.update,groupmember.read,groupmember.write,"
    "groupmember.remove,textmessage.read,action.read,action.write,action.update,profile.write,media.read,"
    "webhook.read,webhook.write,webhook.remove,webhook.update"
)
#: Swagger ``Request - PostCustomActionOnAGroup`` example.
SWAGGER_CUSTOM_ACTION = {
    "id": "25b39b30-0806-4d17-b6a7-a39f21fa52e9",
    "actionBody": {"title": "override title", "validity": 24},
}
#: Swagger ``Request - PostingAResponseToAnAction`` example (the response to that custom action).
SWAGGER_CUSTOM_RESPONSE = {"id": "25b39b30-0806-4d17-b6a7-a39f21fa52e9", "actionBody": {"Answers": ["test text"]}}
#: Swagger ``Request - Refresh Token`` / ``Generate Pin Request`` example bodies (placeholders filled in).
SWAGGER_PIN_EXAMPLE_PIN = 8876

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + (2).to_bytes(4, "big") + (3).to_bytes(4, "big") + b"\x08\x02"


def ok(resp: requests.Response) -> dict[str, Any]:
    assert resp.status_code == 200, (resp.status_code, resp.text)
    return resp.json()  # type: ignore[no-any-return]


def upload(client: Any, name: str = "a.png") -> tuple[str, str]:
    """(mediaResource, the CDN URL of its file)."""
    resource = ok(client.call("POST", "/media", files={"files": (name, PNG, "image/png")}))["mediaResource"]
    media = next(m for m in client.em.admin.media() if m["mediaResource"] == resource)
    return resource, media["files"][0]["url"]


# ------------------------------------------------------------------------------------------------ point 1
def test_attachment_and_image_answers_are_media_objects_in_details_and_events(emu, receiver):
    """DOC §7.3 SurveyResponse/ActionResponse answer shapes:
    "AttachmentList → `[{"mediaUrl","mediaFileName"}]` (Image answers presumably alike — not shown)"."""
    client = make_client(emu)
    gid = emu.admin.create_group(name="G", admins=[ADMIN], members=[OTHER])
    wid = client.call(
        "POST",
        "/webhook",
        json={
            "objectId": gid,
            "objectType": "Group",
            "eventTypes": ["SurveyResponse"],
            "callBackUrl": receiver.url,
        },
    )
    assert wid.status_code == 200, wid.text
    survey = {
        "title": "Site visit",
        "questions": [{"title": "Photos", "type": "AttachmentList"}, {"title": "Selfie", "type": "Image"}],
    }
    action = ok(client.call("POST", f"/groups/{gid}/actions", json={"actionType": "Survey", "actionBody": survey}))
    first, first_url = upload(client, "one.png")
    second, second_url = upload(client, "two.png")
    resp = client.call(
        "POST",
        f"/groups/{gid}/actions/{action['actionId']}/responses",
        json={"actionType": "Survey", "actionBody": {"answers": [[first, second], first]}},
    )
    ok(resp)
    expected_list = [
        {"mediaUrl": first_url, "mediaFileName": "one.png"},
        {"mediaUrl": second_url, "mediaFileName": "two.png"},
    ]
    expected_image = [{"mediaUrl": first_url, "mediaFileName": "one.png"}]

    details = ok(client.call("GET", f"/groups/{gid}/actions/{action['actionId']}", params={"getDetails": "true"}))[
        "actionDetails"
    ]
    blocks = details["responses"][0]["responseDetails"]["responseWithQuestions"]
    assert blocks[0]["answer"] == expected_list
    assert blocks[1]["answer"] == expected_image

    receiver.wait(1)
    event = receiver.posts[0][1]
    assert event["eventType"] == "SurveyResponse"
    blocks = event["data"]["responseDetails"]["responseWithQuestions"]
    assert blocks[0]["answer"] == expected_list
    assert blocks[1]["answer"] == expected_image


def test_attachment_answer_must_be_an_issued_media_resource(emu):
    """DOC §5.7.5: "string[] for MultiOption/AttachmentList" (of mediaResource strings); "Image answer = a
    mediaResource"."""
    client = make_client(emu)
    gid = emu.admin.create_group(name="G", admins=[ADMIN])
    survey = {"title": "T", "questions": [{"title": "Photos", "type": "AttachmentList"}]}
    action = ok(client.call("POST", f"/groups/{gid}/actions", json={"actionType": "Survey", "actionBody": survey}))
    resp = client.call(
        "POST",
        f"/groups/{gid}/actions/{action['actionId']}/responses",
        json={"actionType": "Survey", "actionBody": {"answers": [["not-a-media-resource"]]}},
    )
    assert_error(resp, 400, "InvalidParameters")


# ------------------------------------------------------------------------------------------------ point 2
DOC_SAMPLE_NUMBERS = ["+911111111111", "+91000000000"]  # §5.3 / §5.4 sample bodies


def test_group_create_reports_members_not_added_instead_of_400(emu):
    """DOC §5.1 G1: "`membersAdded` is true only if every number was added"."""
    client = make_client(emu)
    resp = ok(
        client.call(
            "POST", "/groups", json={"name": "G", "welcomeMessage": "hi", "members": [OTHER, *DOC_SAMPLE_NUMBERS]}
        )
    )
    assert resp["membersAdded"] is False
    members = {m["mobileNumber"] for m in emu.admin.members(resp["groupId"])}
    assert members == {ADMIN, OTHER}
    all_good = ok(client.call("POST", "/groups", json={"name": "G2", "welcomeMessage": "", "members": [OTHER]}))
    assert all_good["membersAdded"] is True


def test_subgroup_create_keeps_the_numbers_it_can_add(emu):
    """DOC §5.2 SG2: members "(opt string[])"; response `{"groupId":"...","groupName":"Test Group"}`."""
    client = make_client(emu)
    top = emu.admin.create_group(name="Top", admins=[ADMIN])
    resp = ok(
        client.call(
            "POST",
            f"/groups/{top}/subGroups",
            json={"groupName": "Test Group", "welcomeMessage": "w", "members": [OTHER, "+911111111111"]},
        )
    )
    assert set(resp) == {"groupId", "groupName"}
    assert {m["mobileNumber"] for m in emu.admin.members(resp["groupId"])} == {ADMIN, OTHER}


def test_add_members_result_false_when_not_all_added(emu):
    """DOC §5.3 M2: body `{"members":["+91000000000","+91900000000"]}` → `{"result":"true"}` (... "true only if
    all were added")."""
    client = make_client(emu)
    gid = emu.admin.create_group(name="G", admins=[ADMIN])
    resp = ok(client.call("PUT", f"/groups/{gid}/members", json={"members": ["+91000000000", "+91900000000"]}))
    assert resp == {"result": False}
    resp = ok(client.call("PUT", f"/groups/{gid}/members", json={"members": [OTHER, "+91000000000"]}))
    assert resp == {"result": False}
    assert OTHER in {m["mobileNumber"] for m in emu.admin.members(gid)}
    assert ok(client.call("PUT", f"/groups/{gid}/members", json={"members": [THIRD]})) == {"result": True}
    # still a malformed request: not an array of strings
    assert_error(client.call("PUT", f"/groups/{gid}/members", json={"members": [1]}), 400, "InvalidParameters")


def test_subscriber_add_remove_report_each_number(emu):
    """DOC §5.4 SU2/SU3: body `{"subscribers":["+911111111111","+911111111112"]}`. "Response is a per-number map"
    whose failure entries "contain success or failure with reason"."""
    client = make_client(emu)
    gid = emu.admin.create_group(name="Pub", groupType="ConnectGroup", admins=[ADMIN])
    good = "+919810000201"
    added = ok(client.call("PUT", f"/groups/{gid}/subscribers/add", json={"subscribers": [good, "+911111111111"]}))
    assert added["result"][good] == {"isAdded": True}
    assert added["result"]["+911111111111"] == {"isAdded": False, "reason": "InvalidPhoneNumber"}
    removed = ok(client.call("PUT", f"/groups/{gid}/subscribers/remove", json={"subscribers": [good, "+911111111112"]}))
    assert removed["result"][good] == {"isRemoved": True}
    assert removed["result"]["+911111111112"] == {"isRemoved": False, "reason": "InvalidPhoneNumber"}


def test_subscriber_targeted_message_reports_failed_numbers(emu):
    """DOC §5.5 MS1: responses to subscriber-targeted sends carry "`failedResult: [{subscriber, subscriberId,
    errorReason, errorCode}]`"."""
    client = make_client(emu)
    sub = "+919810000301"
    gid = emu.admin.create_group(name="Pub", groupType="ConnectGroup", admins=[ADMIN], subscribers=[sub])
    resp = ok(
        client.call("POST", f"/groups/{gid}/messages", json={"message": "hi", "subscribers": [sub, "+911111111111"]})
    )
    assert [f["subscriber"] for f in resp["failedResult"]] == ["+911111111111"]
    failed = resp["failedResult"][0]
    assert set(failed) == {"subscriber", "subscriberId", "errorReason", "errorCode"}
    assert failed["errorCode"] == "InvalidPhoneNumber"
    assert emu.admin.messages(gid)[0]["subscribers"] == [sub]


def test_job_assignees_that_cannot_be_assigned_are_dropped(emu):
    """DOC §5.7.2 Job: "`assignedTo` (string[] phone numbers, req)"."""
    client = make_client(emu)
    gid = emu.admin.create_group(name="G", admins=[ADMIN], members=[OTHER])
    body = {"actionType": "Job", "actionBody": {"title": "Fix", "assignedTo": [OTHER, "+911111111111"]}}
    action = ok(client.call("POST", f"/groups/{gid}/actions", json=body))
    details = ok(client.call("GET", f"/groups/{gid}/actions/{action['actionId']}"))["actionDetails"]
    assert details["assignedTo"] == [OTHER]
    only_bad = {"actionType": "Job", "actionBody": {"title": "Fix", "assignedTo": ["+911111111111"]}}
    assert_error(client.call("POST", f"/groups/{gid}/actions", json=only_bad), 400, "InvalidParameters")


# ------------------------------------------------------------------------------------------------ point 3
@pytest.mark.parametrize("content_type", [None, "application/x-www-form-urlencoded", "text/plain"])
def test_json_calls_require_a_json_content_type(emu, content_type):
    """DOC §1.3: "`Content-Type` | `application/json` on JSON bodies ... | [D] lists it as required on POST/PUT."
    SWAGGER: every POST/PUT lists ``{"name": "Content-Type", "in": "header", "required": true}``."""
    client = make_client(emu)
    gid = emu.admin.create_group(name="G", admins=[ADMIN])
    headers = {"accessToken": client.token}
    if content_type:
        headers["Content-Type"] = content_type
    body = json.dumps({"message": "hi"}).encode()
    resp = requests.post(client.url(f"/groups/{gid}/messages"), data=body, headers=headers, timeout=30)
    assert_error(resp, 415, "UnsupportedMediaType")
    resp = requests.put(
        client.url(f"/groups/{gid}/members"), data=json.dumps({"members": [OTHER]}), headers=headers, timeout=30
    )
    assert_error(resp, 415, "UnsupportedMediaType")
    assert emu.admin.messages(gid) == []
    headers["Content-Type"] = "application/json; charset=utf-8"
    ok(requests.post(client.url(f"/groups/{gid}/messages"), data=body, headers=headers, timeout=30))


# ------------------------------------------------------------------------------------------------ point 4
def test_subgroup_create_requires_welcome_message(emu):
    """DOC §5.1 G1: "`welcomeMessage` | string | yes ([D] says not optional)"; SG2 [S] body "same as G1"."""
    client = make_client(emu)
    top = emu.admin.create_group(name="Top", admins=[ADMIN])
    resp = client.call("POST", f"/groups/{top}/subGroups", json={"groupName": "A"})
    assert_error(resp, 400, "InvalidParameters")
    ok(client.call("POST", f"/groups/{top}/subGroups", json={"groupName": "A", "welcomeMessage": ""}))


# ------------------------------------------------------------------------------------------------ point 5
def test_no_undocumented_fields_by_default(emu):
    """DOC §5.7.3: list item = "`referenceId`, `actionType`, `sender`, time (`sentAt` ...), `actionBody`";
    §5.7.2: "media actions: `referenceId` only in sample"; §5.8 R4 item `{"reactionId","userId","lastModifiedTime"}`
    ("the comment text is not in the documented item")."""
    client = make_client(emu)
    gid = emu.admin.create_group(name="G", admins=[ADMIN])
    job = {"actionType": "Job", "actionBody": {"title": "Fix", "assignedTo": [ADMIN]}}
    ok(client.call("POST", f"/groups/{gid}/actions", json=job))
    item = ok(client.call("GET", f"/groups/{gid}/actions", params={"actionType": "Job"}))["actions"][0]
    assert set(item) == {"referenceId", "actionType", "sender", "sentAt", "actionBody"}
    resource, _ = upload(client)
    media = ok(
        client.call(
            "POST", f"/groups/{gid}/actions", json={"actionType": "Image", "actionBody": {"mediaResource": resource}}
        )
    )
    assert set(media) == {"referenceId"}
    msg = ok(client.call("POST", f"/groups/{gid}/messages", json={"message": "hi"}))["referenceId"]
    ok(
        client.call(
            "POST", f"/groups/{gid}/reaction", json={"referenceId": msg, "reactionType": "Comment", "comment": "nice"}
        )
    )
    detail = ok(client.call("GET", f"/groups/{gid}/reaction/{msg}"))["reactionDetails"][0]
    assert set(detail) == {"reactionId", "userId", "lastModifiedTime"}

    emu.admin.faults(extensions=True)  # the documented switch brings the extras back
    item = ok(client.call("GET", f"/groups/{gid}/actions", params={"actionType": "Job"}))["actions"][0]
    assert {"sentAtMs", "actionId"} <= set(item)
    media = ok(
        client.call(
            "POST", f"/groups/{gid}/actions", json={"actionType": "Image", "actionBody": {"mediaResource": resource}}
        )
    )
    assert set(media) == {"referenceId", "actionId"}
    detail = ok(client.call("GET", f"/groups/{gid}/reaction/{msg}"))["reactionDetails"][0]
    assert detail["reactionType"] == "Comment"
    assert detail["comment"] == "nice"


# ------------------------------------------------------------------------------------------------ point 6
def test_has_more_is_true_when_the_page_filled_up(emu):
    """DOC §5.7.3: "`hasMore` is true when the page filled up to `count`"."""
    client = make_client(emu)
    gid = emu.admin.create_group(name="G", admins=[ADMIN])
    for i in range(3):
        ok(
            client.call(
                "POST",
                f"/groups/{gid}/actions",
                json={"actionType": "Job", "actionBody": {"title": f"J{i}", "assignedTo": [ADMIN]}},
            )
        )
    full = ok(client.call("GET", f"/groups/{gid}/actions", params={"actionType": "Job", "count": 3}))
    assert len(full["actions"]) == 3
    assert full["hasMore"] is True
    short = ok(client.call("GET", f"/groups/{gid}/actions", params={"actionType": "Job", "count": 4}))
    assert len(short["actions"]) == 3
    assert short["hasMore"] is False


# ------------------------------------------------------------------------------------------------ point 7
def test_the_documented_grant_is_enough_for_every_call(emu):
    """SWAGGER ``Response - Refresh Token`` example: ``"grantedScope": "groupinfo.read,...,webhook.update"``
    (no textmessage.write, media.write or reaction.* scope)."""
    client = make_client(emu, permissions=SWAGGER_GRANTED_SCOPE.split(","))
    gid = emu.admin.create_group(name="G", admins=[ADMIN])
    msg = ok(client.call("POST", f"/groups/{gid}/messages", json={"message": "hi"}))["referenceId"]
    resource, _ = upload(client)
    ok(client.call("POST", "/media/url", json={"mediaUrl": "https://example.com/a.png"}))
    ok(
        client.call(
            "POST", f"/groups/{gid}/actions", json={"actionType": "Image", "actionBody": {"mediaResource": resource}}
        )
    )
    ok(client.call("POST", f"/groups/{gid}/reaction", json={"referenceId": msg, "reactionType": "Like"}))
    ok(client.call("GET", f"/groups/{gid}/reaction/{msg}/summary"))
    ok(client.call("GET", f"/groups/{gid}/reaction/summary"))
    ok(client.call("GET", f"/groups/{gid}/reaction/{msg}"))
    token = get_token(emu.url, client.app)
    assert ok(token)["scope"] == SWAGGER_GRANTED_SCOPE


# ------------------------------------------------------------------------------------------------ point 8
def test_swagger_custom_package_examples_are_accepted(emu):
    """SWAGGER ``Request - PostCustomActionOnAGroup`` and ``Request - PostingAResponseToAnAction`` examples, in
    that order (the package defines the questions, so the emulator cannot know them)."""
    client = make_client(emu)
    gid = emu.admin.create_group(name="G", admins=[ADMIN])
    action = ok(client.call("POST", f"/groups/{gid}/actions", json=SWAGGER_CUSTOM_ACTION))
    resp = client.call("POST", f"/groups/{gid}/actions/{action['actionId']}/responses", json=SWAGGER_CUSTOM_RESPONSE)
    assert set(ok(resp)) == {"responseId"}
    # ``id`` is documented as "ID associated with the Action Instance": the action id is accepted too
    by_action_id = {"id": action["actionId"], "actionBody": {"answers": ["again"]}}
    ok(client.call("POST", f"/groups/{gid}/actions/{action['actionId']}/responses", json=by_action_id))
    details = ok(client.call("GET", f"/groups/{gid}/actions/{action['actionId']}", params={"getDetails": "true"}))
    answers = [
        r["responseDetails"]["responseWithQuestions"][0]["answer"] for r in details["actionDetails"]["responses"]
    ]
    assert answers == ["test text", "again"]


# ------------------------------------------------------------------------------------------------ point 9
def pin_login(emu: Any, app: dict[str, Any], phone: str, pin: Any = None) -> requests.Response:
    auth = {"mobileNumber": phone, "applicationId": app["applicationId"]}
    ok(requests.post(f"{emu.url}/v1/generatePin", json=auth, timeout=30))
    if pin is None:
        pin = int(emu.admin.pin(phone, app["applicationId"]))
    return requests.post(f"{emu.url}/v1/loginWithPinAndApplicationId", json={**auth, "pin": pin}, timeout=30)


def test_pin_login_issues_a_refresh_token(emu):
    """DOC §2.3: "`POST https://api.kaiza.la/v1/generatePin` ... → 200 `{}`. Sends an OTP by SMS to the number."
    "`POST .../loginWithPinAndApplicationId` ... → 200 `{"refreshToken":"...","grantedScope":"...",
    "refreshTokenExpiry":1537016388242}`"; "`refreshTokenExpiry` is epoch ms (≈ +365 days)"."""
    app = emu.admin.create_connector(phone=ADMIN, permissions=SWAGGER_GRANTED_SCOPE.split(","))
    auth = {"mobileNumber": ADMIN, "applicationId": app["applicationId"]}
    resp = requests.post(f"{emu.url}/v1/generatePin", json=auth, timeout=30)
    assert ok(resp) == {}
    pin = emu.admin.pin(ADMIN, app["applicationId"])
    assert isinstance(pin, int)
    body = ok(requests.post(f"{emu.url}/v1/loginWithPinAndApplicationId", json={**auth, "pin": pin}, timeout=30))
    assert {"refreshToken", "grantedScope", "refreshTokenExpiry"} <= set(body)
    assert body["grantedScope"] == SWAGGER_GRANTED_SCOPE
    now_ms = emu.admin.advance_clock(0)["now"]
    assert abs(body["refreshTokenExpiry"] - (now_ms + 365 * 86_400_000)) < 60_000
    token = ok(get_token(emu.url, app, body["refreshToken"]))
    assert token["accessToken"]
    # a PIN is single use
    again = requests.post(f"{emu.url}/v1/loginWithPinAndApplicationId", json={**auth, "pin": pin}, timeout=30)
    assert_error(again, 401, "Unauthenticated")


def test_pin_login_refuses_wrong_pins_unknown_connectors_and_bad_bodies(emu):
    """DOC §2.3 + SWAGGER ``Request - Refresh Token``: ``"required": ["mobileNumber", "applicationId", "pin"]``,
    ``pin`` ``"type": "integer"``; "[C] clients also send `applicationSecret` ... Decision: emulator accepts and
    ... validates it if present"."""
    app = emu.admin.create_connector(phone=ADMIN)
    wrong = pin_login(emu, app, ADMIN, pin=-1)
    body = assert_error(wrong, 401, "Unauthenticated")
    assert app["applicationSecret"] not in body["message"]
    auth = {"mobileNumber": ADMIN, "applicationId": app["applicationId"]}
    unknown = {"mobileNumber": ADMIN, "applicationId": f"{uuid.uuid4()}@2"}
    assert_error(requests.post(f"{emu.url}/v1/generatePin", json=unknown, timeout=30), 401, "Unauthenticated")
    assert_error(
        requests.post(f"{emu.url}/v1/generatePin", json={"mobileNumber": ADMIN}, timeout=30), 400, "InvalidParameters"
    )
    ok(requests.post(f"{emu.url}/v1/generatePin", json=auth, timeout=30))
    pin = emu.admin.pin(ADMIN, app["applicationId"])
    login = f"{emu.url}/v1/loginWithPinAndApplicationId"
    assert_error(requests.post(login, json={**auth, "pin": "abc"}, timeout=30), 400, "InvalidParameters")
    bad_secret = {**auth, "pin": pin, "applicationSecret": "nope"}
    assert_error(requests.post(login, json=bad_secret, timeout=30), 401, "Unauthenticated")
    good = {**auth, "pin": pin, "applicationSecret": app["applicationSecret"]}
    ok(requests.post(login, json=good, timeout=30))
    # the PIN login is for the connector's user
    other = {"mobileNumber": OTHER, "applicationId": app["applicationId"]}
    assert_error(requests.post(f"{emu.url}/v1/generatePin", json=other, timeout=30), 403, "Forbidden")
    assert_error(requests.post(login, json={**other, "pin": pin}, timeout=30), 403, "Forbidden")


def test_a_new_refresh_token_invalidates_the_previous_one(emu):
    """DOC §2.1: "Server invalidates a refresh token when a new one is generated for the same connector (group) or
    the connector is deleted.\""""
    app = emu.admin.create_connector(phone=ADMIN)
    old = app["refreshToken"]
    ok(get_token(emu.url, app, old))
    new = ok(pin_login(emu, app, ADMIN))["refreshToken"]
    assert_error(get_token(emu.url, app, old), 401, "Unauthenticated")
    ok(get_token(emu.url, app, new))
    regenerated = emu.admin.new_refresh_token(app["applicationId"])
    assert_error(get_token(emu.url, app, new), 401, "Unauthenticated")
    access = ok(get_token(emu.url, app, regenerated))["accessToken"]
    emu.admin.delete_connector(app["applicationId"])
    assert_error(get_token(emu.url, app, regenerated), 401, "Unauthenticated")
    resp = requests.get(f"{emu.url}/v1/groups", headers={"accessToken": access}, timeout=30)
    assert_error(resp, 401, "InvalidToken")
