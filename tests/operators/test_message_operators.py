"""The message operator against the emulator, and the template fields of every operator."""

from __future__ import annotations

import pytest

from airflow_provider_kaizala.exceptions import KaizalaBadRequestError, KaizalaValidationError
from airflow_provider_kaizala.operators.messages import KaizalaSendMessageOperator
from tests.conftest import Tenant
from tests.operators.conftest import conn_id, run


def sent(tenant: Tenant, group_id: str) -> list[tuple]:
    """Ground truth: the messages the emulator recorded for a group."""
    return [
        (m["referenceId"], m["message"], sorted(m["subscribers"] or []), m["sendToAllSubscribers"], m["sender"])
        for m in tenant.emulator.admin.messages(group_id)
    ]


def some_subscribers(tenant: Tenant, count: int) -> list[str]:
    return sorted(s["mobileNumber"] for s in tenant.emulator.admin.subscribers(tenant.public_group_id))[:count]


# ------------------------------------------------------------------------------------ messages


def test_send_message_to_group(tenant):
    result = run(
        KaizalaSendMessageOperator(
            task_id="send", kaizala_conn_id=conn_id(tenant), group_id=tenant.group_id, message="Shift starts at 9"
        )
    )
    [(reference, text, targets, to_all, sender)] = sent(tenant, tenant.group_id)
    assert (text, targets, to_all, sender) == ("Shift starts at 9", [], False, tenant.connector["phone"])
    assert result == {"referenceId": reference, "groupId": tenant.group_id, "audience": "group"}


def test_send_templated_message(tenant):
    op = KaizalaSendMessageOperator(
        task_id="send",
        kaizala_conn_id="{{ params.conn }}",
        group_id="{{ params.group }}",
        message="Report for {{ ds }}: {{ params.rows }} rows",
    )
    op.render_template_fields(
        {"ds": "2026-11-27", "params": {"conn": conn_id(tenant), "group": tenant.group_id, "rows": 42}}
    )
    result = run(op)
    [(reference, text, *_)] = sent(tenant, tenant.group_id)
    assert text == "Report for 2026-11-27: 42 rows"
    assert result["referenceId"] == reference


def test_send_message_to_chosen_subscribers(tenant):
    chosen = some_subscribers(tenant, 3)
    op = KaizalaSendMessageOperator(
        task_id="send",
        kaizala_conn_id=conn_id(tenant),
        group_id=tenant.public_group_id,
        message="Offer",
        subscribers=["{{ params.first }}", *chosen[1:]],
    )
    op.render_template_fields({"params": {"first": chosen[0]}})
    result = run(op)
    assert sent(tenant, tenant.public_group_id) == [
        (result["referenceId"], "Offer", chosen, False, tenant.connector["phone"])
    ]
    assert result["audience"] == "subscribers"


def test_send_message_to_all_subscribers(tenant):
    op = KaizalaSendMessageOperator(
        task_id="send",
        kaizala_conn_id=conn_id(tenant),
        group_id=tenant.public_group_id,
        message="Everyone",
        send_to_all_subscribers="{{ params.all }}",
    )
    op.render_template_fields({"params": {"all": True}})
    result = run(op)
    assert sent(tenant, tenant.public_group_id) == [
        (result["referenceId"], "Everyone", [], True, tenant.connector["phone"])
    ]
    assert result == {
        "referenceId": result["referenceId"],
        "groupId": tenant.public_group_id,
        "audience": "allSubscribers",
    }
    sends = [c for c in tenant.calls() if c["method"] == "POST" and c["path"].endswith("/messages")]
    assert len(sends) == 1


def test_send_to_subscribers_of_a_private_group_is_refused(tenant):
    op = KaizalaSendMessageOperator(
        task_id="send",
        kaizala_conn_id=conn_id(tenant),
        group_id=tenant.group_id,
        message="Nope",
        send_to_all_subscribers=True,
    )
    with pytest.raises(KaizalaBadRequestError):
        op.execute(context={})
    assert sent(tenant, tenant.group_id) == []


@pytest.mark.parametrize(
    ("fields", "params", "error"),
    [
        ({"message": "{{ params.text }}"}, {"text": ""}, r"Invalid message='': may not be empty"),
        ({"message": "{{ params.text }}"}, {"text": "   "}, r"Invalid message='   '"),
        ({"message": "{{ params.text }}"}, {"text": "x" * 4001}, r"message=.*4001 characters"),
        ({"group_id": "{{ params.group }}"}, {"group": "bad group"}, r"Invalid group_id='bad group'"),
        ({"group_id": "{{ params.group }}"}, {"group": "a/b"}, r"Invalid group_id='a/b'"),
        ({"subscribers": ["{{ params.phone }}"]}, {"phone": "98765"}, r"subscribers\[0\]='98765'"),
        ({"subscribers": "{{ params.phones }}"}, {"phones": ["+919800000001"]}, r"Invalid subscribers="),
        (
            {"subscribers": ["+919800000001"], "send_to_all_subscribers": "{{ params.all }}"},
            {"all": True},
            r"not both",
        ),
        ({"send_to_all_subscribers": "{{ params.all }}"}, {"all": "yes"}, r"send_to_all_subscribers='yes'"),
    ],
)
def test_templated_bad_value_fails_before_any_call(tenant, fields, params, error):
    args = {"group_id": tenant.public_group_id, "message": "Hello", **fields}
    op = KaizalaSendMessageOperator(task_id="send", kaizala_conn_id=conn_id(tenant), **args)
    op.render_template_fields({"params": params})
    with pytest.raises(KaizalaValidationError, match=error):
        op.execute(context={})
    assert tenant.calls() == []
    assert sent(tenant, tenant.public_group_id) == []
