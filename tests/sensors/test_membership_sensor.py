"""KaizalaMembershipSensor and KaizalaMembershipTrigger against the emulator, in both modes."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pendulum
import pytest
from airflow.providers.common.compat.sdk import PokeReturnValue
from airflow.sdk import DAG
from airflow.sdk.exceptions import TaskDeferred

from airflow_provider_kaizala.exceptions import KaizalaException, KaizalaValidationError
from airflow_provider_kaizala.membership import MembershipSnapshot
from airflow_provider_kaizala.sensors.kaizala import KaizalaMembershipSensor
from airflow_provider_kaizala.triggers.kaizala import KaizalaMembershipTrigger


def sensor(tenant, tmp_path: Path, name: str, **kwargs: Any) -> KaizalaMembershipSensor:
    kwargs.setdefault("group_id", tenant.public_group_id)
    kwargs.setdefault("snapshot_path", str(tmp_path / name / "baseline.snapshot"))
    return KaizalaMembershipSensor(
        task_id=f"wait_{name}",
        kaizala_conn_id=tenant.hook().kaizala_conn_id,
        poke_interval=0.1,
        timeout=60,
        **kwargs,
    )


def run_trigger(trigger: KaizalaMembershipTrigger) -> dict[str, Any]:
    async def first() -> dict[str, Any]:
        async for event in trigger.run():
            return event.payload
        raise AssertionError("the trigger ended without an event")

    return asyncio.run(asyncio.wait_for(first(), 60))


def deferred_check(op: KaizalaMembershipSensor, trigger: KaizalaMembershipTrigger) -> tuple[Any, Any]:
    """One trigger run and the worker's completion: (result, next trigger or None)."""
    event = run_trigger(trigger)
    try:
        return op.execute_complete({}, event), None
    except TaskDeferred as deferred:
        return None, deferred.trigger


def start_deferred(op: KaizalaMembershipSensor) -> KaizalaMembershipTrigger:
    with pytest.raises(TaskDeferred) as deferred:
        op.execute({})
    return deferred.value.trigger


def diff_rows(summary: dict[str, Any]) -> list[dict[str, Any]]:
    with open(summary["diffPath"].removeprefix("file://")) as handle:
        return sorted((json.loads(line) for line in handle), key=lambda r: (r["change"], r["mobileNumber"]))


def test_sync_and_deferred_modes_agree_on_the_same_churn(tenant, tmp_path):
    poker = sensor(tenant, tmp_path, "sync")
    deferrer = sensor(tenant, tmp_path, "deferred", deferrable=True)
    assert poker.poke({}) is False  # first check: baseline only
    result, trigger = deferred_check(deferrer, start_deferred(deferrer))
    assert result is None
    assert isinstance(trigger, KaizalaMembershipTrigger)

    churn = tenant.emulator.admin.churn(tenant.public_group_id, "subscribers", add=7, remove=4, seed=3)

    poked = poker.poke({})
    assert isinstance(poked, PokeReturnValue)
    assert poked.is_done
    summary = poked.xcom_value
    deferred_summary, again = deferred_check(deferrer, trigger)
    assert again is None
    for result in (summary, deferred_summary):
        assert (result["added"], result["removed"], result["changed"]) == (7, 4, 0)
        assert result["currentCount"] == tenant.subscriber_count + 3
        json.dumps(result)
    rows = diff_rows(summary)
    assert rows == diff_rows(deferred_summary)
    assert sorted(r["mobileNumber"] for r in rows if r["change"] == "added") == sorted(churn["added"])
    assert sorted(r["mobileNumber"] for r in rows if r["change"] == "removed") == sorted(churn["removed"])
    assert poker.poke({}) is False  # the baseline moved on


def test_only_additions_and_a_minimum_accumulate_across_checks(tenant, tmp_path):
    op = sensor(tenant, tmp_path, "adds", only="added", min_changes=5)
    assert op.poke({}) is False
    tenant.emulator.admin.churn(tenant.public_group_id, "subscribers", remove=10, seed=1)
    assert op.poke({}) is False  # removals do not count
    tenant.emulator.admin.churn(tenant.public_group_id, "subscribers", add=3, seed=2)
    assert op.poke({}) is False  # 3 < 5, and the baseline is kept
    tenant.emulator.admin.churn(tenant.public_group_id, "subscribers", add=2, seed=4)
    summary = op.poke({}).xcom_value
    assert (summary["added"], summary["removed"]) == (5, 10)
    assert len(summary["sample"]["added"]) == 5


def test_member_role_changes(tenant, tmp_path):
    op = sensor(tenant, tmp_path, "members", group_id=tenant.group_id, kind="members")
    assert op.poke({}) is False
    hook = tenant.hook()
    member = next(m for m in hook.list_members(tenant.group_id) if m["role"] == "Member")
    hook.set_member_role(tenant.group_id, member["id"], "Admin")
    summary = op.poke({}).xcom_value
    assert (summary["added"], summary["removed"], summary["changed"]) == (0, 0, 1)
    (row,) = diff_rows(summary)
    assert row["mobileNumber"] == member["mobileNumber"]
    assert (row["previousRole"], row["role"]) == ("Member", "Admin")


def test_trigger_kwargs_are_json_and_hold_no_secret(tenant, tmp_path):
    op = sensor(tenant, tmp_path, "serialise", deferrable=True)
    trigger = start_deferred(op)
    path, kwargs = trigger.serialize()
    assert path == "airflow_provider_kaizala.triggers.kaizala.KaizalaMembershipTrigger"
    text = json.dumps(kwargs)
    for secret in tenant.secrets:
        assert secret not in text
    rebuilt = KaizalaMembershipTrigger(**json.loads(text))
    assert rebuilt.serialize() == (path, kwargs)


def test_trigger_reports_errors_and_the_sensor_raises(tenant, tmp_path):
    op = sensor(tenant, tmp_path, "missing", group_id="no-such-group@1", deferrable=True)
    trigger = start_deferred(op)
    event = run_trigger(trigger)
    assert event["status"] == "error"
    with pytest.raises(KaizalaException, match="trigger failed"):
        op.execute_complete({}, event)


def test_bad_options_fail_before_any_call(tenant, tmp_path):
    op = sensor(tenant, tmp_path, "bad", kind="everyone")
    with pytest.raises(KaizalaValidationError, match="kind"):
        op.poke({})
    op = sensor(tenant, tmp_path, "bad2", min_changes=0, deferrable=True)
    with pytest.raises(KaizalaValidationError, match="min_changes"):
        op.execute({})
    assert tenant.calls() == []


def test_two_sensors_on_one_group_each_keep_their_own_baseline(tenant, tmp_path, monkeypatch):
    """One sensor for joiners and one for leavers of the same group, in one DAG, with default paths.

    Before, both used ``<conn>/<group>/subscribers.snapshot``: the first to fire promoted the baseline and
    the other never saw its changes."""
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path))
    conn_id = tenant.hook().kaizala_conn_id
    with DAG(dag_id="two_sensors", schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC")):
        added, removed = (
            KaizalaMembershipSensor(
                task_id=f"wait_{only}",
                kaizala_conn_id=conn_id,
                group_id=tenant.public_group_id,
                only=only,
                poke_interval=0.1,
                timeout=60,
            )
            for only in ("added", "removed")
        )
    assert added.poke({}) is False
    assert removed.poke({}) is False
    churn = tenant.emulator.admin.churn(tenant.public_group_id, "subscribers", add=3, remove=2, seed=5)
    joined = added.poke({}).xcom_value
    assert joined["added"] == 3
    left = removed.poke({})
    assert isinstance(left, PokeReturnValue), "the other sensor's check promoted away the removals"
    assert left.xcom_value["removed"] == 2
    assert sorted(r["mobileNumber"] for r in diff_rows(left.xcom_value) if r["change"] == "removed") == sorted(
        churn["removed"]
    )
    paths = {Path(p) for p in tmp_path.rglob("subscribers.snapshot")}
    assert len(paths) == 2


def test_sharing_one_snapshot_path_is_explicit(tenant, tmp_path):
    shared = str(tmp_path / "shared" / "subscribers.snapshot")
    first = sensor(tenant, tmp_path, "first", snapshot_path=shared)
    second = sensor(tenant, tmp_path, "second", snapshot_path=shared)
    assert first.poke({}) is False
    with pytest.raises(KaizalaValidationError, match=r"baseline of task 'wait_first'.*share_baseline=True"):
        second.poke({})
    both = [
        sensor(tenant, tmp_path, name, snapshot_path=str(tmp_path / "s2.snapshot"), share_baseline=True)
        for name in ("a", "b")
    ]
    assert both[0].poke({}) is False
    assert both[1].poke({}) is False


def test_the_shared_baseline_of_an_earlier_release_is_adopted_not_lost(tenant, tmp_path, monkeypatch):
    """Upgrading must not miss the changes made since the last check at the old default path."""
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path))
    op = sensor(tenant, tmp_path, "upgraded", snapshot_path=None, only="added")
    # Earlier releases wrote it through a percent-encoded file:// URI, so the '@' of the id is '%40' on disk.
    group_dir = op.group_id.replace("@", "%40")
    legacy = tmp_path / "kaizala" / "snapshots" / op.kaizala_conn_id / group_dir / "subscribers.snapshot"
    people = tenant.emulator.admin.subscribers(tenant.public_group_id)
    legacy.parent.mkdir(parents=True)
    legacy.write_bytes(MembershipSnapshot.from_people(people).to_bytes())
    churn = tenant.emulator.admin.churn(tenant.public_group_id, "subscribers", add=2, seed=8)
    summary = op.poke({}).xcom_value
    assert sorted(summary["sample"]["added"]) == sorted(churn["added"])
    assert legacy.exists()  # copied, so a second sensor of the old layout starts from it too
