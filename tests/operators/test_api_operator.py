"""KaizalaApiOperator against the emulator over HTTP: named endpoints, raw method + path, templated payloads,
the hook's rules (no repeat after an unknown outcome), secrets kept out of the result, and bad calls refused
before any HTTP call."""

from __future__ import annotations

import pytest

from airflow_provider_kaizala.exceptions import KaizalaOutcomeUnknownError, KaizalaValidationError
from airflow_provider_kaizala.operators.api import KaizalaApiOperator
from tests.operators.conftest import calls_to, conn_id, run

TOKEN = "api-operator-callback-token-5d2"


def test_named_endpoint_with_templated_ids(tenant):
    op = KaizalaApiOperator(
        task_id="members",
        kaizala_conn_id=conn_id(tenant),
        endpoint="list_members",
        path_ids={"group_id": "{{ params.group }}"},
    )
    op.render_template_fields({"params": {"group": tenant.group_id}})
    result = run(op)
    truth = tenant.emulator.admin.members(tenant.group_id)
    assert sorted(m["mobileNumber"] for m in result["members"]) == sorted(m["mobileNumber"] for m in truth)
    assert len(calls_to(tenant, "GET", f"/groups/{tenant.group_id}/members")) == 1


def test_named_endpoint_with_query(tenant):
    child = tenant.emulator.admin.create_group(
        name="Child", groupType="Group", admins=[tenant.connector["phone"]], parentId=tenant.group_id
    )
    result = run(
        KaizalaApiOperator(
            task_id="groups", kaizala_conn_id=conn_id(tenant), endpoint="LIST_GROUPS", query={"fetchAllGroups": "true"}
        )
    )
    assert {tenant.group_id, tenant.public_group_id, child} == {g["groupId"] for g in result["groups"]}


def test_raw_post_with_templated_payload_sends_once(tenant):
    op = KaizalaApiOperator(
        task_id="send",
        kaizala_conn_id=conn_id(tenant),
        method="post",
        path="/groups/{{ params.group }}/messages",
        payload={"message": "Report for {{ ds }}"},
    )
    op.render_template_fields({"ds": "2026-11-27", "params": {"group": tenant.group_id}})
    result = run(op)
    [message] = tenant.emulator.admin.messages(tenant.group_id)
    assert (message["message"], message["referenceId"]) == ("Report for 2026-11-27", result["referenceId"])


def test_a_raw_send_whose_answer_times_out_is_not_repeated(tenant):
    slow_conn = tenant.hook(timeout=0.5).kaizala_conn_id
    tenant.emulator.admin.faults(slow_rate=1, slow_seconds=1.5, slow_phase="after", fault_paths="messages")
    op = KaizalaApiOperator(
        task_id="send",
        kaizala_conn_id=slow_conn,
        method="POST",
        path=f"groups/{tenant.group_id}/messages",
        payload={"message": "Once"},
    )
    with pytest.raises(KaizalaOutcomeUnknownError):
        op.execute(context={})
    assert len(calls_to(tenant, "POST", "/messages")) == 1
    assert len(tenant.emulator.admin.messages(tenant.group_id)) == 1


def test_callback_tokens_never_reach_the_result(tenant, receiver, caplog):
    tenant.hook().create_webhook(tenant.group_id, ["TextMessageCreated"], receiver.url, callback_token=TOKEN)
    for args in (
        {"endpoint": "list_webhooks", "query": {"objectId": tenant.group_id, "objectType": "Group"}},
        {"method": "GET", "path": "webhook", "query": {"objectId": tenant.group_id, "objectType": "Group"}},
    ):
        result = run(KaizalaApiOperator(task_id="hooks", kaizala_conn_id=conn_id(tenant), **args))
        [webhook] = result["webhooks"]
        assert webhook["callbackUrl"] == receiver.url
        assert TOKEN not in str(result)
    assert TOKEN not in caplog.text


@pytest.mark.parametrize(
    ("args", "error"),
    [
        ({}, r"pass either endpoint, or method and path"),
        ({"endpoint": "list_groups", "method": "GET", "path": "groups"}, r"pass either endpoint"),
        ({"endpoint": "drop_everything"}, r"Invalid endpoint='drop_everything'"),
        ({"endpoint": "access_token"}, r"Invalid endpoint='access_token'"),
        ({"endpoint": "upload_media"}, r"Invalid endpoint='upload_media'"),
        ({"endpoint": "get_group"}, r"Invalid path_ids={}: endpoint get_group takes .*group_id"),
        ({"endpoint": "get_group", "path_ids": {"group_id": "g@1", "x": "y"}}, r"Invalid path_ids="),
        ({"endpoint": "get_group", "path_ids": "g@1"}, r"Invalid path_ids='g@1'"),
        ({"endpoint": "get_group", "path_ids": {"group_id": "a/b"}}, r"Invalid group_id='a/b'"),
        ({"endpoint": "get_group", "path_ids": {"group_id": ".."}}, r"Invalid group_id='..'"),
        ({"endpoint": "list_groups", "method": "GET"}, r"method and repeatable go with path"),
        ({"method": "PATCH", "path": "groups"}, r"Invalid method='PATCH'"),
        ({"path": "groups"}, r"Invalid method=None"),
        ({"method": "GET", "path": "groups/../../admin"}, r"Invalid path segment='..'"),
        ({"method": "GET", "path": "groups?x=1"}, r"Invalid path segment='groups\?x=1'"),
        ({"method": "GET", "path": "groups//members"}, r"Invalid path segment=''"),
        ({"method": "GET", "path": "accessToken"}, r"the access_token call is not made"),
        ({"method": "GET", "path": "groups", "path_ids": {"group_id": "g"}}, r"path_ids go with endpoint"),
        ({"method": "GET", "path": "groups", "repeatable": "perhaps"}, r"Invalid repeatable='perhaps'"),
    ],
)
def test_bad_calls_fail_before_any_call(tenant, args, error):
    op = KaizalaApiOperator(task_id="api", kaizala_conn_id=conn_id(tenant), **args)
    with pytest.raises(KaizalaValidationError, match=error):
        op.execute(context={})
    assert tenant.calls() == []
