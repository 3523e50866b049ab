"""KaizalaWebhookTrigger end to end: the emulator validates it, delivers to it, and duplicates are dropped."""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

import httpx
import pytest

from airflow_provider_kaizala.triggers.webhook import KaizalaWebhookTrigger
from tests.conftest import free_port

TOKEN = "callback-secret-7f3a"


@pytest.fixture
def trigger(monkeypatch) -> KaizalaWebhookTrigger:
    monkeypatch.setenv("AIRFLOW_VAR_KAIZALA_WEBHOOK_CALLBACK_TOKEN", TOKEN)
    return KaizalaWebhookTrigger(port=free_port(), event_types=["TextMessageCreated", "MemberAdded"])


async def wait_listening(port: int) -> None:
    for _ in range(100):
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            await asyncio.sleep(0.05)
        else:
            writer.close()
            return
    raise AssertionError("the trigger never listened")


def collect(trigger: KaizalaWebhookTrigger, scenario, count: int, timeout: float = 20) -> list[dict[str, Any]]:
    """Run the trigger as the triggerer does (always asking for the next event), play ``scenario(url)`` in a
    thread, and collect events until ``count`` arrived (or ``timeout``), plus any that follow within 0.5 s."""

    async def main() -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = []

        async def consume() -> None:
            async for fired in trigger.run():
                events.append(fired.payload)

        task = asyncio.create_task(consume())
        try:
            await wait_listening(trigger.port)
            await asyncio.to_thread(scenario, f"http://127.0.0.1:{trigger.port}{trigger.path}")
            deadline = asyncio.get_running_loop().time() + timeout
            while len(events) < count and asyncio.get_running_loop().time() < deadline and not task.done():
                await asyncio.sleep(0.05)
            await asyncio.sleep(0.5)  # anything more that arrives now would be a duplicate
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        return events

    return asyncio.run(main())


def test_emulator_validates_and_delivers_once_per_event(tenant, trigger):
    tenant.emulator.admin.faults(webhook_duplicate_rate=1.0)
    hook = tenant.hook()

    def scenario(url: str) -> None:
        hook.create_webhook(tenant.group_id, ["TextMessageCreated"], url, callback_token=TOKEN)
        hook.send_message(tenant.group_id, "first")
        hook.send_message(tenant.group_id, "second")

    events = collect(trigger, scenario, count=2)
    assert [e["eventType"] for e in events] == ["TextMessageCreated", "TextMessageCreated"]
    assert [e["data"]["text"] for e in events] == ["first", "second"]
    assert len({e["eventId"] for e in events}) == 2
    deliveries = [d for d in tenant.emulator.admin.deliveries() if d.get("status") == 200]
    assert len(deliveries) > 2  # duplicates were delivered, and dropped by the trigger


def test_member_added_and_removed_events_of_a_group(tenant, monkeypatch):
    """The event-driven path for group members: MemberAdded / MemberRemoved deliveries become trigger events."""
    monkeypatch.setenv("AIRFLOW_VAR_KAIZALA_WEBHOOK_CALLBACK_TOKEN", TOKEN)
    trigger = KaizalaWebhookTrigger(
        port=free_port(), event_types=["MemberAdded", "MemberRemoved"], object_id=tenant.group_id
    )
    hook = tenant.hook()
    newcomer = "+919812340077"

    def scenario(url: str) -> None:
        hook.create_webhook(tenant.group_id, ["MemberAdded", "MemberRemoved"], url, callback_token=TOKEN)
        hook.add_members(tenant.group_id, [newcomer])
        member = next(m for m in hook.list_members(tenant.group_id) if m["mobileNumber"] == newcomer)
        hook.remove_member(tenant.group_id, member["id"])

    events = collect(trigger, scenario, count=2)
    assert [(e["eventType"], e["data"]["member"]) for e in events] == [
        ("MemberAdded", newcomer),
        ("MemberRemoved", newcomer),
    ]
    assert {e["objectId"] for e in events} == {tenant.group_id}


def test_wrong_callback_token_and_other_paths_are_rejected(trigger):
    def scenario(url: str) -> None:
        event = {"eventId": "e1", "eventType": "MemberAdded", "objectId": "g", "data": {}}
        bad = httpx.post(url, content=json.dumps(event), headers={"kz-callback-token": "wrong"})
        assert bad.status_code == 401
        assert httpx.get(url.replace("/kaizala/webhook", "/other")).status_code == 404
        assert httpx.get(url, params={"validationToken": "abc"}).text == "abc"
        ignored = {"eventId": "e2", "eventType": "JobCreated", "objectId": "g", "data": {}}
        assert httpx.post(url, content=json.dumps(ignored), headers={"kz-callback-token": TOKEN}).status_code == 200
        good = {"eventId": "e3", "eventType": "MemberAdded", "objectId": "g", "data": {"member": "+1"}}
        for _ in range(3):
            assert httpx.post(url, content=json.dumps(good), headers={"kz-callback-token": TOKEN}).status_code == 200

    events = collect(trigger, scenario, count=1)
    assert [e["eventId"] for e in events] == ["e3"]


def test_serialize_holds_no_secret(trigger):
    path, kwargs = trigger.serialize()
    assert path == "airflow_provider_kaizala.triggers.webhook.KaizalaWebhookTrigger"
    assert TOKEN not in json.dumps(kwargs)
    assert KaizalaWebhookTrigger(**kwargs).serialize() == (path, kwargs)
