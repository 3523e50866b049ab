"""Actions AC1-AC4, §5.7: create per type, validation, paging, details, responses, recording."""

from __future__ import annotations

import datetime as dt
import re
import time
import uuid

import pytest

from airflow_provider_kaizala.emulator.app import EmulatorApp
from tests.emulator.conftest import ADMIN, OTHER, assert_error, make_client, ok

THIRD = "+919810000003"

SURVEY = {
    "title": "Lunch",
    "questions": [
        {"title": "Pick one", "type": "singleoption", "options": [{"title": "A"}, {"title": "B"}]},
        {"title": "Pick many", "type": "MultiOption", "options": [{"Title": "x"}, {"title": "y"}]},
        {"title": "Why", "type": "Text"},
        {"title": "How many", "type": "Numeric"},
        {"title": "When", "type": "DateTime"},
        {"title": "Where", "type": "Location"},
        {"title": "Files", "type": "AttachmentList"},
    ],
}
ANSWERS = ["A", ["x", "y"], "because", 3.5, 1700000000, {"lt": 12.9, "lg": 77.6, "n": "Office"}, []]


@pytest.fixture
def setup(emu):
    client = make_client(emu)
    gid = emu.admin.create_group(name="G", admins=[ADMIN], members=[OTHER, THIRD])
    return client, gid


def post(client, gid, body):
    return client.call("POST", f"/groups/{gid}/actions", json=body)


def iso(s: str) -> float:
    return dt.datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp()


def test_create_each_type_and_record(emu, setup):
    client, gid = setup
    bodies = [
        {"actionType": "job", "actionBody": {"title": "Fix", "assignedTo": [OTHER], "dueDate": 2}},
        {"ActionType": "Survey", "actionBody": SURVEY},
        {"actionType": "POLL", "actionBody": {"question": "Tea?", "Choices": [{"title": "Yes"}, {"title": "No"}]}},
        {"actionType": "LetsMeet", "actionBody": {"title": "Sync", "startingTime": "2030-01-01T10:00:00Z"}},
        {"actionType": "Announcement", "actionBody": {"Title": "Hi", "Message": "News"}},
        {"id": "com.microsoft.kaizala.miniapps.BdayMessage.12", "actionBody": {"properties": []}},
        {"id": str(uuid.uuid4()), "actionBody": {"title": "override title", "validity": 24}},
    ]
    ids = []
    for body in bodies:
        out = ok(post(client, gid, body))
        assert set(out) == {"referenceId", "actionId"}
        uuid.UUID(out["referenceId"])
        ids.append(out["actionId"])
    recorded = emu.admin.actions(gid)
    assert [a["actionId"] for a in recorded] == ids
    assert [a["actionType"] for a in recorded] == [
        "Job",
        "Survey",
        "Poll",
        "LetsMeet",
        "Announcement",
        "Custom",
        "Custom",
    ]
    assert recorded[5]["actionPackageId"] == "com.microsoft.kaizala.miniapps.BdayMessage.12"
    sent = [a["sentAtMs"] for a in recorded]
    assert sent == sorted(set(sent))  # distinct, increasing
    assert emu.admin.actions("other@1") == []


def test_defaults_and_conversions(emu, setup):
    client, gid = setup
    t0 = time.time()
    job = ok(post(client, gid, {"actionType": "Job", "actionBody": {"title": "T", "assignedTo": [OTHER]}}))["actionId"]
    poll = ok(post(client, gid, {"actionType": "Poll", "actionBody": {"question": "Q", "choices": [{"title": "a"}]}}))
    meet = ok(
        post(
            client,
            gid,
            {"actionType": "LetsMeet", "actionBody": {"title": "M", "startingTime": "2030-01-01T10:00:00+05:30"}},
        )
    )
    survey = ok(post(client, gid, {"actionType": "Survey", "actionBody": {**SURVEY, "dueDate": "48"}}))["actionId"]
    details = ok(client.call("GET", f"/groups/{gid}/actions/{job}"))["actionDetails"]
    assert abs(iso(details["dueDate"]) - (t0 + 24 * 3600)) < 5
    assert details["assigneeCount"] == 1
    assert details["status"] is False
    body = ok(client.call("GET", f"/groups/{gid}/actions/{poll['actionId']}"))["actionDetails"]
    assert abs(iso(body["expiryDate"]) - (t0 + 720 * 3600)) < 5
    body = ok(client.call("GET", f"/groups/{gid}/actions/{meet['actionId']}"))["actionDetails"]
    assert body["duration"] == 30
    assert body["startingTime"] == "2030-01-01T04:30:00Z"
    body = ok(client.call("GET", f"/groups/{gid}/actions/{survey}"))["actionDetails"]
    assert abs(iso(body["expiryDate"]) - (t0 + 48 * 3600)) < 5
    assert [q["type"] for q in body["questions"]][:2] == ["SingleOption", "MultiOption"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"actionBody": {"title": "x"}}, "actionType"),
        ({"actionType": "Job", "id": "a.b", "actionBody": {}}, "actionType"),
        ({"actionType": "Nope", "actionBody": {}}, "actionType"),
        ({"id": "not a package", "actionBody": {}}, "id"),
        ({"actionType": "Job"}, "actionBody"),
        ({"actionType": "Job", "actionBody": {"assignedTo": [OTHER]}}, "actionBody.title"),
        ({"actionType": "Job", "actionBody": {"title": "t"}}, "actionBody.assignedTo"),
        ({"actionType": "Job", "actionBody": {"title": "t", "assignedTo": ["12"]}}, "actionBody.assignedTo"),
        (
            {"actionType": "Job", "actionBody": {"title": "t", "assignedTo": [OTHER], "dueDate": 0}},
            "actionBody.dueDate",
        ),
        ({"actionType": "Survey", "actionBody": {"title": "t"}}, "actionBody.questions"),
        (
            {"actionType": "Survey", "actionBody": {"title": "t", "questions": [{"title": "q", "type": "Essay"}]}},
            "actionBody.questions[0].type",
        ),
        (
            {
                "actionType": "Survey",
                "actionBody": {"title": "t", "questions": [{"title": "q", "type": "SingleOption"}]},
            },
            "actionBody.questions[0].options",
        ),
        (
            {"actionType": "Survey", "actionBody": {"title": "t", "questions": [{"type": "Text"}]}},
            "actionBody.questions[0].title",
        ),
        ({"actionType": "Poll", "actionBody": {"question": "q"}}, "actionBody.choices"),
        (
            {"actionType": "Poll", "actionBody": {"question": "q", "choices": [{"title": "a"}], "expiryInHours": -1}},
            "expiryInHours",
        ),
        (
            {"actionType": "LetsMeet", "actionBody": {"title": "m", "startingTime": "tomorrow"}},
            "actionBody.startingTime",
        ),
        ({"actionType": "LetsMeet", "actionBody": {"title": "m"}}, "actionBody.startingTime"),
        ({"actionType": "Announcement", "actionBody": {"title": "m"}}, "actionBody.message"),
        ({"actionType": "Image", "actionBody": {}}, "actionBody.mediaResource"),
        ({"actionType": "Image", "actionBody": {"mediaResource": "eyJ4IjoxfQ=="}}, "actionBody.mediaResource"),
    ],
)
def test_bad_bodies_name_the_field(emu, setup, body, field):
    client, gid = setup
    err = assert_error(post(client, gid, body), 400, "InvalidParameters")
    assert field in err["message"], err
    assert emu.admin.actions(gid) == []


def upload(client, name="p.png", ctype="image/png", count=1):
    files = [("files", (f"{i}{name}", b"\x89PNG\r\n\x1a\n", ctype)) for i in range(count)]
    return ok(client.call("POST", "/media", files=files))["mediaResource"]


def test_media_actions_need_a_matching_resource(emu, setup):
    client, gid = setup
    image = upload(client)
    album = upload(client, count=2)
    doc = upload(client, "d.pdf", "application/pdf")
    out = ok(post(client, gid, {"actionType": "Image", "actionBody": {"mediaResource": image, "caption": "c"}}))
    assert set(out) == {"referenceId"}  # media actions: "referenceId only in sample" (actionId with extensions)
    ok(post(client, gid, {"actionType": "album", "actionBody": {"MediaResource": album}}))
    ok(post(client, gid, {"actionType": "Document", "actionBody": {"mediaResource": doc}}))
    err = assert_error(
        post(client, gid, {"actionType": "Video", "actionBody": {"mediaResource": image}}), 400, "InvalidParameters"
    )
    assert "mediaResource" in err["message"]
    assert_error(
        post(client, gid, {"actionType": "Image", "actionBody": {"mediaResource": album}}), 400, "InvalidParameters"
    )
    items = ok(client.call("GET", f"/groups/{gid}/actions", params={"actionType": "Image"}))["actions"]
    assert items[0]["actionBody"]["caption"] == "c"
    assert items[0]["actionBody"]["imageUrl"].startswith("https://")
    ann = {"actionType": "Announcement", "actionBody": {"title": "t", "message": "m", "mediaResources": [image]}}
    ok(post(client, gid, ann))
    assert_error(
        post(client, gid, {**ann, "actionBody": {**ann["actionBody"], "mediaResources": ["zz"]}}),
        400,
        "InvalidParameters",
    )


def test_public_group_targeting_and_roles(emu):
    client = make_client(emu)
    gid = emu.admin.create_group(name="G", admins=[ADMIN])
    pub = emu.admin.create_group(name="P", groupType="ConnectGroup", admins=[ADMIN], subscribers=[OTHER])
    job = {"actionType": "Job", "actionBody": {"title": "t", "assignedTo": [ADMIN]}}
    assert_error(post(client, gid, {**job, "sendToAllSubscribers": True}), 400, "InvalidParameters")
    ok(post(client, pub, {**job, "sendToAllSubscribers": "true"}))
    ok(post(client, pub, {**job, "subscribers": [OTHER]}))
    recorded = emu.admin.actions(pub)
    assert [(a["sendToAllSubscribers"], a["subscribers"]) for a in recorded] == [(True, []), (False, [OTHER])]
    viewer = emu.admin.create_group(name="V", admins=[OTHER], members=[ADMIN], groupType="ConnectGroup")
    assert_error(post(client, viewer, {**job, "sendToAllSubscribers": True}), 403, "Forbidden")
    assert_error(post(client, "missing@1", job), 404, "NotFound")
    limited = make_client(emu, permissions=["action.read"])
    assert_error(post(limited, gid, job), 403, "Forbidden")
    assert limited.call("GET", f"/groups/{gid}/actions", params={"actionType": "Job"}).status_code == 200


def test_retried_post_is_not_deduplicated(emu, setup):
    client, gid = setup
    body = {"actionType": "Job", "actionBody": {"title": "same", "assignedTo": [OTHER]}}
    first, second = ok(post(client, gid, body)), ok(post(client, gid, body))
    assert first["actionId"] != second["actionId"]
    assert [a["actionBody"]["title"] for a in emu.admin.actions(gid)] == ["same", "same"]


def test_list_paging_walk_has_no_loss_or_duplicates(emu, setup):
    """The ms-precise walk uses the ``sentAtMs`` extension (``sentAt`` has whole seconds)."""
    client, gid = setup
    emu.admin.faults(extensions=True)
    made = [
        ok(post(client, gid, {"actionType": "Survey", "actionBody": {**SURVEY, "title": f"S{i}"}}))["actionId"]
        for i in range(11)
    ]
    ok(post(client, gid, {"actionType": "Job", "actionBody": {"title": "other", "assignedTo": [OTHER]}}))
    seen, pages, from_date = [], [], None
    while True:
        params = {"actionType": "survey", "count": 4}
        if from_date is not None:
            params["fromDate"] = from_date
        page = ok(client.call("GET", f"/groups/{gid}/actions", params=params))
        pages.append((len(page["actions"]), page["hasMore"]))
        seen += [a["actionId"] for a in page["actions"]]
        if not page["hasMore"]:
            break
        from_date = page["actions"][-1]["sentAtMs"] + 1
    assert seen == made
    assert pages == [(4, True), (4, True), (3, False)]
    items = ok(client.call("GET", f"/groups/{gid}/actions", params={"actionType": "Survey"}))["actions"]
    assert len(items) == 11
    item = items[0]
    assert set(item) >= {"referenceId", "actionType", "sender", "sentAt", "actionBody"}
    assert item["sender"] == ADMIN
    assert item["actionType"] == "Survey"
    assert set(item["actionBody"]) >= {"actionId", "title", "responseCount", "expiryDate"}
    # fromDate is inclusive and in ms
    third = items[2]
    rest = ok(
        client.call("GET", f"/groups/{gid}/actions", params={"actionType": "Survey", "fromDate": third["sentAtMs"]})
    )
    assert [a["actionId"] for a in rest["actions"]] == made[2:]
    # exact fill: "hasMore is true when the page filled up to count"; the next page is empty
    exact = ok(client.call("GET", f"/groups/{gid}/actions", params={"actionType": "Survey", "count": 11}))
    assert exact["hasMore"] is True
    after = exact["actions"][-1]["sentAtMs"] + 1
    last = ok(client.call("GET", f"/groups/{gid}/actions", params={"actionType": "Survey", "fromDate": after}))
    assert last == {"actions": [], "hasMore": False}
    assert_error(client.call("GET", f"/groups/{gid}/actions"), 400, "InvalidParameters")
    assert_error(client.call("GET", f"/groups/{gid}/actions", params={"actionType": "Nope"}), 400, "InvalidParameters")
    assert_error(
        client.call("GET", f"/groups/{gid}/actions", params={"actionType": "Job", "count": 0}), 400, "InvalidParameters"
    )
    assert_error(
        client.call("GET", f"/groups/{gid}/actions", params={"actionType": "Job", "fromDate": "x"}),
        400,
        "InvalidParameters",
    )
    assert ok(client.call("GET", f"/groups/{gid}/actions", params={"actionType": "ShareLocation"}))["actions"] == []


def test_list_by_package_id(emu, setup):
    client, gid = setup
    ok(post(client, gid, {"id": "a.b.c", "actionBody": {"title": "one"}}))
    ok(post(client, gid, {"id": "x.y", "actionBody": {"title": "two"}}))
    items = ok(client.call("GET", f"/groups/{gid}/actions", params={"id": "a.b.c"}))["actions"]
    assert [(i["actionType"], i["actionPackageId"], i["actionBody"]["title"]) for i in items] == [
        ("Custom", "a.b.c", "one")
    ]


def test_details_and_survey_responses(emu, setup):
    client, gid = setup
    sid = ok(post(client, gid, {"actionType": "Survey", "actionBody": SURVEY}))["actionId"]
    url = f"/groups/{gid}/actions/{sid}/responses"
    rid = ok(client.call("POST", url, json={"actionType": "survey", "actionBody": {"Answers": ANSWERS}}))["responseId"]
    plain = ok(client.call("GET", f"/groups/{gid}/actions/{sid}"))
    assert set(plain) >= {"actionId", "actionType", "sender", "sentAt", "actionDetails"}
    assert plain["actionDetails"]["responseCount"] == 1
    assert "responses" not in plain["actionDetails"]
    full = ok(client.call("GET", f"/groups/{gid}/actions/{sid}", params={"getDetails": "TRUE"}))
    [resp] = full["actionDetails"]["responses"]
    assert resp["responseId"] == rid
    assert resp["responder"] == ADMIN
    blocks = resp["responseDetails"]["responseWithQuestions"]
    assert [b["answer"] for b in blocks[:7]] == [
        "A",
        ["x", "y"],
        "because",
        3.5,
        1700000000000,  # DateTime given in epoch s -> ms
        {"lt": 12.9, "lg": 77.6, "n": "Office"},
        [],
    ]
    assert blocks[-1]["title"] == "ResponseTime"
    assert blocks[-1]["isInvisible"] is True
    assert_error(client.call("GET", f"/groups/{gid}/actions/{uuid.uuid4()}"), 404, "NotFound")
    other = emu.admin.create_group(name="H", admins=[ADMIN])
    assert_error(client.call("GET", f"/groups/{other}/actions/{sid}"), 404, "NotFound")


def test_response_validation_and_update(emu, setup):
    client, gid = setup
    sid = ok(post(client, gid, {"actionType": "Survey", "actionBody": SURVEY}))["actionId"]
    url = f"/groups/{gid}/actions/{sid}/responses"

    def bad(answers, field):
        err = assert_error(
            client.call("POST", url, json={"actionType": "Survey", "actionBody": {"answers": answers}}),
            400,
            "InvalidParameters",
        )
        assert field in err["message"], err

    bad(ANSWERS[:3], "answers")
    bad(["C", *ANSWERS[1:]], "answers[0]")
    bad([*ANSWERS[:1], "x", *ANSWERS[2:]], "answers[1]")
    bad([*ANSWERS[:3], "many", *ANSWERS[4:]], "answers[3]")
    bad([*ANSWERS[:5], {"lt": "north"}, []], "answers[5].lt")
    err = assert_error(
        client.call("POST", url, json={"actionType": "Job", "actionBody": {"isCompleted": True}}),
        400,
        "InvalidParameters",
    )
    assert "actionType" in err["message"]
    assert_error(client.call("POST", url, json={"actionBody": {"answers": ANSWERS}}), 400, "InvalidParameters")
    rid = ok(client.call("POST", url, json={"id": None, "actionType": "Survey", "actionBody": {"answers": ANSWERS}}))[
        "responseId"
    ]
    again = ok(
        client.call(
            "POST",
            url,
            json={"actionType": "Survey", "responseId": rid, "actionBody": {"answers": ["B", *ANSWERS[1:]]}},
        )
    )
    assert again["responseId"] == rid
    [stored] = emu.admin.responses(sid)
    assert stored["answers"][0] == "B"
    assert stored["updateCount"] == 1
    assert_error(
        client.call(
            "POST", url, json={"actionType": "Survey", "responseId": "nope", "actionBody": {"answers": ANSWERS}}
        ),
        404,
        "NotFound",
    )
    other = make_client(emu, phone=OTHER)
    assert_error(
        other.call("POST", url, json={"actionType": "Survey", "responseId": rid, "actionBody": {"answers": ANSWERS}}),
        403,
        "Forbidden",
    )
    # a retried POST without responseId creates a second response
    ok(client.call("POST", url, json={"actionType": "Survey", "actionBody": {"answers": ANSWERS}}))
    assert len(emu.admin.responses(sid)) == 2
    assert_error(
        client.call(
            "POST",
            f"/groups/{gid}/actions/{uuid.uuid4()}/responses",
            json={"actionType": "Survey", "actionBody": {"answers": []}},
        ),
        404,
        "NotFound",
    )


def test_job_poll_letsmeet_and_custom_responses(emu, setup):
    client, gid = setup
    job = ok(post(client, gid, {"actionType": "Job", "actionBody": {"title": "t", "assignedTo": [OTHER, THIRD]}}))[
        "actionId"
    ]
    for phone in (OTHER, THIRD):
        c = make_client(emu, phone=phone)
        assert_error(
            c.call("POST", f"/groups/{gid}/actions/{job}/responses", json={"actionType": "Job", "actionBody": {}}),
            400,
            "InvalidParameters",
        )
        ok(
            c.call(
                "POST",
                f"/groups/{gid}/actions/{job}/responses",
                json={"actionType": "JOB", "actionBody": {"isCompleted": "true"}},
            )
        )
        items = ok(client.call("GET", f"/groups/{gid}/actions", params={"actionType": "Job"}))["actions"]
    assert items[0]["actionBody"]["isCompleted"] is True
    full = ok(client.call("GET", f"/groups/{gid}/actions/{job}", params={"getDetails": True}))["actionDetails"]
    assert full["status"] is True
    assert sorted(r["assignee"] for r in full["responses"]) == sorted([OTHER, THIRD])
    poll = ok(
        post(
            client,
            gid,
            {"actionType": "Poll", "actionBody": {"question": "Q", "choices": [{"title": "a"}, {"title": "b"}]}},
        )
    )["actionId"]
    ok(
        client.call(
            "POST",
            f"/groups/{gid}/actions/{poll}/responses",
            json={"actionType": "Poll", "actionBody": {"answers": ["b"]}},
        )
    )
    assert_error(
        client.call(
            "POST",
            f"/groups/{gid}/actions/{poll}/responses",
            json={"actionType": "Poll", "actionBody": {"answers": ["c"]}},
        ),
        400,
        "InvalidParameters",
    )
    meet = ok(
        post(
            client,
            gid,
            {"actionType": "LetsMeet", "actionBody": {"title": "M", "startingTime": "2030-01-01T10:00:00Z"}},
        )
    )["actionId"]
    ok(
        client.call(
            "POST",
            f"/groups/{gid}/actions/{meet}/responses",
            json={"actionType": "LetsMeet", "actionBody": {"answers": ["Maybe"]}},
        )
    )
    custom = ok(post(client, gid, {"id": "pkg.one", "actionBody": {"questions": [{"title": "n", "type": "Numeric"}]}}))[
        "actionId"
    ]
    ok(
        client.call(
            "POST", f"/groups/{gid}/actions/{custom}/responses", json={"id": "pkg.one", "actionBody": {"answers": [7]}}
        )
    )
    assert_error(
        client.call(
            "POST", f"/groups/{gid}/actions/{custom}/responses", json={"id": "pkg.two", "actionBody": {"answers": [7]}}
        ),
        400,
        "InvalidParameters",
    )
    ann = ok(post(client, gid, {"actionType": "Announcement", "actionBody": {"message": "m"}}))["actionId"]
    assert_error(
        client.call(
            "POST", f"/groups/{gid}/actions/{ann}/responses", json={"actionType": "Announcement", "actionBody": {}}
        ),
        400,
        "InvalidParameters",
    )


def test_demo_tenant_has_actions(emu):
    demo = emu.admin.seed_demo(subscribers=10)
    gid = demo["groups"]["Field Operations"]
    client = make_client(emu, phone=demo["adminPhone"])
    surveys = ok(client.call("GET", f"/groups/{gid}/actions", params={"actionType": "Survey"}))["actions"]
    assert [s["actionBody"]["actionId"] for s in surveys] == [demo["actions"]["survey"]]
    full = ok(client.call("GET", f"/groups/{gid}/actions/{demo['actions']['survey']}", params={"getDetails": "true"}))
    assert len(full["actionDetails"]["responses"]) == 2
    jobs = ok(client.call("GET", f"/groups/{gid}/actions", params={"actionType": "Job"}))["actions"]
    assert jobs[0]["actionBody"]["responseCount"] == 1
    assert jobs[0]["actionBody"]["isCompleted"] is False


def test_a_viewer_is_refused_before_the_body_is_read(emu, setup):
    """Posting needs a member (the group's role check runs before the body is validated, as on every migrated
    route): a user who only sees the group through its parent gets 403 whatever the body, and nothing is stored."""
    client, _ = setup
    parent = emu.admin.create_group(name="P", admins=[OTHER], members=[ADMIN])
    child = emu.admin.create_group(name="C", admins=[OTHER], parentId=parent)
    for body in ({"actionType": "Nope", "actionBody": {}}, {"actionType": "Job", "actionBody": {"title": "t"}}):
        assert_error(post(client, child, body), 403, "Forbidden")
    assert emu.admin.actions(child) == []


def test_options_count_only_for_option_questions(emu, setup):
    """A Text question's ``options`` are ignored (not checked, stored empty), as before the move to models."""
    client, gid = setup
    question = {"title": "Why", "type": "text", "options": [{"nope": 1}, "x"]}
    sid = ok(post(client, gid, {"actionType": "Survey", "actionBody": {"title": "t", "questions": [question]}}))
    stored = ok(client.call("GET", f"/groups/{gid}/actions/{sid['actionId']}"))["actionDetails"]["questions"]
    assert stored == [{"title": "Why", "type": "Text", "options": []}]


@pytest.mark.parametrize(
    ("question", "answer"),
    [
        ({"title": "n", "type": "Numeric"}, 10**400),  # beyond a double: was stored, then broke every read
        ({"title": "d", "type": "Date"}, -1e308),  # epoch s -> ms overflowed to -inf: was a 500
    ],
    ids=["numeric-beyond-double", "date-overflow"],
)
def test_answers_beyond_a_double_are_bad_requests(emu, setup, question, answer):
    client, gid = setup
    sid = ok(post(client, gid, {"actionType": "Survey", "actionBody": {"title": "t", "questions": [question]}}))
    url = f"/groups/{gid}/actions/{sid['actionId']}/responses"
    err = assert_error(
        client.call("POST", url, json={"actionType": "Survey", "actionBody": {"answers": [answer]}}),
        400,
        "InvalidParameters",
    )
    assert "actionBody.answers[0]" in err["message"], err
    assert emu.admin.responses(sid["actionId"]) == []
    ok(client.call("GET", f"/groups/{gid}/actions/{sid['actionId']}", params={"getDetails": "true"}))


def test_generated_document_describes_each_action_variant():
    """AC1's body is one variant per action type (actionType in any case) plus the custom package (id), each with
    its own required fields; the Swagger's custom-package example id fits the id pattern."""
    doc = EmulatorApp().api.openapi_document("http://127.0.0.1:1")
    schemas = doc["components"]["schemas"]
    body = doc["paths"]["/v1/groups/{groupId}/actions"]["post"]["requestBody"]["content"]["application/json"]
    variants = [schemas[ref["$ref"].rsplit("/", 1)[1]] for ref in body["schema"]["anyOf"]]
    assert len(variants) == 7
    required = {tuple(v["required"]) for v in variants}
    assert required == {("actionType", "actionBody"), ("id", "actionBody")}
    job = schemas["JobPost"]
    assert re.fullmatch(job["properties"]["actionType"]["pattern"], "jOB")
    assert schemas["JobBody"]["required"] == ["title", "assignedTo"]
    assert schemas["SurveyBody"]["required"] == ["title", "questions"]
    assert schemas["PollBody"]["required"] == ["question", "choices"]
    assert schemas["LetsMeetBody"]["required"] == ["title", "startingTime"]
    package = schemas["CustomPost"]["properties"]["id"]["pattern"]
    assert re.fullmatch(package, "25b39b30-0806-4d17-b6a7-a39f21fa52e9")
    assert re.fullmatch(package, "com.microsoft.kaizala.miniapps.BdayMessage.12")
    assert "required" not in schemas["CustomBody"]
    responses = doc["paths"]["/v1/groups/{groupId}/actions/{actionId}/responses"]["post"]
    assert {"200", "400", "403", "404"} <= set(responses["responses"])
    assert not any(path.startswith("/_emulator") for path in doc["paths"])


def test_a_custom_package_response_may_say_survey_as_the_swagger_requires(emu, setup):
    """AC4: "actionType (Survey/Job) or id (package id)", and the Swagger marks both required: a client that
    sends both for a custom package is answered, not refused for a type mismatch; Job stays for jobs only."""
    client, gid = setup
    custom = ok(post(client, gid, {"id": "pkg.one", "actionBody": {"questions": [{"title": "n", "type": "Numeric"}]}}))[
        "actionId"
    ]
    url = f"/groups/{gid}/actions/{custom}/responses"
    ok(client.call("POST", url, json={"id": "pkg.one", "actionType": "Survey", "actionBody": {"answers": [7]}}))
    err = assert_error(
        client.call("POST", url, json={"actionType": "Job", "actionBody": {"isCompleted": True}}),
        400,
        "InvalidParameters",
    )
    assert "actionType" in err["message"]


def test_details_mark_an_updated_response(emu, setup):
    """AC3 with getDetails: a response updated through AC4 (same responseId) carries isUpdateResponse true."""
    client, gid = setup
    sid = ok(post(client, gid, {"actionType": "Survey", "actionBody": SURVEY}))["actionId"]
    url = f"/groups/{gid}/actions/{sid}/responses"
    rid = ok(client.call("POST", url, json={"actionType": "Survey", "actionBody": {"answers": ANSWERS}}))["responseId"]
    details = ok(client.call("GET", f"/groups/{gid}/actions/{sid}", params={"getDetails": True}))["actionDetails"]
    assert [r["isUpdateResponse"] for r in details["responses"]] == [False]
    again = {"actionType": "Survey", "responseId": rid, "actionBody": {"answers": ANSWERS}}
    ok(client.call("POST", url, json=again))
    details = ok(client.call("GET", f"/groups/{gid}/actions/{sid}", params={"getDetails": True}))["actionDetails"]
    assert [r["isUpdateResponse"] for r in details["responses"]] == [True]
