"""The smoke DAG CI runs on every supported Airflow version and at the lowest declared dependencies.

One run touches each public piece once against the emulator: the hook (paging groups and subscribers),
operators (list groups, send a message), the transfer into a SQLite warehouse, the
membership sensor in poke mode and deferred (which runs ``KaizalaMembershipTrigger`` through the async
hook), and the notifier as a task callback. The last task reports what the others returned as a Kaizala
message, which the smoke test reads back from the emulator.
"""

from __future__ import annotations

import os

import pendulum
from airflow.sdk import DAG, task

from airflow_provider_kaizala.notifications.kaizala import KaizalaNotifier
from airflow_provider_kaizala.operators.groups import KaizalaListGroupsOperator
from airflow_provider_kaizala.operators.messages import KaizalaSendMessageOperator
from airflow_provider_kaizala.sensors.kaizala import KaizalaMembershipSensor
from airflow_provider_kaizala.transfers.kaizala_to_sql import KaizalaToSqlOperator

MANAGERS = "{{ var.value.kaizala_managers_group }}"
PUBLIC = "{{ ti.xcom_pull(task_ids='find_public_group')['groupIds'][0] }}"
SNAPSHOTS = os.path.join(os.environ.get("AIRFLOW_HOME", "."), "smoke-snapshots")

with DAG(
    dag_id="kaizala_smoke",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    tags=["kaizala", "ci"],
) as dag:
    find_public = KaizalaListGroupsOperator(
        task_id="find_public_group", fetch_all_groups=True, group_type="ConnectGroup"
    )

    @task(on_success_callback=KaizalaNotifier(group_id=MANAGERS, message="smoke notifier: {{ ti.task_id }} done"))
    def hook_paging(public_group_id: str) -> dict[str, int]:
        """Page through every group and every subscriber of the public group with the sync hook."""
        from airflow_provider_kaizala.hooks.kaizala import KaizalaHook

        hook = KaizalaHook()
        groups = hook.list_groups(fetch_all_groups=True)
        subscribers = sum(1 for _ in hook.iter_subscribers(public_group_id, page_size=50))
        return {"groups": len(groups), "subscribers": subscribers}

    paging = hook_paging(PUBLIC)
    load = KaizalaToSqlOperator(
        task_id="load_membership", sql_conn_id="smoke_warehouse", table="smoke_membership", include_subscribers=True
    )
    poke = KaizalaMembershipSensor(
        task_id="sensor_poke",
        group_id=PUBLIC,
        kind="subscribers",
        only="added",
        snapshot_path=os.path.join(SNAPSHOTS, "poke.bin"),
        mode="poke",
        poke_interval=1,
        timeout=180,
        deferrable=False,
    )
    deferred = KaizalaMembershipSensor(
        task_id="sensor_deferred",
        group_id=PUBLIC,
        kind="subscribers",
        only="added",
        snapshot_path=os.path.join(SNAPSHOTS, "deferred.bin"),
        poke_interval=1,
        timeout=180,
        deferrable=True,
    )
    report = KaizalaSendMessageOperator(
        task_id="report",
        group_id=MANAGERS,
        message=(
            "smoke report: groups={{ ti.xcom_pull(task_ids='hook_paging')['groups'] }}"
            " subscribers={{ ti.xcom_pull(task_ids='hook_paging')['subscribers'] }}"
            " loaded={{ ti.xcom_pull(task_ids='load_membership')['present'] }}"
            " poke_added={{ ti.xcom_pull(task_ids='sensor_poke')['added'] }}"
            " deferred_added={{ ti.xcom_pull(task_ids='sensor_deferred')['added'] }}"
        ),
    )

    find_public >> [paging, poke, deferred]
    [paging, load, poke, deferred] >> report
