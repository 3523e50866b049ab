"""Subscribers of a public group: find the group, manage subscribers, export them, message them."""

from __future__ import annotations

from typing import Any

import pendulum
from airflow.sdk import DAG, task

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
    groups = KaizalaListGroupsOperator(task_id="list_groups", fetch_all_groups=True, return_list=True)

    @task
    def find_public_group(listing: dict[str, Any], params: dict[str, Any] | None = None) -> str:
        """The id of the public group named in the DAG params."""
        assert params is not None
        for group in listing["groups"]:
            if group["groupName"] == params["public_group_name"] and group["groupType"] == "ConnectGroup":
                return str(group["groupId"])
        raise ValueError(f"No public group named {params['public_group_name']!r}")

    group_id = find_public_group(groups.output)

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

    add >> export >> welcome >> everyone >> remove
