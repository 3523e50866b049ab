"""Webhook operators against the emulator over HTTP, with a real callback receiver on 127.0.0.1."""

from __future__ import annotations

import json
import time

import pytest

from airflow_provider_kaizala.exceptions import KaizalaBadRequestError, KaizalaValidationError
from airflow_provider_kaizala.operators.webhooks import (
    KaizalaCreateWebhookOperator,
    KaizalaDeleteWebhookOperator,
    KaizalaListWebhooksOperator,
    KaizalaUpdateWebhookOperator,
)
from tests.conftest import Tenant
from tests.operators.conftest import Receiver, conn_id, run

TOKEN = "s3cr3t-callback-token-7f1e"


def registered(tenant: Tenant) -> dict[str, dict]:
    """Ground truth: this tenant's webhooks in the emulator, by id."""
    return {w["id"]: w for w in tenant.emulator.admin.webhooks() if w["creator"] == tenant.application_id}


def create(tenant: Tenant, receiver: Receiver, **args) -> str:
    fields = {
        "object_id": tenant.group_id,
        "event_types": ["TextMessageCreated", "JobCreated"],
        "callback_url": receiver.url,
        "callback_token": TOKEN,
        "callback_context": "airflow-tests",
        **args,
    }
    result = run(KaizalaCreateWebhookOperator(task_id="create", kaizala_conn_id=conn_id(tenant), **fields))
    assert set(result) == {"webhookId"}
    return result["webhookId"]


def test_create_webhook_and_receive_a_message_event(tenant, receiver, caplog):
    op = KaizalaCreateWebhookOperator(
        task_id="create",
        kaizala_conn_id=conn_id(tenant),
        object_id="{{ params.group }}",
        event_types=["TextMessageCreated"],
        callback_url="{{ params.url }}",
        callback_token="{{ params.token }}",
        callback_context="ctx-{{ ds }}",
    )
    op.render_template_fields(
        {"ds": "2026-11-27", "params": {"group": tenant.group_id, "url": receiver.url, "token": TOKEN}}
    )
    result = run(op)
    truth = registered(tenant)
    assert result == {"webhookId": next(iter(truth))}
    stored = truth[result["webhookId"]]
    assert (stored["objectId"], stored["objectType"], stored["events"]) == (
        tenant.group_id,
        "Group",
        ["TextMessageCreated"],
    )
    assert (stored["callbackUrl"], stored["callbackToken"], stored["active"]) == (receiver.url, TOKEN, True)
    assert receiver.validations == 1

    tenant.hook().send_message(tenant.group_id, "Delivered to the webhook")
    [(headers, envelope)] = receiver.wait(1)
    assert headers["kz-callback-token"] == TOKEN
    assert (envelope["eventType"], envelope["data"]["text"], envelope["context"]) == (
        "TextMessageCreated",
        "Delivered to the webhook",
        "ctx-2026-11-27",
    )
    assert envelope["subscriptionId"] == result["webhookId"]
    assert TOKEN not in caplog.text


def test_list_webhooks_never_returns_the_callback_token(tenant, receiver):
    first = create(tenant, receiver)
    second = create(tenant, receiver, event_types=["MemberAdded"], callback_token="another-secret-token")
    result = run(KaizalaListWebhooksOperator(task_id="ls", kaizala_conn_id=conn_id(tenant), object_id=tenant.group_id))
    assert result == {
        "count": 2,
        "webhooks": [
            {"id": first, "events": ["TextMessageCreated", "JobCreated"], "callbackUrl": receiver.url, "active": True},
            {"id": second, "events": ["MemberAdded"], "callbackUrl": receiver.url, "active": True},
        ],
    }
    text = json.dumps(result)
    assert TOKEN not in text
    assert "another-secret-token" not in text
    assert "allbackToken" not in text
    # The API itself does return it (so dropping it is the operator's doing).
    assert {w["callbackToken"] for w in tenant.hook().list_webhooks(tenant.group_id)} == {
        TOKEN,
        "another-secret-token",
    }


def test_deactivate_reactivate_and_change_a_webhook(tenant, receiver):
    webhook_id = create(tenant, receiver)
    paused = run(
        KaizalaUpdateWebhookOperator(
            task_id="pause", kaizala_conn_id=conn_id(tenant), webhook_id=webhook_id, active=False
        )
    )
    assert paused == {"webhookId": webhook_id, "updated": ["active"]}
    assert registered(tenant)[webhook_id]["active"] is False
    hook = tenant.hook()
    hook.send_message(tenant.group_id, "Nobody hears this")
    time.sleep(0.3)
    assert receiver.events == []

    op = KaizalaUpdateWebhookOperator(
        task_id="resume",
        kaizala_conn_id=conn_id(tenant),
        webhook_id="{{ params.id }}",
        active="{{ params.on }}",
        event_types=["TextMessageCreated"],
        callback_context="resumed",
        callback_token="rotated-token",
    )
    op.render_template_fields({"params": {"id": webhook_id, "on": True}})
    resumed = run(op)
    assert resumed == {
        "webhookId": webhook_id,
        "updated": ["event_types", "callback_token", "callback_context", "active"],
    }
    stored = registered(tenant)[webhook_id]
    assert (stored["active"], stored["events"], stored["callbackToken"], stored["callBackContext"]) == (
        True,
        ["TextMessageCreated"],
        "rotated-token",
        "resumed",
    )
    hook.send_message(tenant.group_id, "Heard again")
    [(headers, envelope)] = receiver.wait(1)
    assert (headers["kz-callback-token"], envelope["data"]["text"], envelope["context"]) == (
        "rotated-token",
        "Heard again",
        "resumed",
    )


def test_delete_a_webhook_and_delete_again(tenant, receiver):
    webhook_id = create(tenant, receiver)
    keep = create(tenant, receiver)
    op = KaizalaDeleteWebhookOperator(task_id="rm", kaizala_conn_id=conn_id(tenant), webhook_id=webhook_id)
    assert run(op) == {"webhookId": webhook_id, "deleted": True, "reason": None}
    assert set(registered(tenant)) == {keep}
    assert run(op) == {"webhookId": webhook_id, "deleted": False, "reason": "NotFound"}
    assert set(registered(tenant)) == {keep}


def test_a_callback_that_does_not_echo_the_token_is_refused(tenant, receiver):
    receiver.echo = False
    with pytest.raises(KaizalaBadRequestError, match="validationToken"):
        create(tenant, receiver)
    assert registered(tenant) == {}


@pytest.mark.parametrize(
    ("args", "error"),
    [
        ({"callback_url": "ftp://example.com/hook"}, r"Invalid callback_url='ftp://example.com/hook'"),
        ({"callback_url": "{{ params.empty }}"}, r"Invalid callback_url="),
        ({"event_types": ["TextMessageCreated", "MessageDeleted"]}, r"Invalid event_types='MessageDeleted'"),
        ({"event_types": "TextMessageCreated"}, r"Invalid event_types='TextMessageCreated': expected a list"),
        ({"object_type": "Tenant"}, r"Invalid object_type='Tenant'"),
        ({"object_id": "bad id"}, r"Invalid object_id='bad id'"),
        ({"validity_ms": "tomorrow"}, r"Invalid validity_ms='tomorrow'"),
        ({"callback_token": "x" * 1001}, r"Invalid callback_token=.*1001 characters"),
    ],
)
def test_bad_registrations_fail_before_any_call(tenant, receiver, args, error):
    fields = {
        "object_id": tenant.group_id,
        "event_types": ["TextMessageCreated"],
        "callback_url": receiver.url,
        **args,
    }
    op = KaizalaCreateWebhookOperator(task_id="create", kaizala_conn_id=conn_id(tenant), **fields)
    op.render_template_fields({"params": {"empty": ""}})
    with pytest.raises(KaizalaValidationError, match=error):
        op.execute(context={})
    assert tenant.calls() == []
    assert receiver.validations == 0


@pytest.mark.parametrize(
    ("args", "error"),
    [
        ({}, r"name at least one webhook field"),
        ({"active": "perhaps"}, r"Invalid active='perhaps'"),
        ({"callback_url": "ftp://example.com/hook"}, r"Invalid callback_url="),
        ({"event_types": ["Nope"]}, r"Invalid event_types='Nope'"),
        ({"webhook_id": "", "active": True}, r"Invalid webhook_id=''"),
    ],
)
def test_bad_updates_fail_before_any_call(tenant, args, error):
    fields = {"webhook_id": "wh-1", **args}
    op = KaizalaUpdateWebhookOperator(task_id="u", kaizala_conn_id=conn_id(tenant), **fields)
    with pytest.raises(KaizalaValidationError, match=error):
        op.execute(context={})
    assert tenant.calls() == []


def test_bad_list_and_delete_fail_before_any_call(tenant):
    with pytest.raises(KaizalaValidationError, match="object_type='Chat'"):
        KaizalaListWebhooksOperator(
            task_id="ls", kaizala_conn_id=conn_id(tenant), object_id=tenant.group_id, object_type="Chat"
        ).execute(context={})
    with pytest.raises(KaizalaValidationError, match="webhook_id='a/b'"):
        KaizalaDeleteWebhookOperator(task_id="rm", kaizala_conn_id=conn_id(tenant), webhook_id="a/b").execute(
            context={}
        )
    assert tenant.calls() == []
