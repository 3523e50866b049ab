"""Action and response operators against the emulator over HTTP, checked against the emulator's actions and
responses; and the template fields of every operator of the media, action, reaction and webhook modules."""

from __future__ import annotations

import json

import pytest

from airflow_provider_kaizala.exceptions import KaizalaOutcomeUnknownError, KaizalaValidationError
from airflow_provider_kaizala.hooks.actions import media_body, poll_body
from airflow_provider_kaizala.operators.actions import (
    KaizalaGetActionOperator,
    KaizalaListActionsOperator,
    KaizalaPostActionResponseOperator,
    KaizalaPostAnnouncementOperator,
    KaizalaPostCustomActionOperator,
    KaizalaPostJobOperator,
    KaizalaPostLetsMeetOperator,
    KaizalaPostPollOperator,
    KaizalaPostSurveyOperator,
    action_id,
)
from tests.conftest import Tenant
from tests.operators.conftest import calls_to, conn_id, png, run

QUESTIONS = [
    {"title": "Is the site safe?", "type": "SingleOption", "options": ["Yes", "No"]},
    {"title": "Workers on site", "type": "Numeric"},
    {"title": "Notes"},
]
PACKAGE = "com.contoso.inspection.1"


def posted(tenant: Tenant, group_id: str | None = None) -> list[dict]:
    """Ground truth: the actions the emulator recorded for a group, in posting order."""
    return tenant.emulator.admin.actions(group_id or tenant.group_id)


def member(tenant: Tenant, index: int = 1) -> str:
    return sorted(m["mobileNumber"] for m in tenant.emulator.admin.members(tenant.group_id))[index]


# -------------------------------------------------------------------------------------------- post


def test_post_job(tenant):
    assignees = [member(tenant, 1), member(tenant, 2)]
    result = run(
        KaizalaPostJobOperator(
            task_id="job",
            kaizala_conn_id=conn_id(tenant),
            group_id=tenant.group_id,
            title="Inspect the pump",
            assigned_to=assignees,
            due_in_hours="48",
        )
    )
    [action] = posted(tenant)
    assert result == {"referenceId": action["referenceId"], "actionId": action["actionId"], "actionType": "Job"}
    assert action["actionType"] == "Job"
    assert (action["actionBody"]["title"], action["actionBody"]["assignedTo"]) == ("Inspect the pump", assignees)
    assert action["actionBody"]["dueDateMs"] - action["sentAtMs"] == pytest.approx(48 * 3_600_000, abs=60_000)
    assert action["sender"] == tenant.connector["phone"]
    assert len(calls_to(tenant, "POST", "/actions")) == 1


def test_post_templated_survey(tenant):
    op = KaizalaPostSurveyOperator(
        task_id="survey",
        kaizala_conn_id=conn_id(tenant),
        group_id="{{ params.group }}",
        title="Safety check {{ ds }}",
        questions=[
            {"title": "{{ params.q }}", "type": "SingleOption", "options": ["Yes", "{{ params.no }}"]},
            *QUESTIONS[1:],
        ],
        due_in_hours="{{ params.hours }}",
        is_anonymous="{{ params.anonymous }}",
    )
    op.render_template_fields(
        {
            "ds": "2026-11-27",
            "params": {"group": tenant.group_id, "q": "Safe?", "no": "No", "hours": 6, "anonymous": True},
        }
    )
    result = run(op)
    [action] = posted(tenant)
    assert result == {"referenceId": action["referenceId"], "actionId": action["actionId"], "actionType": "Survey"}
    body = action["actionBody"]
    assert body["title"] == "Safety check 2026-11-27"
    assert [(q["title"], q["type"], [o["title"] for o in q["options"]]) for q in body["questions"]] == [
        ("Safe?", "SingleOption", ["Yes", "No"]),
        ("Workers on site", "Numeric", []),
        ("Notes", "Text", []),
    ]
    assert body["isAnonymous"] is True
    assert body["expiryMs"] - action["sentAtMs"] == pytest.approx(6 * 3_600_000, abs=60_000)


def test_post_poll_to_chosen_subscribers(tenant):
    chosen = sorted(s["mobileNumber"] for s in tenant.emulator.admin.subscribers(tenant.public_group_id))[:2]
    result = run(
        KaizalaPostPollOperator(
            task_id="poll",
            kaizala_conn_id=conn_id(tenant),
            group_id=tenant.public_group_id,
            question="Best delivery slot?",
            choices=["Morning", "Evening"],
            subscribers=chosen,
        )
    )
    [action] = posted(tenant, tenant.public_group_id)
    assert result["actionId"] == action["actionId"]
    assert result["actionType"] == "Poll"
    assert [c["title"] for c in action["actionBody"]["choices"]] == ["Morning", "Evening"]
    assert (sorted(action["subscribers"]), action["sendToAllSubscribers"]) == (chosen, False)
    assert action["actionBody"]["expiryMs"] - action["sentAtMs"] == pytest.approx(720 * 3_600_000, abs=60_000)


def test_post_lets_meet(tenant):
    result = run(
        KaizalaPostLetsMeetOperator(
            task_id="meet",
            kaizala_conn_id=conn_id(tenant),
            group_id=tenant.group_id,
            title="Weekly sync",
            starting_time="2026-12-01T10:30:00+05:30",
            duration_minutes="45",
            place={"latitude": 28.61, "longitude": 77.2, "name": "Depot"},
            agenda="Safety, then stock",
        )
    )
    [action] = posted(tenant)
    assert result["actionType"] == action["actionType"] == "LetsMeet"
    body = action["actionBody"]
    assert (body["startingTime"], body["duration"], body["agenda"]) == (
        "2026-12-01T05:00:00Z",
        45,
        "Safety, then stock",
    )
    assert body["place"] == {"latitude": 28.61, "longitude": 77.2, "name": "Depot"}


def test_post_announcement_with_media_to_all_subscribers(tenant):
    resource = tenant.hook().upload_media([("poster.png", png())])
    result = run(
        KaizalaPostAnnouncementOperator(
            task_id="announce",
            kaizala_conn_id=conn_id(tenant),
            group_id=tenant.public_group_id,
            title="New store",
            message="We open on Monday.",
            media_resources=[resource],
            send_to_all_subscribers=True,
        )
    )
    [action] = posted(tenant, tenant.public_group_id)
    assert result == {
        "referenceId": action["referenceId"],
        "actionId": action["actionId"],
        "actionType": "Announcement",
    }
    assert (action["actionBody"]["title"], action["actionBody"]["message"]) == ("New store", "We open on Monday.")
    assert [m["fileName"] for m in action["actionBody"]["media"]] == ["poster.png"]
    assert action["sendToAllSubscribers"] is True


def test_post_custom_action(tenant):
    body = {"title": "Inspection {{ ds }}", "questions": [{"title": "Pressure", "type": "Numeric"}]}
    op = KaizalaPostCustomActionOperator(
        task_id="custom",
        kaizala_conn_id=conn_id(tenant),
        group_id=tenant.group_id,
        package_id=PACKAGE,
        action_body=body,
    )
    op.render_template_fields({"ds": "2026-11-27"})
    result = run(op)
    [action] = posted(tenant)
    assert result == {
        "referenceId": action["referenceId"],
        "actionId": action["actionId"],
        "actionType": "Custom",
        "packageId": PACKAGE,
    }
    assert (action["actionType"], action["actionPackageId"]) == ("Custom", PACKAGE)
    assert action["actionBody"]["title"] == "Inspection 2026-11-27"


@pytest.mark.parametrize(
    ("operator", "args", "error"),
    [
        (
            KaizalaPostSurveyOperator,
            {"title": "S", "questions": [{"title": "Pick", "type": "SingleOption"}]},
            r"Invalid options of question 'Pick'=None: expected a list",
        ),
        (
            KaizalaPostSurveyOperator,
            {"title": "S", "questions": [{"title": "Pick", "type": "Dropdown"}]},
            r"Invalid question type='Dropdown'",
        ),
        (KaizalaPostSurveyOperator, {"title": "S", "questions": []}, r"Invalid questions=\[\]"),
        (KaizalaPostSurveyOperator, {"title": "S", "questions": QUESTIONS, "is_anonymous": "maybe"}, "is_anonymous"),
        (KaizalaPostJobOperator, {"title": "J", "assigned_to": []}, r"Invalid assigned_to=\[\]: expected at least"),
        (KaizalaPostJobOperator, {"title": "J", "assigned_to": ["98100"]}, r"Invalid assigned_to\[0\]='98100'"),
        (KaizalaPostJobOperator, {"title": "J", "assigned_to": "919800000001"}, r"Invalid assigned_to='9198"),
        (KaizalaPostJobOperator, {"title": " ", "assigned_to": ["+919800000001"]}, r"Invalid title=' '"),
        (
            KaizalaPostJobOperator,
            {"title": "J", "assigned_to": ["+919800000001"], "due_in_hours": 0},
            r"Invalid due_in_hours=0",
        ),
        (KaizalaPostPollOperator, {"question": "Q?", "choices": []}, r"Invalid choices=\[\]"),
        (KaizalaPostPollOperator, {"question": "Q?", "choices": "A,B"}, r"Invalid choices='A,B'"),
        (KaizalaPostLetsMeetOperator, {"title": "M", "starting_time": "next tuesday"}, r"Invalid starting_time="),
        (
            KaizalaPostLetsMeetOperator,
            {"title": "M", "starting_time": "2026-12-01T10:00:00Z", "place": {"name": "x"}},
            r"Invalid place=",
        ),
        (KaizalaPostAnnouncementOperator, {"message": ""}, r"Invalid message=''"),
        (KaizalaPostCustomActionOperator, {"package_id": "a b", "action_body": {}}, r"Invalid package_id='a b'"),
        (KaizalaPostCustomActionOperator, {"package_id": PACKAGE, "action_body": "{}"}, r"Invalid action_body='{}'"),
        (
            KaizalaPostPollOperator,
            {"question": "Q?", "choices": ["A"], "group_id": "g/1"},
            r"Invalid group_id='g/1'",
        ),
        (
            KaizalaPostPollOperator,
            {"question": "Q?", "choices": ["A"], "subscribers": ["+919800000001"], "send_to_all_subscribers": True},
            r"not both",
        ),
    ],
)
def test_bad_actions_fail_before_any_call(tenant, operator, args, error):
    fields = {"group_id": tenant.group_id, **args}
    op = operator(task_id="t", kaizala_conn_id=conn_id(tenant), **fields)
    with pytest.raises(KaizalaValidationError, match=error):
        op.execute(context={})
    assert tenant.calls() == []
    assert posted(tenant) == []


def test_templated_bad_value_fails_before_any_call(tenant):
    op = KaizalaPostJobOperator(
        task_id="job",
        kaizala_conn_id=conn_id(tenant),
        group_id=tenant.group_id,
        title="Inspect",
        assigned_to=["{{ params.phone }}"],
        due_in_hours="{{ params.hours }}",
    )
    op.render_template_fields({"params": {"phone": "+919800000001", "hours": "soon"}})
    with pytest.raises(KaizalaValidationError, match=r"Invalid due_in_hours='soon'"):
        op.execute(context={})
    assert tenant.calls() == []


@pytest.mark.parametrize(
    ("operator", "args"),
    [
        (KaizalaPostJobOperator, {"title": "Inspect", "assigned_to": ["+919800000001"]}),
        (KaizalaPostSurveyOperator, {"title": "Check", "questions": QUESTIONS}),
    ],
)
def test_a_post_whose_answer_times_out_is_not_repeated(tenant, operator, args):
    slow_conn = tenant.hook(timeout=0.5).kaizala_conn_id
    tenant.emulator.admin.faults(slow_rate=1, slow_seconds=1.5, slow_phase="after", fault_paths="actions")
    op = operator(task_id="t", kaizala_conn_id=slow_conn, group_id=tenant.group_id, **args)
    with pytest.raises(KaizalaOutcomeUnknownError):
        op.execute(context={})
    assert len(posted(tenant)) == 1
    assert len(calls_to(tenant, "POST", "/actions")) == 1


# -------------------------------------------------------------------------------------------- list


def _post_polls(tenant: Tenant, count: int) -> list[str]:
    hook = tenant.hook()
    return [
        hook.post_action(tenant.group_id, poll_body(f"Q{i}?", ["A", "B"]), action_type="Poll")["actionId"]
        for i in range(count)
    ]


def test_list_actions_across_pages_returns_each_once(tenant):
    ids = _post_polls(tenant, 7)
    hook = tenant.hook()
    hook.post_action(tenant.group_id, {"title": "Other", "assignedTo": ["+919800000001"]}, action_type="Job")
    op = KaizalaListActionsOperator(
        task_id="ls", kaizala_conn_id=conn_id(tenant), group_id=tenant.group_id, action_type="poll", page_size="3"
    )
    result = run(op)
    assert result == {"groupId": tenant.group_id, "actionType": "Poll", "count": 7, "actionIds": ids}
    assert ids == [a["actionId"] for a in posted(tenant) if a["actionType"] == "Poll"]
    assert len(calls_to(tenant, "GET", "/actions")) >= 3  # pages of 3 (the default page would take one call)


def test_list_actions_from_a_date_to_json_lines_and_xcom(tenant, tmp_path):
    ids = _post_polls(tenant, 5)
    truth = posted(tenant)
    op = KaizalaListActionsOperator(
        task_id="ls",
        kaizala_conn_id=conn_id(tenant),
        group_id=tenant.group_id,
        action_type="Poll",
        from_date_ms="{{ params.since }}",
        page_size="10",
        output_path=str(tmp_path) + "/{{ ds }}/polls.jsonl",
        return_list=True,
    )
    op.render_template_fields({"ds": "2026-11-27", "params": {"since": truth[2]["sentAtMs"]}})
    result = run(op)
    target = tmp_path / "2026-11-27" / "polls.jsonl"
    rows = [json.loads(line) for line in target.read_text().splitlines()]
    assert [action_id(r) for r in rows] == [action_id(a) for a in result["actions"]] == ids[2:]
    assert (result["count"], result["path"]) == (3, target.as_uri())
    assert "actionIds" not in result
    assert rows[0]["actionBody"]["question"] == "Q2?"


def test_list_actions_bad_page_size_fails_before_any_call(tenant):
    op = KaizalaListActionsOperator(
        task_id="ls", kaizala_conn_id=conn_id(tenant), group_id=tenant.group_id, action_type="Poll", page_size="0"
    )
    with pytest.raises(KaizalaValidationError, match="page_size"):
        op.execute(context={})
    op = KaizalaListActionsOperator(
        task_id="ls", kaizala_conn_id=conn_id(tenant), group_id=tenant.group_id, action_type="Sticker"
    )
    with pytest.raises(KaizalaValidationError, match="action_type='Sticker'"):
        op.execute(context={})
    assert tenant.calls() == []


# --------------------------------------------------------------------------------- get and respond


def test_survey_responses_appear_in_the_action_details(tenant):
    survey = run(
        KaizalaPostSurveyOperator(
            task_id="survey",
            kaizala_conn_id=conn_id(tenant),
            group_id=tenant.group_id,
            title="Check",
            questions=QUESTIONS,
        )
    )
    responses = []
    for answers in (["Yes", 12, "All good"], ["No", 3, "Loose cable"]):
        op = KaizalaPostActionResponseOperator(
            task_id="respond",
            kaizala_conn_id=conn_id(tenant),
            group_id=tenant.group_id,
            action_id="{{ params.action }}",
            action_type="Survey",
            action_body={"answers": answers},
        )
        op.render_template_fields({"params": {"action": survey["actionId"]}})
        responses.append(run(op))
    truth = tenant.emulator.admin.responses(survey["actionId"])
    assert responses == [{"responseId": r["responseId"], "actionId": survey["actionId"]} for r in truth]
    assert [r["answers"] for r in truth] == [["Yes", 12, "All good"], ["No", 3, "Loose cable"]]

    plain = run(
        KaizalaGetActionOperator(
            task_id="get", kaizala_conn_id=conn_id(tenant), group_id=tenant.group_id, action_id=survey["actionId"]
        )
    )
    assert plain["actionId"] == survey["actionId"]
    assert plain["actionType"] == "Survey"
    assert plain["actionDetails"]["responseCount"] == 2
    assert "responses" not in plain["actionDetails"]
    detailed = run(
        KaizalaGetActionOperator(
            task_id="get",
            kaizala_conn_id=conn_id(tenant),
            group_id=tenant.group_id,
            action_id=survey["actionId"],
            get_details="true",
        )
    )
    got = detailed["actionDetails"]["responses"]
    assert [r["responseId"] for r in got] == [r["responseId"] for r in responses]
    answers = [[q["answer"] for q in r["responseDetails"]["responseWithQuestions"][:3]] for r in got]
    assert answers == [["Yes", 12, "All good"], ["No", 3, "Loose cable"]]


def test_job_response_completes_the_job_and_updates_by_response_id(tenant):
    me = tenant.connector["phone"]
    job = run(
        KaizalaPostJobOperator(
            task_id="job", kaizala_conn_id=conn_id(tenant), group_id=tenant.group_id, title="Close", assigned_to=[me]
        )
    )
    first = run(
        KaizalaPostActionResponseOperator(
            task_id="r",
            kaizala_conn_id=conn_id(tenant),
            group_id=tenant.group_id,
            action_id=job["actionId"],
            action_type="Job",
            action_body={"isCompleted": False},
        )
    )
    again = run(
        KaizalaPostActionResponseOperator(
            task_id="r",
            kaizala_conn_id=conn_id(tenant),
            group_id=tenant.group_id,
            action_id=job["actionId"],
            action_type="Job",
            action_body={"isCompleted": True},
            response_id=first["responseId"],
        )
    )
    assert again == first == {"responseId": first["responseId"], "actionId": job["actionId"]}
    [truth] = tenant.emulator.admin.responses(job["actionId"])
    assert (truth["responseId"], truth["isCompleted"], truth["updateCount"]) == (first["responseId"], True, 1)
    details = tenant.hook().get_action(tenant.group_id, job["actionId"], get_details=True)["actionDetails"]
    assert details["status"] is True
    assert [(r["assignee"], r["isCompleted"]) for r in details["responses"]] == [(me, True)]


def test_custom_action_response_by_package_id(tenant):
    action = tenant.hook().post_action(
        tenant.group_id, {"title": "Gauge", "questions": [{"title": "Bar", "type": "Numeric"}]}, package_id=PACKAGE
    )
    result = run(
        KaizalaPostActionResponseOperator(
            task_id="r",
            kaizala_conn_id=conn_id(tenant),
            group_id=tenant.group_id,
            action_id=action["actionId"],
            package_id=PACKAGE,
            action_body={"answers": [2.5]},
        )
    )
    [truth] = tenant.emulator.admin.responses(action["actionId"])
    assert (result["responseId"], truth["answers"]) == (truth["responseId"], [2.5])


@pytest.mark.parametrize(
    ("args", "error"),
    [
        ({"action_type": "Job", "package_id": PACKAGE}, r"exactly one of action_type .* or package_id"),
        ({}, r"exactly one of action_type .* or package_id"),
        ({"action_type": "Announcement"}, r"Invalid action_type='Announcement'"),
        ({"action_type": "Job", "action_body": "{'isCompleted': True}"}, r"Invalid action_body="),
        ({"action_type": "Job", "response_id": "a b"}, r"Invalid response_id='a b'"),
        ({"action_type": "Job", "action_id": ""}, r"Invalid action_id=''"),
    ],
)
def test_bad_responses_fail_before_any_call(tenant, args, error):
    fields = {"group_id": tenant.group_id, "action_id": "some-action", "action_body": {"isCompleted": True}, **args}
    op = KaizalaPostActionResponseOperator(task_id="r", kaizala_conn_id=conn_id(tenant), **fields)
    with pytest.raises(KaizalaValidationError, match=error):
        op.execute(context={})
    assert tenant.calls() == []


def test_a_response_whose_answer_times_out_is_not_repeated(tenant):
    job = tenant.hook().post_action(
        tenant.group_id, {"title": "T", "assignedTo": [tenant.connector["phone"]]}, action_type="Job"
    )
    slow_conn = tenant.hook(timeout=0.5).kaizala_conn_id
    tenant.emulator.admin.faults(slow_rate=1, slow_seconds=1.5, slow_phase="after", fault_paths="responses")
    op = KaizalaPostActionResponseOperator(
        task_id="r",
        kaizala_conn_id=slow_conn,
        group_id=tenant.group_id,
        action_id=job["actionId"],
        action_type="Job",
        action_body={"isCompleted": True},
    )
    with pytest.raises(KaizalaOutcomeUnknownError):
        op.execute(context={})
    assert len(tenant.emulator.admin.responses(job["actionId"])) == 1
    assert len(calls_to(tenant, "POST", "/responses")) == 1


def test_media_action_takes_a_media_body(tenant):
    """The body builders and the send-media operator agree with the emulator on media actions."""
    resource = tenant.hook().upload_media([("a.png", png())])
    action = tenant.hook().post_action(tenant.group_id, media_body(resource, "x"), action_type="Image")
    [truth] = posted(tenant)
    assert truth["referenceId"] == action["referenceId"]
