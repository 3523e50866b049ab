"""Welcome new subscribers: wait for subscribers to join a public group, message each one, load the change.

The sensor keeps a compact baseline of the group's subscribers, of its own (the default location is per
DAG and task), and succeeds when new ones appear; the full diff goes to a JSON Lines file and the
sensor's XCom holds only counts, a sample and that file's path. ``deferrable=True`` waits on the
triggerer instead of holding a worker slot.

Delivery is at least once: the baseline moves on only after every task downstream of the sensor
succeeded in this run. If a welcome fails, the next run (or the failed tasks, cleared) welcomes those
subscribers again, so no one who joined is missed. Old diff files and snapshots are pruned (the newest
20, none older than 30 days).
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
    max_active_runs=1,
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
        # 5 s keeps the demo quick; at scale make it at least one walk's time (docs/sizing.rst).
        poke_interval=5,
        # One hour holds a check of up to 160,000 subscribers with the 1.5x margin of docs/sizing.rst.
        timeout=60 * 60,
        deferrable=True,
        retention_count=20,
        retention_days=30,
    )
    # [END howto_sensor_kaizala_membership]

    # [START howto_sensor_kaizala_consume]
    @task
    def new_subscribers(summary: dict[str, Any]) -> list[str]:
        """The phone numbers that joined, read from the sensor's diff file."""
        with ObjectStoragePath(summary["diffPath"]).open("r") as diff:
            rows = (json.loads(line) for line in diff)
            return [row["mobileNumber"] for row in rows if row["change"] == "added"]

    # One mapped task per subscriber: each gets a single E.164 number, so one failure retries one welcome.
    welcome = KaizalaSendMessageOperator.partial(
        task_id="welcome_new_subscriber",
        group_id=GROUP_ID,
        message="Welcome to {{ params.public_group_name }}! You will hear from us here.",
    ).expand(subscribers=new_subscribers(wait.output))
    # [END howto_sensor_kaizala_consume]

    # The change is also loaded into the warehouse, with its history.
    load = KaizalaToSqlOperator(
        task_id="load_subscribers",
        sql_conn_id="kaizala_warehouse",
        group_id=GROUP_ID,
        kind="subscribers",
    )

    find_group >> wait >> load
