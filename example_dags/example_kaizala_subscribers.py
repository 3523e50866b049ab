"""Subscribers of a public group: find the group, manage subscribers, export them, message them."""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG

from airflow_provider_kaizala.operators.groups import KaizalaListGroupsOperator
from airflow_provider_kaizala.operators.messages import KaizalaSendMessageOperator
from airflow_provider_kaizala.operators.subscribers import (
    KaizalaAddSubscribersOperator,
    KaizalaListSubscribersOperator,
    KaizalaRemoveSubscribersOperator,
)

NEW_SUBSCRIBERS = ["+919812300001", "+919812300002", "+919812300003"]

with DAG(
    dag_id="example_kaizala_subscribers",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    params={"public_group_name": "Customer Updates", "export_path": "/tmp/kaizala_subscribers.jsonl"},
    tags=["kaizala", "example"],
    doc_md=__doc__,
) as dag:
    # [START howto_operator_kaizala_find_group]
    find_group = KaizalaListGroupsOperator(
        task_id="find_public_group",
        fetch_all_groups=True,
        name="{{ params.public_group_name }}",
        group_type="ConnectGroup",
    )
    group_id = "{{ ti.xcom_pull(task_ids='find_public_group')['groupIds'][0] }}"
    # [END howto_operator_kaizala_find_group]

    # [START howto_operator_kaizala_add_subscribers]
    add = KaizalaAddSubscribersOperator(task_id="add_subscribers", group_id=group_id, phone_numbers=NEW_SUBSCRIBERS)
    # [END howto_operator_kaizala_add_subscribers]

    # [START howto_operator_kaizala_list_subscribers]
    export = KaizalaListSubscribersOperator(
        task_id="export_subscribers", group_id=group_id, output_path="{{ params.export_path }}"
    )
    # [END howto_operator_kaizala_list_subscribers]

    # [START howto_operator_kaizala_message_subscribers]
    welcome = KaizalaSendMessageOperator(
        task_id="welcome_new_subscribers",
        group_id=group_id,
        subscribers=NEW_SUBSCRIBERS,
        message="Welcome! You now get our updates.",
    )
    everyone = KaizalaSendMessageOperator(
        task_id="message_all_subscribers",
        group_id=group_id,
        send_to_all_subscribers=True,
        message="We now have {{ ti.xcom_pull(task_ids='export_subscribers')['count'] }} subscribers. Thank you!",
    )
    # [END howto_operator_kaizala_message_subscribers]

    # [START howto_operator_kaizala_remove_subscribers]
    remove = KaizalaRemoveSubscribersOperator(
        task_id="remove_subscribers", group_id=group_id, phone_numbers=NEW_SUBSCRIBERS[-1:]
    )
    # [END howto_operator_kaizala_remove_subscribers]

    find_group >> add >> export >> welcome >> everyone >> remove
