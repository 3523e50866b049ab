"""KaizalaAsyncHook against the emulator: the same rules as the sync hook, driven by httpx."""

from __future__ import annotations

import asyncio
import json

import pytest

from airflow_provider_kaizala.exceptions import KaizalaAuthError, KaizalaOutcomeUnknownError, KaizalaValidationError
from airflow_provider_kaizala.hooks.async_kaizala import KaizalaAsyncHook
from tests.hooks.conftest import async_hook


async def collect(hook: KaizalaAsyncHook, group_id: str, page_size: int = 50) -> list[str]:
    async with hook:
        return [
            s["mobileNumber"] async for page in hook.iter_subscriber_pages(group_id, page_size=page_size) for s in page
        ]


def truth(tenant) -> list[str]:
    return sorted(s["mobileNumber"] for s in tenant.emulator.admin.subscribers(tenant.public_group_id))


def test_async_walk_matches_the_sync_walk_under_faults(tenant):
    tenant.emulator.admin.faults(
        relocate_after=4, token_expire_every=3, error_rate=0.2, fault_seed=11, fault_paths="subscribers"
    )
    numbers = asyncio.run(collect(async_hook(tenant), tenant.public_group_id, page_size=20))
    assert len(numbers) == len(set(numbers))
    assert sorted(numbers) == truth(tenant)
    statuses = {c["status"] for c in tenant.calls()}
    assert {308, 401} <= statuses
    sync_numbers = [s["mobileNumber"] for s in tenant.hook().iter_subscribers(tenant.public_group_id)]
    assert sorted(sync_numbers) == sorted(numbers)


def test_async_list_members_and_send_message(tenant):
    async def run() -> tuple[list, dict]:
        async with async_hook(tenant) as hook:
            return await hook.list_members(tenant.group_id), await hook.send_message(tenant.group_id, "async hello")

    members, sent = asyncio.run(run())
    assert sorted(m["mobileNumber"] for m in members) == sorted(
        m["mobileNumber"] for m in tenant.emulator.admin.members(tenant.group_id)
    )
    assert [m["referenceId"] for m in tenant.emulator.admin.messages(tenant.group_id)] == [sent["referenceId"]]


def test_async_send_that_times_out_is_not_repeated(tenant):
    tenant.emulator.admin.faults(slow_rate=1.0, slow_seconds=1.5, slow_phase="after", fault_paths="messages")

    async def run() -> None:
        async with async_hook(tenant, timeout=0.5) as hook:
            await hook.send_message(tenant.group_id, "only once")

    with pytest.raises(KaizalaOutcomeUnknownError):
        asyncio.run(run())
    assert [m["message"] for m in tenant.emulator.admin.messages(tenant.group_id)] == ["only once"]


def test_async_bad_input_makes_no_call(tenant):
    async def run() -> None:
        async with async_hook(tenant) as hook:
            await hook.send_message(tenant.group_id, "x" * 4001)

    with pytest.raises(KaizalaValidationError, match="message"):
        asyncio.run(run())
    assert tenant.calls() == []


def test_async_hook_secrets_stay_out_of_errors(tenant):
    hook = async_hook(tenant)
    conn = json.loads(tenant.conn_json())
    tenant.monkeypatch.setenv(
        f"AIRFLOW_CONN_{hook.kaizala_conn_id.upper()}", json.dumps({**conn, "password": "definitely-wrong"})
    )

    async def run() -> None:
        async with hook:
            await hook.list_members(tenant.group_id)

    with pytest.raises(KaizalaAuthError) as err:
        asyncio.run(run())
    assert "definitely-wrong" not in str(err.value)
    assert "401" in str(err.value)
