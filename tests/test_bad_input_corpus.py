"""A corpus of bad inputs across every operator: each fails with a clear error naming the field and the rule,
and not one HTTP call reaches the emulator (its call log proves it)."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_provider_kaizala.exceptions import KaizalaValidationError
from airflow_provider_kaizala.operators import actions as act
from airflow_provider_kaizala.operators import api
from airflow_provider_kaizala.operators import groups as grp
from airflow_provider_kaizala.operators import media as med
from airflow_provider_kaizala.operators import members as mem
from airflow_provider_kaizala.operators import messages as msg
from airflow_provider_kaizala.operators import reactions as rea
from airflow_provider_kaizala.operators import subscribers as sub
from airflow_provider_kaizala.operators import webhooks as web
from airflow_provider_kaizala.sensors.kaizala import KaizalaMembershipSensor
from airflow_provider_kaizala.transfers.kaizala_to_sql import KaizalaToSqlOperator

G = "df91cb37-97bf-4ccd-a8c2-b2a3ba5eac62@1"
PHONE = "+14155552671"
Q_OK = [{"title": "OK?", "type": "SingleOption", "options": ["Yes", "No"]}]

#: (operator class, arguments, field named in the error). ``{{ ... }}`` values are rendered with CONTEXT first.
CORPUS: list[tuple[type, dict[str, Any], str]] = [
    # the generic API operator
    (api.KaizalaApiOperator, {"endpoint": "access_token"}, "endpoint"),
    (api.KaizalaApiOperator, {"endpoint": "get_group", "path_ids": {"group_id": "a/b"}}, "group_id"),
    (api.KaizalaApiOperator, {"method": "GET", "path": "groups/../x"}, "path segment"),
    # messages
    (msg.KaizalaSendMessageOperator, {"group_id": G, "message": ""}, "message"),
    (msg.KaizalaSendMessageOperator, {"group_id": G, "message": "x" * 4001}, "message"),
    (msg.KaizalaSendMessageOperator, {"group_id": G, "message": "{{ params.long }}"}, "message"),
    (msg.KaizalaSendMessageOperator, {"group_id": "a/b", "message": "hi"}, "group_id"),
    (msg.KaizalaSendMessageOperator, {"group_id": "", "message": "hi"}, "group_id"),
    (msg.KaizalaSendMessageOperator, {"group_id": G, "message": "hi", "subscribers": ["9876543210"]}, "subscribers"),
    (msg.KaizalaSendMessageOperator, {"group_id": G, "message": "hi", "subscribers": []}, "subscribers"),
    (
        msg.KaizalaSendMessageOperator,
        {"group_id": G, "message": "hi", "subscribers": "{{ params.bad_phone }}"},
        "subscribers",
    ),
    (
        msg.KaizalaSendMessageOperator,
        {"group_id": G, "message": "hi", "send_to_all_subscribers": "maybe"},
        "send_to_all",
    ),
    (msg.KaizalaSendMessageOperator, {"group_id": G, "message": 42}, "message"),
    # groups
    (grp.KaizalaCreateGroupOperator, {"name": "", "welcome_message": "hi"}, "name"),
    (grp.KaizalaCreateGroupOperator, {"name": "n", "welcome_message": "hi", "group_type": "Public"}, "group_type"),
    (grp.KaizalaCreateGroupOperator, {"name": "n", "welcome_message": "hi", "members": ["+1"]}, "members[0]"),
    (
        grp.KaizalaCreateGroupOperator,
        {"name": "n", "welcome_message": "hi", "members": [f"+1415555{n:04d}" for n in range(101)]},
        "members",
    ),
    (grp.KaizalaListGroupsOperator, {"fetch_all_groups": "sometimes"}, "fetch_all_groups"),
    (grp.KaizalaListGroupsOperator, {"group_type": "Secret"}, "group_type"),
    (grp.KaizalaGetGroupOperator, {"group_id": "has space"}, "group_id"),
    (grp.KaizalaListSubGroupsOperator, {"group_id": G, "return_list": "both"}, "return_list"),
    (grp.KaizalaCreateSubGroupOperator, {"group_id": G, "name": " "}, "name"),
    (grp.KaizalaAddSubGroupOperator, {"group_id": G, "subgroup_ids": []}, "subgroup_ids"),
    (grp.KaizalaAddSubGroupOperator, {"group_id": G, "subgroup_ids": ["x/y"]}, "subgroup_ids[0]"),
    (grp.KaizalaRemoveSubGroupOperator, {"group_id": G, "subgroup_id": "?"}, "subgroup_id"),
    # members
    (mem.KaizalaListMembersOperator, {"group_id": "{{ params.bad_id }}"}, "group_id"),
    (mem.KaizalaAddMembersOperator, {"group_id": G, "phone_numbers": []}, "phone_numbers"),
    (mem.KaizalaAddMembersOperator, {"group_id": G, "phone_numbers": [PHONE, "+1 415"]}, "phone_numbers[1]"),
    (mem.KaizalaAddMembersOperator, {"group_id": G, "phone_numbers": "4155552671"}, "phone_numbers"),
    (mem.KaizalaRemoveMemberOperator, {"group_id": G}, "member"),
    (mem.KaizalaRemoveMemberOperator, {"group_id": G, "member_id": "m", "phone_number": PHONE}, "member"),
    (mem.KaizalaRemoveMemberOperator, {"group_id": G, "phone_number": "0800 123"}, "phone_number"),
    (mem.KaizalaSetMemberRoleOperator, {"group_id": G, "member_id": "m", "role": "Owner"}, "role"),
    # subscribers
    (sub.KaizalaListSubscribersOperator, {"group_id": G, "page_size": 0}, "page_size"),
    (sub.KaizalaListSubscribersOperator, {"group_id": G, "page_size": 51}, "page_size"),
    (sub.KaizalaListSubscribersOperator, {"group_id": G, "page_size": "{{ params.word }}"}, "page_size"),
    (sub.KaizalaAddSubscribersOperator, {"group_id": G, "phone_numbers": ["12345"]}, "phone_numbers[0]"),
    (sub.KaizalaRemoveSubscribersOperator, {"group_id": G, "phone_numbers": []}, "phone_numbers"),
    # media
    (med.KaizalaUploadMediaOperator, {"files": ["/tmp/virus.exe"]}, "file"),
    (med.KaizalaUploadMediaOperator, {"files": []}, "files"),
    (med.KaizalaSendMediaOperator, {"group_id": G}, "media"),
    # actions
    (act.KaizalaPostJobOperator, {"group_id": G, "title": "Fix", "assigned_to": []}, "assigned_to"),
    (act.KaizalaPostJobOperator, {"group_id": G, "title": "Fix", "assigned_to": ["nobody"]}, "assigned_to[0]"),
    (act.KaizalaPostJobOperator, {"group_id": G, "title": "", "assigned_to": [PHONE]}, "title"),
    (act.KaizalaPostJobOperator, {"group_id": G, "title": "Fix", "assigned_to": [PHONE], "due_in_hours": 0}, "due_in"),
    (act.KaizalaPostSurveyOperator, {"group_id": G, "title": "S", "questions": []}, "questions"),
    (
        act.KaizalaPostSurveyOperator,
        {"group_id": G, "title": "S", "questions": [{"title": "Pick", "type": "SingleOption"}]},
        "options",
    ),
    (
        act.KaizalaPostSurveyOperator,
        {"group_id": G, "title": "S", "questions": [{"title": "Q", "type": "Essay"}]},
        "question type",
    ),
    (act.KaizalaPostPollOperator, {"group_id": G, "question": "Lunch?", "choices": []}, "choices"),
    (act.KaizalaPostPollOperator, {"group_id": G, "question": "", "choices": ["a"]}, "question"),
    (
        act.KaizalaPostLetsMeetOperator,
        {"group_id": G, "title": "Standup", "starting_time": "tomorrow"},
        "starting_time",
    ),
    (
        act.KaizalaPostLetsMeetOperator,
        {"group_id": G, "title": "Standup", "starting_time": "2026-12-01T09:00:00Z", "place": {"name": "x"}},
        "place",
    ),
    (act.KaizalaPostAnnouncementOperator, {"group_id": G, "message": ""}, "message"),
    (act.KaizalaPostCustomActionOperator, {"group_id": G, "package_id": "a b", "action_body": {}}, "package_id"),
    (act.KaizalaListActionsOperator, {"group_id": G, "action_type": "Tweet"}, "action_type"),
    (act.KaizalaGetActionOperator, {"group_id": G, "action_id": ""}, "action_id"),
    (act.KaizalaPostActionResponseOperator, {"group_id": G, "action_id": "a", "action_body": {}}, "action"),
    (
        act.KaizalaPostActionResponseOperator,
        {"group_id": G, "action_id": "a", "action_body": {}, "action_type": "Job", "package_id": "p"},
        "action",
    ),
    # reactions
    (rea.KaizalaAddReactionOperator, {"group_id": G, "reference_id": "r", "reaction_type": "Love"}, "reaction_type"),
    (rea.KaizalaAddReactionOperator, {"group_id": G, "reference_id": "r", "reaction_type": "Comment"}, "comment"),
    (rea.KaizalaGetReactionSummaryOperator, {"group_id": G, "reference_id": "r/1"}, "reference_id"),
    # webhooks
    (
        web.KaizalaCreateWebhookOperator,
        {"object_id": G, "event_types": ["TextMessageCreated"], "callback_url": "ftp://x.example.com/"},
        "callback_url",
    ),
    (
        web.KaizalaCreateWebhookOperator,
        {"object_id": G, "event_types": ["SomethingHappened"], "callback_url": "https://x.example.com/"},
        "event_types",
    ),
    (
        web.KaizalaCreateWebhookOperator,
        {"object_id": G, "event_types": [], "callback_url": "https://x.example.com/"},
        "event_types",
    ),
    (web.KaizalaListWebhooksOperator, {"object_id": G, "object_type": "Person"}, "object_type"),
    (web.KaizalaUpdateWebhookOperator, {"webhook_id": "w"}, "changes"),
    (web.KaizalaDeleteWebhookOperator, {"webhook_id": "w/1"}, "webhook_id"),
    # sensor and transfer
    (KaizalaMembershipSensor, {"group_id": G, "kind": "everyone"}, "kind"),
    (KaizalaMembershipSensor, {"group_id": G, "min_changes": 0}, "min_changes"),
    (KaizalaToSqlOperator, {"table": "x; DROP TABLE y"}, "table"),
    (KaizalaToSqlOperator, {"group_id": G, "kind": "admins"}, "kind"),
]
CONTEXT = {
    "params": {
        "long": "y" * 5000,
        "phone": PHONE,
        "bad_phone": "4155552671",
        "bad_id": "group id with spaces",
        "word": "fifty",
    }
}


def test_the_corpus_is_large_enough():
    assert len(CORPUS) >= 50
    assert len({cls for cls, _, _ in CORPUS}) >= 25


@pytest.mark.parametrize(("operator", "arguments", "field"), CORPUS, ids=lambda v: getattr(v, "__name__", None))
def test_bad_input_fails_with_a_clear_error_before_any_call(tenant, operator, arguments, field):
    conn_id = tenant.hook().kaizala_conn_id
    op = operator(task_id="bad_input", kaizala_conn_id=conn_id, **arguments)
    if any("{{" in str(value) for value in arguments.values()):
        op.render_template_fields(CONTEXT)
    run = op.poke if isinstance(op, KaizalaMembershipSensor) else op.execute
    with pytest.raises(KaizalaValidationError) as err:
        run({})
    message = str(err.value)
    assert field in message, message
    assert message.startswith("Invalid"), message
    assert tenant.calls() == []
