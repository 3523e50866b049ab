"""Event-driven group membership: Kaizala's webhook events run this DAG within seconds of a change, and an
hourly membership check catches whatever the webhook path missed.

* **Fast path.** The triggerer runs ``KaizalaWebhookTrigger`` in an ``AssetWatcher``. It receives Kaizala's
  ``MemberAdded`` / ``MemberRemoved`` deliveries for the groups whose webhook points at it (register the URL
  with ``KaizalaCreateWebhookOperator``, with the callback token kept in the Variable
  ``kaizala_webhook_callback_token``), drops duplicates by ``eventId``, and turns each new event into an
  asset event; each asset event runs this DAG with the Kaizala event in ``triggering_asset_events``.
* **Reconciliation.** Webhook delivery can miss changes: the receiver or its proxy is down for longer than
  Kaizala retries (then Kaizala disables the webhook), or a triggerer restart loses events not yet handed
  to Airflow. So the DAG also runs hourly, and those runs make one ``KaizalaMembershipSensor`` check of the
  group's members against the baseline of the previous check (skipped when nothing changed).

Both paths end in the same handling, which must be idempotent (keyed by phone number): the reconciliation
reports a change again even when its webhook event was already handled. Subscribers of a public group have
no webhook events at all: watch them with the sensor alone (``example_kaizala_new_subscribers``).
"""

from __future__ import annotations

import json
from typing import Any

import pendulum
from airflow.sdk import DAG, Asset, AssetOrTimeSchedule, AssetWatcher, CronTriggerTimetable, ObjectStoragePath, task

from airflow_provider_kaizala.operators.groups import KaizalaListGroupsOperator
from airflow_provider_kaizala.sensors.kaizala import KaizalaMembershipSensor
from airflow_provider_kaizala.triggers.webhook import KaizalaWebhookTrigger

GROUP_ID = "{{ ti.xcom_pull(task_ids='find_group')['groupIds'][0] }}"

# [START howto_trigger_kaizala_webhook]
member_events = Asset(
    "kaizala_member_events",
    watchers=[
        AssetWatcher(
            name="kaizala_member_webhook",
            # Listens on 127.0.0.1:8765 behind the TLS proxy that Kaizala's https callbacks reach.
            trigger=KaizalaWebhookTrigger(port=8765, event_types=["MemberAdded", "MemberRemoved"]),
        )
    ],
)

with DAG(
    dag_id="example_kaizala_event_driven",
    # Every webhook event, and once an hour for the reconciliation.
    schedule=AssetOrTimeSchedule(timetable=CronTriggerTimetable("0 * * * *", timezone="UTC"), assets=[member_events]),
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    params={"group_name": "Field Operations"},
    tags=["kaizala", "example"],
    doc_md=__doc__,
) as dag:

    @task.branch
    def route(triggering_asset_events: Any = None) -> str:
        """Webhook events when they started this run; otherwise (hourly, or by hand) the reconciliation."""
        return "changes_from_events" if triggering_asset_events else "find_group"

    @task
    def changes_from_events(triggering_asset_events: Any = None) -> list[dict[str, Any]]:
        """One change per MemberAdded / MemberRemoved event that started this run."""
        changes = []
        for events in (triggering_asset_events or {}).values():
            for event in events:
                payload = event.extra.get("payload", event.extra)
                data = payload.get("data") or {}
                changes.append(
                    {
                        "change": "added" if payload.get("eventType") == "MemberAdded" else "removed",
                        "mobileNumber": data.get("member"),
                        "groupId": payload.get("objectId"),
                        "eventId": payload.get("eventId"),
                    }
                )
        return changes

    # [END howto_trigger_kaizala_webhook]

    # [START howto_reconcile_kaizala_members]
    find_group = KaizalaListGroupsOperator(task_id="find_group", fetch_all_groups=True, name="{{ params.group_name }}")
    reconcile = KaizalaMembershipSensor(
        task_id="reconcile_members",
        group_id=GROUP_ID,
        kind="members",
        timeout=0,  # one check per run: compare with the previous check's baseline, skip when equal
        soft_fail=True,
    )

    @task
    def changes_from_check(summary: dict[str, Any]) -> list[dict[str, Any]]:
        """The added and removed members the check found, read from its diff file."""
        with ObjectStoragePath(summary["diffPath"]).open("r") as diff:
            rows = [json.loads(line) for line in diff]
        return [
            {"change": row["change"], "mobileNumber": row["mobileNumber"], "groupId": summary["groupId"]}
            for row in rows
            if row["change"] in ("added", "removed")
        ]

    # [END howto_reconcile_kaizala_members]

    @task(trigger_rule="none_failed_min_one_success")
    def apply_changes(
        from_events: list[dict[str, Any]] | None, from_check: list[dict[str, Any]] | None
    ) -> dict[str, int]:
        """Apply the changes of whichever path ran, idempotently (keyed by phone number); here, count them."""
        changes = (from_events or []) + (from_check or [])
        return {
            "added": sum(c["change"] == "added" for c in changes),
            "removed": sum(c["change"] == "removed" for c in changes),
        }

    from_events = changes_from_events()
    from_check = changes_from_check(reconcile.output)
    route() >> [from_events, find_group]
    find_group >> reconcile
    apply_changes(from_events, from_check)
