"""Welcome new subscribers: wait for subscribers to join a public group, load the change, message them.

The sensor keeps a compact baseline of the group's subscribers and succeeds when new ones appear; the
full diff goes to a JSON Lines file and the sensor's XCom holds only counts, a sample and that file's
path. ``deferrable=True`` waits on the triggerer instead of holding a worker slot.
"""

from __future__ import annotations

import json
from typing import Any

import pendulum
from airflow.sdk import DAG, ObjectStoragePath, task

from airflow_provider_kaizala.operators.groups import KaizalaListGroupsOperator
from airflow_provider_kaizala.operators.messages import KaizalaSendMessageOperator
from airflow_provider_kaizala.sensors.kaizala import KaizalaMembershipSensor
from airflow_provider_kaizala.transfers.kaizala_to_sql import KaizalaToSqlOperator

GROUP_ID = "{{ ti.xcom_pull(task_ids='find_public_group')['groupIds'][0] }}"

with DAG(
    dag_id="example_kaizala_new_subscribers",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    params={"public_group_name": "Customer Updates"},
    tags=["kaizala", "example"],
    doc_md=__doc__,
) as dag:
    find_group = KaizalaListGroupsOperator(
        task_id="find_public_group",
        fetch_all_groups=True,
        name="{{ params.public_group_name }}",
        group_type="ConnectGroup",
    )

    # [START howto_sensor_kaizala_membership]
    wait = KaizalaMembershipSensor(
        task_id="wait_for_new_subscribers",
        group_id=GROUP_ID,
        kind="subscribers",
        only="added",
        poke_interval=5,
        timeout=15 * 60,
        deferrable=True,
    )
    # [END howto_sensor_kaizala_membership]

    @task
    def new_subscribers(summary: dict[str, Any]) -> list[str]:
        """The phone numbers that joined, read from the sensor's diff file."""
        with ObjectStoragePath(summary["diffPath"]).open("r") as diff:
            rows = (json.loads(line) for line in diff)
            return [row["mobileNumber"] for row in rows if row["change"] == "added"]

    welcome = KaizalaSendMessageOperator(
        task_id="welcome_new_subscribers",
        group_id=GROUP_ID,
        subscribers=new_subscribers(wait.output),
        message="Welcome to {{ params.public_group_name }}! You will hear from us here.",
    )

    # The change is also loaded into the warehouse, with its history.
    load = KaizalaToSqlOperator(
        task_id="load_subscribers",
        sql_conn_id="kaizala_warehouse",
        group_id=GROUP_ID,
        kind="subscribers",
        observed_at="{{ ts }}",
    )

    find_group >> wait >> load
