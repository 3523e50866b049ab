"""A tour of KaizalaHook: list the tenant's groups, their members and a public group's subscribers.

Runs against any ``kaizala`` connection; ``make demo`` runs it against the embedded emulator.
The hook is imported inside the tasks, so parsing this file stays cheap.
"""

from __future__ import annotations

from typing import Any

import pendulum
from airflow.sdk import dag, task


@dag(
    dag_id="example_kaizala_hook_tour",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    tags=["kaizala", "example"],
    doc_md=__doc__,
)
def example_kaizala_hook_tour() -> None:
    @task
    def list_groups() -> list[dict[str, Any]]:
        from airflow_provider_kaizala.hooks.kaizala import KaizalaHook

        hook = KaizalaHook()
        return [
            {"groupId": g["groupId"], "groupName": g.get("groupName"), "groupType": g.get("groupType", "Group")}
            for g in hook.list_groups(fetch_all_groups=True)
        ]

    @task
    def count_people(groups: list[dict[str, Any]]) -> list[dict[str, Any]]:
        from airflow_provider_kaizala.hooks.kaizala import KaizalaHook

        hook = KaizalaHook()
        rows = []
        for group in groups:
            members = hook.list_members(group["groupId"])
            subscribers = 0
            if group["groupType"] == "ConnectGroup":
                subscribers = sum(len(page) for page in hook.iter_subscriber_pages(group["groupId"]))
            rows.append(
                {
                    "group": group["groupName"],
                    "members": len(members),
                    "admins": sum(1 for m in members if m.get("role") == "Admin"),
                    "subscribers": subscribers,
                }
            )
        return rows

    count_people(list_groups())


example_kaizala_hook_tour()
