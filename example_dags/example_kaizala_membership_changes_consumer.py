"""Reacting to joins and leaves without a walk of its own: a DAG scheduled on the ETL's Asset.

``example_kaizala_membership_changes_from_etl`` publishes the period's joins and leaves as an event of the
``kaizala_membership_changes`` Asset (counts, and the path of a JSON Lines file with one row per person).
This DAG runs on every such event, reads the file and reports the changes to the managers' group: no
subscriber page is fetched here.
"""

from __future__ import annotations

from typing import Any

import pendulum
from airflow.sdk import DAG, Asset, task

from airflow_provider_kaizala.operators.messages import KaizalaSendMessageOperator

# [START howto_consume_kaizala_changes_asset]
MEMBERSHIP_CHANGES = Asset("kaizala_membership_changes")

with DAG(
    dag_id="example_kaizala_membership_changes_consumer",
    schedule=[MEMBERSHIP_CHANGES],
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    tags=["kaizala", "example"],
    doc_md=__doc__,
) as dag:

    @task(inlets=[MEMBERSHIP_CHANGES])
    def summarise(*, triggering_asset_events: Any = None, inlet_events: Any = None) -> dict[str, Any]:
        """The changes of the event that started the run (or, started by hand, of the latest event)."""
        import json

        from airflow_provider_kaizala.storage import storage_path

        events = [event for queue in (triggering_asset_events or {}).values() for event in queue]
        if not events and inlet_events is not None:
            latest = inlet_events[MEMBERSHIP_CHANGES]
            events = [latest[-1]] if len(latest) else []
        joined: list[str] = []
        left: list[str] = []
        for event in events:
            path = event.extra.get("changesPath")
            if not path:
                continue
            with storage_path(path).open("r") as handle:
                for line in handle:
                    row = json.loads(line)
                    (joined if row["change"] == "joined" else left).append(row["mobileNumber"])
        text = f"Membership changes: {len(joined)} joined, {len(left)} left."
        print(f"Reacting to {len(joined)} joined and {len(left)} left from {len(events)} event(s).")  # noqa: T201
        return {"joined": len(joined), "left": len(left), "events": len(events), "text": text}

    report = KaizalaSendMessageOperator(
        task_id="report_to_managers",
        group_id="{{ var.value.kaizala_managers_group }}",
        message="{{ ti.xcom_pull(task_ids='summarise')['text'] }}",
    )
    summarise() >> report
# [END howto_consume_kaizala_changes_asset]
