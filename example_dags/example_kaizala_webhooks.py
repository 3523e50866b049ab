"""Webhooks: subscribe a callback URL to a group's events, list the group's webhooks, pause and resume the
webhook, trigger an event, and delete the webhook.

Kaizala checks the callback URL at registration: it sends ``GET <url>?validationToken=<token>`` and expects
the token back as the plain-text body. Every event is then POSTed as JSON with the ``kz-callback-token``
header set to the registered callback token, so the receiver can tell Kaizala's calls from others.

Set two Variables first: ``kaizala_webhook_url`` (the receiver's https URL) and ``kaizala_webhook_token`` (a
random secret the receiver checks; a Variable whose name contains "token" is masked in logs and in the
rendered-template view).
"""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG

from airflow_provider_kaizala.operators.groups import KaizalaListGroupsOperator
from airflow_provider_kaizala.operators.messages import KaizalaSendMessageOperator
from airflow_provider_kaizala.operators.webhooks import (
    KaizalaCreateWebhookOperator,
    KaizalaDeleteWebhookOperator,
    KaizalaListWebhooksOperator,
    KaizalaUpdateWebhookOperator,
)

GROUP_ID = "{{ ti.xcom_pull(task_ids='find_field_group')['groupIds'][0] }}"
WEBHOOK_ID = "{{ ti.xcom_pull(task_ids='create_webhook')['webhookId'] }}"

with DAG(
    dag_id="example_kaizala_webhooks",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    params={"group_name": "Field Operations"},
    tags=["kaizala", "example"],
    doc_md=__doc__,
) as dag:
    find_group = KaizalaListGroupsOperator(
        task_id="find_field_group", fetch_all_groups=True, name="{{ params.group_name }}"
    )

    # [START howto_operator_kaizala_create_webhook]
    create = KaizalaCreateWebhookOperator(
        task_id="create_webhook",
        object_id=GROUP_ID,
        event_types=["TextMessageCreated", "JobCreated", "JobResponse", "MemberAdded", "MemberRemoved"],
        callback_url="{{ var.value.kaizala_webhook_url }}",
        callback_token="{{ var.value.kaizala_webhook_token }}",  # a secret: never written in the DAG file
        callback_context="airflow:{{ dag.dag_id }}",
        retries=0,  # registering is not repeated blindly: an unknown outcome fails the task instead
    )
    # [END howto_operator_kaizala_create_webhook]

    # [START howto_operator_kaizala_list_webhooks]
    list_webhooks = KaizalaListWebhooksOperator(task_id="list_webhooks", object_id=GROUP_ID)
    # [END howto_operator_kaizala_list_webhooks]

    # [START howto_operator_kaizala_update_webhook]
    pause = KaizalaUpdateWebhookOperator(task_id="pause_webhook", webhook_id=WEBHOOK_ID, active=False)
    resume = KaizalaUpdateWebhookOperator(
        task_id="resume_webhook",
        webhook_id=WEBHOOK_ID,
        active=True,
        event_types=["TextMessageCreated", "JobCreated", "JobResponse"],
    )
    # [END howto_operator_kaizala_update_webhook]

    ping = KaizalaSendMessageOperator(
        task_id="trigger_an_event",
        group_id=GROUP_ID,
        message="Webhook check {{ ds }}: this message is also delivered to the registered callback.",
    )

    # [START howto_operator_kaizala_delete_webhook]
    delete = KaizalaDeleteWebhookOperator(task_id="delete_webhook", webhook_id=WEBHOOK_ID)
    # [END howto_operator_kaizala_delete_webhook]

    find_group >> create >> list_webhooks >> pause >> resume >> ping >> delete
