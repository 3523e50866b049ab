"""A sensor check interrupted mid-walk resumes from its checkpoint on the next check (issue 17, point 4).

The check (a poke, or the trigger on the triggerer) runs in a process of its own that is killed with SIGKILL in
the middle of its walk, as a lost worker, an evicted pod or a restarted triggerer would end it; the next check
(another process) resumes from the last checkpoint.
"""

from __future__ import annotations

import json
import math
import subprocess
import time
from typing import Any

import pytest

from airflow_provider_kaizala.hooks.token_store import MemoryRefreshTokenStore
from airflow_provider_kaizala.membership import MembershipSnapshot, SnapshotStore, WalkCheckpoint
from airflow_provider_kaizala.sensors.kaizala import KaizalaMembershipSensor
from tests.conftest import kill_mid_walk, last_seq, start_module, subscriber_calls

SUBSCRIBERS = 2000
PAGES = math.ceil(SUBSCRIBERS / 50)
CHECKPOINT_PAGES = 4


def check(tenant: Any, group: str, path: str, mode: str = "poke") -> subprocess.Popen[str]:
    args = {
        "mode": mode,
        "conn_id": tenant.hook().kaizala_conn_id,
        "group_id": group,
        "snapshot_path": path,
        "checkpoint_pages": CHECKPOINT_PAGES,
    }
    return start_module("tests.sensors.resumable_sensor_child", args)


def finish(process: subprocess.Popen[str]) -> tuple[dict[str, Any], str]:
    out, err = process.communicate(timeout=300)
    assert process.returncode == 0, err[-3000:]
    return json.loads(out.strip().splitlines()[-1]), err


def saved_pages(store: SnapshotStore) -> int:
    path = store.partial_dir / "checkpoint.json"
    try:
        return WalkCheckpoint.from_json(path.read_text()).pages if path.exists() else 0
    except (OSError, ValueError):  # being written
        return 0


@pytest.fixture
def big_group(tenant: Any) -> str:
    return tenant.emulator.admin.create_group(
        name="Resumable check",
        groupType="ConnectGroup",
        admins=[tenant.connector["phone"]],
        subscriberCount=SUBSCRIBERS,
    )


@pytest.mark.parametrize("mode", ["poke", "trigger"])
def test_a_killed_check_resumes_from_its_checkpoint_on_the_next_check(tenant, big_group, tmp_path, mode):
    path = str(tmp_path / "snapshot.bin")
    store = SnapshotStore(path)
    baseline, _ = finish(check(tenant, big_group, path))  # the first check records the baseline
    assert baseline["done"] is False
    assert len(store.load()) == SUBSCRIBERS
    new = ["+14155550101", "+14155550102", "+14155550103"]
    tenant.hook().add_subscribers(big_group, new)

    tenant.emulator.admin.faults(slow_rate=1.0, slow_seconds=0.05, fault_paths=r"/subscribers$")
    start = last_seq(tenant)
    first = check(tenant, big_group, path, mode)
    kill_mid_walk(first, lambda: saved_pages(store), PAGES // 2, "the first check")
    killed_calls = subscriber_calls(tenant, big_group, start)
    saved = saved_pages(store)
    assert PAGES // 2 <= saved < PAGES
    assert len(store.load()) == SUBSCRIBERS  # the baseline is untouched by the interrupted check

    tenant.emulator.admin.faults(slow_rate=0.0)
    middle = last_seq(tenant)
    result, err = finish(check(tenant, big_group, path, mode))
    retry_calls = subscriber_calls(tenant, big_group, middle)
    assert "Resuming the snapshot build of the subscribers of" in err
    assert f"{saved} pages and {saved * 50} people already saved" in err
    pages_now = math.ceil((SUBSCRIBERS + len(new)) / 50)
    assert pages_now - saved <= retry_calls <= pages_now - saved + 1
    assert killed_calls + retry_calls < 2 * pages_now
    if mode == "poke":
        assert result["done"] is True
        assert (result["summary"]["added"], result["summary"]["removed"]) == (len(new), 0)
    else:
        assert result["event"] == {"status": "changed", "changes": len(new), "count": SUBSCRIBERS + len(new)}
        assert len(store.load_candidate()) == SUBSCRIBERS + len(new)
    assert not (store.partial_dir / "checkpoint.json").exists()
    assert not [p for p in store.partial_dir.iterdir() if p.name.startswith("chunk-")]


def _sensor(tenant: Any, group: str, path: str, **kwargs: Any) -> KaizalaMembershipSensor:
    sensor = KaizalaMembershipSensor(
        task_id="wait", group_id=group, kind="subscribers", snapshot_path=path, kaizala_conn_id="x", **kwargs
    )
    hook = tenant.hook()
    hook.refresh_token_store = MemoryRefreshTokenStore()
    sensor.__dict__["hook"] = hook
    return sensor


def _planted(store: SnapshotStore, group: str, cursor: str, saved_at: float) -> None:
    """A checkpoint of an earlier check: 100 people (not subscribers) and the cursor of the page after them."""
    chunk = MembershipSnapshot.from_people({"mobileNumber": f"+1415555{n:04d}"} for n in range(100))
    store.save_partial(WalkCheckpoint(group, "subscribers", cursor, pages=2, people=100), chunk)
    checkpoint = WalkCheckpoint.from_json((store.partial_dir / "checkpoint.json").read_text())
    checkpoint.saved_at = saved_at
    (store.partial_dir / "checkpoint.json").write_text(checkpoint.to_json())


def truth(tenant: Any, group: str) -> int:
    return len(tenant.emulator.admin.subscribers(group))


def test_a_refused_saved_cursor_restarts_the_build_from_page_1(tenant, big_group, tmp_path, capsys):
    path = str(tmp_path / "snapshot.bin")
    store = SnapshotStore(path)
    _planted(store, big_group, "ZXhwaXJlZDpjdXJzb3I", time.time())
    start = last_seq(tenant)
    assert _sensor(tenant, big_group, path).poke({}) is False  # the first check: records the baseline
    logged = capsys.readouterr().out
    assert "no longer accepts the saved cursor of the snapshot build" in logged
    assert "restarting it from page 1; the 100 people saved before are discarded" in logged
    assert subscriber_calls(tenant, big_group, start) == 1 + PAGES  # the refused page, then a whole walk
    assert len(store.load()) == truth(tenant, big_group)  # none of the planted people
    assert not (store.partial_dir / "checkpoint.json").exists()


def test_a_checkpoint_older_than_the_bound_is_discarded(tenant, big_group, tmp_path, capsys):
    path = str(tmp_path / "snapshot.bin")
    store = SnapshotStore(path)
    _planted(store, big_group, "ZXhwaXJlZDpjdXJzb3I", time.time() - 7 * 3600)
    start = last_seq(tenant)
    assert _sensor(tenant, big_group, path, checkpoint_max_age=6 * 3600).poke({}) is False
    logged = capsys.readouterr().out
    assert "Discarding the checkpoint of an interrupted snapshot build" in logged
    assert "checkpoint_max_age 21600 s" in logged
    assert subscriber_calls(tenant, big_group, start) == PAGES  # page 1 on, the stale cursor is never sent
    assert len(store.load()) == truth(tenant, big_group)


@pytest.mark.parametrize(("name", "value"), [("checkpoint_pages", 0), ("checkpoint_max_age", -1)])
def test_bad_checkpoint_settings_fail_before_any_call(tenant, tmp_path, name, value):
    from airflow_provider_kaizala.exceptions import KaizalaValidationError

    sensor = _sensor(tenant, tenant.public_group_id, str(tmp_path / "s.bin"), **{name: value})
    with pytest.raises(KaizalaValidationError, match=name):
        sensor.poke({})
    assert tenant.calls() == []


def test_an_expired_saved_cursor_restarts_the_build_from_page_1(tenant, big_group, tmp_path, capsys):
    """The emulator's cursor_lifetime switch: a real cursor, saved by a check, expires before the next one."""
    tenant.emulator.admin.faults(cursor_lifetime=60)
    try:
        pages = tenant.hook().iter_subscriber_pages(big_group, with_cursor=True)
        _, cursor = next(pages)
        pages.close()
        path = str(tmp_path / "snapshot.bin")
        store = SnapshotStore(path)
        _planted(store, big_group, cursor, time.time())
        tenant.emulator.admin.advance_clock(120)
        start = last_seq(tenant)
        assert _sensor(tenant, big_group, path).poke({}) is False
        logged = capsys.readouterr().out
        assert "no longer accepts the saved cursor of the snapshot build" in logged
        assert subscriber_calls(tenant, big_group, start) == 1 + PAGES
        assert len(store.load()) == truth(tenant, big_group)
    finally:
        tenant.emulator.admin.faults(cursor_lifetime=0)


def test_a_resumed_check_counts_its_eta_from_what_is_left(tenant, big_group, tmp_path, capsys):
    """The progress of a resumed build expects the baseline less the people the checkpoint already saved."""
    path = str(tmp_path / "snapshot.bin")
    store = SnapshotStore(path)
    sensor = _sensor(tenant, big_group, path)
    assert sensor.poke({}) is False  # the baseline: SUBSCRIBERS people
    pages = tenant.hook().iter_subscriber_pages(big_group, with_cursor=True)
    next(pages)
    _, cursor = next(pages)  # the cursor after two pages (100 people)
    pages.close()
    _planted(store, big_group, str(cursor), time.time())
    capsys.readouterr()
    sensor.hook.progress_interval = 1e-9
    sensor.poke({})
    lines = [line for line in capsys.readouterr().out.splitlines() if "Kaizala walk of" in line]
    assert f"of {SUBSCRIBERS - 100:,}" in lines[0], lines[0]
