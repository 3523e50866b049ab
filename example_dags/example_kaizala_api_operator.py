"""KaizalaApiOperator: any Kaizala API call, by endpoint name or by method and path.

The named operators cover the usual actions; this one makes any call of the endpoint table (or any path
below ``/v1/``) with the hook's tokens, relocation, rate limit and retry rules, and returns the API's body.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG

from airflow_provider_kaizala.operators.api import KaizalaApiOperator

with DAG(
    dag_id="example_kaizala_api_operator",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    params={"group_name": "Managers"},
    tags=["kaizala", "example"],
    doc_md=__doc__,
) as dag:
    # [START howto_operator_kaizala_api]
    list_groups = KaizalaApiOperator(task_id="list_groups", endpoint="list_groups")

    group_id = (
        "{{ (ti.xcom_pull(task_ids='list_groups')['groups'] | selectattr('groupName', 'equalto', "
        "params.group_name) | first)['groupId'] }}"
    )
    members = KaizalaApiOperator(task_id="list_members", endpoint="list_members", path_ids={"group_id": group_id})

    announce = KaizalaApiOperator(
        task_id="send_message",
        method="POST",
        path=f"groups/{group_id}/messages",
        payload={"message": "{{ ti.xcom_pull(task_ids='list_members')['members'] | length }} people on {{ ds }}."},
    )
    # [END howto_operator_kaizala_api]

    list_groups >> members >> announce
