"""An event-driven DAG: Kaizala webhook events schedule it through an AssetWatcher.

The triggerer runs ``KaizalaWebhookTrigger``, which receives Kaizala's deliveries (register its URL with
``KaizalaCreateWebhookOperator``, with the callback token kept in the Variable
``kaizala_webhook_callback_token``), drops duplicates by ``eventId`` and turns each new event into an asset
event; every asset event runs this DAG with the Kaizala event in ``triggering_asset_events``.
"""

from __future__ import annotations

from typing import Any

import pendulum
from airflow.sdk import DAG, Asset, AssetWatcher, task

from airflow_provider_kaizala.triggers.webhook import KaizalaWebhookTrigger

# [START howto_trigger_kaizala_webhook]
kaizala_events = Asset(
    "kaizala_group_events",
    watchers=[
        AssetWatcher(
            name="kaizala_webhook",
            trigger=KaizalaWebhookTrigger(port=8765, event_types=["MemberAdded", "MemberRemoved", "SurveyResponse"]),
        )
    ],
)

with DAG(
    dag_id="example_kaizala_event_driven",
    schedule=[kaizala_events],
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    tags=["kaizala", "example"],
    doc_md=__doc__,
) as dag:

    @task
    def handle_events(triggering_asset_events: Any = None) -> list[dict[str, Any]]:
        """Summarise the Kaizala events that scheduled this run (none when run by hand)."""
        handled = []
        for events in (triggering_asset_events or {}).values():
            for event in events:
                payload = event.extra.get("payload", event.extra)
                handled.append({"eventId": payload.get("eventId"), "eventType": payload.get("eventType")})
        return handled

    handle_events()
# [END howto_trigger_kaizala_webhook]
