"""KaizalaNotifier against the emulator: rendered text, audience, and failures that are logged, not raised."""

from __future__ import annotations

import asyncio
import logging
from types import SimpleNamespace

from airflow.sdk import DAG

from airflow_provider_kaizala.notifications.kaizala import KaizalaNotifier, send_kaizala_notification
from tests.conftest import Tenant

LOG_URL = "http://airflow.example.com/dags/etl_daily/runs/manual__2026-11-27/tasks/load?try_number=2"
RUN_ID = "manual__2026-11-27T06:00:00+00:00"


def conn_id(tenant: Tenant) -> str:
    return tenant.hook().kaizala_conn_id


def callback_context(**extra) -> dict:
    """What a task failure callback receives, reduced to what the templates use."""
    ti = SimpleNamespace(task_id="load", state="failed", log_url=LOG_URL, try_number=2)
    return {"dag": DAG(dag_id="etl_daily", schedule=None), "ti": ti, "run_id": RUN_ID, "ds": "2026-11-27", **extra}


def sent(tenant: Tenant, group_id: str) -> list[tuple]:
    """Ground truth: (text, subscribers, to all) of every message the emulator recorded for the group."""
    return [
        (m["message"], sorted(m["subscribers"] or []), m["sendToAllSubscribers"])
        for m in tenant.emulator.admin.messages(group_id)
    ]


def capture_log(notifier: KaizalaNotifier) -> KaizalaNotifier:
    """Route the notifier's log (structlog by default) to a stdlib logger that ``caplog`` sees."""
    notifier._log = logging.getLogger("tests.kaizala_notifier")
    return notifier


def message_posts(tenant: Tenant) -> list[dict]:
    return [c for c in tenant.calls() if c["method"] == "POST" and c["path"].endswith("/messages")]


def test_renders_the_template_with_the_context_and_sends_it(tenant):
    notifier = KaizalaNotifier(
        kaizala_conn_id=conn_id(tenant),
        group_id="{{ params.group }}",
        message="{{ dag.dag_id }}.{{ ti.task_id }} {{ ti.state }} in {{ run_id }} (try {{ ti.try_number }})\n"
        "Log: {{ ti.log_url }}",
    )
    context = callback_context(params={"group": tenant.group_id})
    notifier.render_template_fields(context)
    notifier.notify(context)
    assert sent(tenant, tenant.group_id) == [
        (f"etl_daily.load failed in {RUN_ID} (try 2)\nLog: {LOG_URL}", [], False),
    ]


def test_default_message_names_dag_task_run_and_log(tenant):
    notifier = KaizalaNotifier(kaizala_conn_id=conn_id(tenant), group_id=tenant.group_id)
    notifier(callback_context())
    [(text, _, _)] = sent(tenant, tenant.group_id)
    assert "etl_daily" in text
    assert "load" in text
    assert RUN_ID in text
    assert LOG_URL in text
    assert "{{" not in text
    assert "{%" not in text


def test_default_message_without_a_task_instance(tenant):
    notifier = KaizalaNotifier(kaizala_conn_id=conn_id(tenant), group_id=tenant.group_id)
    notifier({"dag": DAG(dag_id="etl_daily", schedule=None), "run_id": RUN_ID})
    [(text, _, _)] = sent(tenant, tenant.group_id)
    assert "etl_daily" in text
    assert RUN_ID in text
    assert "Log:" not in text


def test_call_path_renders_and_sends(tenant):
    notifier = send_kaizala_notification(
        kaizala_conn_id="{{ params.conn }}",
        group_id=tenant.group_id,
        message="Run {{ run_id }} of {{ dag.dag_id }} failed on {{ ds }}",
    )
    notifier(callback_context(params={"conn": conn_id(tenant)}))
    assert sent(tenant, tenant.group_id) == [(f"Run {RUN_ID} of etl_daily failed on 2026-11-27", [], False)]
    assert len(message_posts(tenant)) == 1


def test_chosen_subscribers_of_a_public_group(tenant):
    chosen = sorted(s["mobileNumber"] for s in tenant.emulator.admin.subscribers(tenant.public_group_id))[:2]
    notifier = KaizalaNotifier(
        kaizala_conn_id=conn_id(tenant),
        group_id=tenant.public_group_id,
        message="{{ ti.task_id }} needs you",
        subscribers=["{{ params.first }}", chosen[1]],
    )
    notifier(callback_context(params={"first": chosen[0]}))
    assert sent(tenant, tenant.public_group_id) == [("load needs you", chosen, False)]


def test_all_subscribers_of_a_public_group(tenant):
    notifier = KaizalaNotifier(
        kaizala_conn_id=conn_id(tenant),
        group_id=tenant.public_group_id,
        message="Outage: {{ dag.dag_id }}",
        send_to_all_subscribers="{{ params.everyone }}",
    )
    notifier(callback_context(params={"everyone": True}))
    assert sent(tenant, tenant.public_group_id) == [("Outage: etl_daily", [], True)]


def test_unknown_group_is_logged_not_raised(tenant, caplog):
    notifier = KaizalaNotifier(kaizala_conn_id=conn_id(tenant), group_id="no-such-group@1", message="Hi")
    capture_log(notifier)
    with caplog.at_level(logging.ERROR):
        notifier(callback_context())
    assert "no-such-group@1" in caplog.text
    assert "could not be sent" in caplog.text
    assert [c["status"] for c in message_posts(tenant)] == [404]
    assert tenant.emulator.admin.messages("no-such-group@1") == []


def test_server_error_is_logged_not_raised(tenant, caplog):
    tenant.emulator.admin.faults(error_rate=1.0, error_statuses=[500], fault_paths="/messages$")
    notifier = KaizalaNotifier(kaizala_conn_id=conn_id(tenant), group_id=tenant.group_id, message="Hi")
    capture_log(notifier)
    with caplog.at_level(logging.ERROR):
        notifier(callback_context())
    assert "could not be sent" in caplog.text
    posts = message_posts(tenant)
    assert posts
    assert {c["status"] for c in posts} == {500}
    assert sent(tenant, tenant.group_id) == []


def test_invalid_rendered_message_is_logged_and_nothing_is_called(tenant, caplog):
    notifier = KaizalaNotifier(kaizala_conn_id=conn_id(tenant), group_id=tenant.group_id, message="{{ params.x }}")
    capture_log(notifier)
    with caplog.at_level(logging.ERROR):
        notifier(callback_context(params={"x": ""}))
    assert "message=''" in caplog.text
    assert tenant.calls() == []


def test_async_notify(tenant):
    notifier = KaizalaNotifier(
        kaizala_conn_id=conn_id(tenant), group_id=tenant.group_id, message="{{ ti.task_id }} async"
    )
    context = callback_context()
    notifier.render_template_fields(context)
    asyncio.run(notifier.async_notify(context))
    assert sent(tenant, tenant.group_id) == [("load async", [], False)]


def test_awaiting_the_notifier_renders_and_sends(tenant):
    notifier = KaizalaNotifier(
        kaizala_conn_id=conn_id(tenant), group_id=tenant.group_id, message="Awaited {{ run_id }}"
    )
    notifier.context = callback_context()

    async def main() -> None:
        await notifier

    asyncio.run(main())
    assert sent(tenant, tenant.group_id) == [(f"Awaited {RUN_ID}", [], False)]


def test_async_notify_failure_is_logged_not_raised(tenant, caplog):
    notifier = KaizalaNotifier(kaizala_conn_id=conn_id(tenant), group_id="missing@1", message="Hi")
    capture_log(notifier)
    with caplog.at_level(logging.ERROR):
        asyncio.run(notifier.async_notify({}))
    assert "missing@1" in caplog.text
    assert [c["status"] for c in message_posts(tenant)] == [404]


def test_alias_is_the_same_class():
    assert send_kaizala_notification is KaizalaNotifier


def test_template_fields():
    assert set(KaizalaNotifier.template_fields) == {
        "kaizala_conn_id",
        "group_id",
        "message",
        "subscribers",
        "send_to_all_subscribers",
    }
