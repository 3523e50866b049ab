"""Resumable walks of KaizalaToSqlOperator (issue 17, point 4): a killed load resumes on its retry.

Every test runs on SQLite and on the real PostgreSQL server of ``conftest.py``; the interrupted tries are real
processes killed with SIGKILL, or walks broken by a real server answering errors.
"""

from __future__ import annotations

import json
import math
import subprocess
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from airflow_provider_kaizala.exceptions import KaizalaException
from airflow_provider_kaizala.hooks.config import TOKEN_CACHE
from airflow_provider_kaizala.hooks.kaizala import KaizalaHook
from airflow_provider_kaizala.transfers.kaizala_to_sql import KaizalaToSqlOperator
from tests.conftest import kill_mid_walk, last_seq, start_module, subscriber_calls
from tests.transfers.conftest import open_spells, tables

T1 = "2026-11-01T00:00:00+00:00"
T2 = "2026-11-02T00:00:00+00:00"
SUBSCRIBERS = 2000
PAGES = math.ceil(SUBSCRIBERS / 50)


def truth(tenant: Any, group_id: str) -> list[str]:
    return sorted(s["mobileNumber"] for s in tenant.emulator.admin.subscribers(group_id))


def try_load(tenant: Any, warehouse: Any, group_id: str, run_id: str) -> subprocess.Popen[str]:
    args = {
        "conn_id": tenant.hook().kaizala_conn_id,
        "sql_conn_id": warehouse.conn_id,
        "group_id": group_id,
        "observed_at": T1,
        "run_id": run_id,
        "checkpoint_pages": 4,
    }
    return start_module("tests.transfers.resumable_child", args)


def checkpointed_pages(warehouse: Any) -> int:
    try:
        rows = warehouse.query("SELECT pages FROM kaizala_membership_walks")
    except Exception:  # the checkpoint table is not there yet
        return 0
    return int(rows[0][0]) if rows else 0


def test_a_killed_load_resumes_from_its_checkpoint_on_retry(tenant, warehouse):
    emulator = tenant.emulator
    group = emulator.admin.create_group(
        name="Resumable", groupType="ConnectGroup", admins=[tenant.connector["phone"]], subscriberCount=SUBSCRIBERS
    )
    # Slow pages, so the first try is surely killed in the middle of its walk.
    emulator.admin.faults(slow_rate=1.0, slow_seconds=0.05, fault_paths=r"/subscribers$")
    start = last_seq(tenant)
    first = try_load(tenant, warehouse, group, "scheduled__2026-11-01")
    kill_mid_walk(first, lambda: checkpointed_pages(warehouse), PAGES // 2, "the first try")
    killed_calls = subscriber_calls(tenant, group, start)
    saved = checkpointed_pages(warehouse)
    assert PAGES // 2 <= saved < PAGES
    assert open_spells(warehouse, group, "subscribers") == []  # nothing merged yet

    emulator.admin.faults(slow_rate=0.0)
    middle = last_seq(tenant)
    retry = try_load(tenant, warehouse, group, "scheduled__2026-11-01")
    out, err = retry.communicate(timeout=300)
    assert retry.returncode == 0, err[-3000:]
    result = json.loads(out.strip().splitlines()[-1])
    retry_calls = subscriber_calls(tenant, group, middle)

    assert (result["present"], result["joined"], result["left"]) == (SUBSCRIBERS, SUBSCRIBERS, 0)
    assert open_spells(warehouse, group, "subscribers") == truth(tenant, group)
    assert f"Resuming the walk of subscribers of {group} from its checkpoint: {saved} pages" in err
    # From the page after the checkpoint, not from page 1 (+1: the killed try's last request, answered by the
    # slow emulator after the kill, is logged when it is answered).
    assert PAGES - saved <= retry_calls <= PAGES - saved + 1
    assert retry_calls < PAGES
    assert killed_calls + retry_calls < 2 * PAGES
    # The successful load leaves neither checkpoint nor staging table behind.
    assert warehouse.query("SELECT COUNT(*) FROM kaizala_membership_walks") == [(0,)]
    assert not any("__kz_walk_" in name for name in tables(warehouse))


def operator(conn_id: str, warehouse: Any, group: str, **kwargs: Any) -> KaizalaToSqlOperator:
    return KaizalaToSqlOperator(
        task_id="load",
        kaizala_conn_id=conn_id,
        sql_conn_id=warehouse.conn_id,
        group_id=group,
        kind="subscribers",
        **{"observed_at": T1, "checkpoint_pages": 2, **kwargs},
    )


TI = SimpleNamespace(dag_id="resumable", task_id="load", run_id="manual__1", map_index=-1)


def fail_after_two_pages(tenant: Any, warehouse: Any, hostile_proxy: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """A load through a proxy that answers 503 from the third subscriber page on: it fails after checkpointing
    page 2 (connection ``kaizala_through_proxy``)."""
    conn = json.loads(tenant.conn_json(max_retries=0))
    conn["host"] = f"{hostile_proxy.url}/v1"
    monkeypatch.setenv("AIRFLOW_CONN_KAIZALA_THROUGH_PROXY", json.dumps(conn))
    TOKEN_CACHE.clear()
    hostile_proxy.spoil(
        r"/subscribers$", after=3, status=503, body=b'{"message": "down"}', content_type="application/json"
    )
    with pytest.raises(KaizalaException):
        operator("kaizala_through_proxy", warehouse, tenant.public_group_id).execute({"ti": TI})


def test_a_refused_saved_cursor_restarts_the_walk_from_page_1(tenant, warehouse, hostile_proxy, monkeypatch, capsys):
    group = tenant.public_group_id
    fail_after_two_pages(tenant, warehouse, hostile_proxy, monkeypatch)
    assert checkpointed_pages(warehouse) == 2  # the checkpoint after page 2 was committed
    # The server no longer accepts the saved cursor: the emulator answers 400 "Invalid cursor" to a cursor it
    # cannot use (it has no cursor lifetime today), which is what an expired cursor gets.
    warehouse.query("UPDATE kaizala_membership_walks SET cursor = %s", "ZXhwaXJlZDpjdXJzb3I")
    start = last_seq(tenant)
    capsys.readouterr()
    result = operator(tenant.hook().kaizala_conn_id, warehouse, group).execute({"ti": TI})
    logged = capsys.readouterr().out  # the task log (structlog writes it to stdout here)
    assert "no longer accepts the saved cursor" in logged
    assert "restarting it from page 1" in logged
    pages = math.ceil(tenant.subscriber_count / 50)
    assert subscriber_calls(tenant, group, start) == 1 + pages  # the refused page, then a whole walk
    assert (result["present"], result["joined"]) == (tenant.subscriber_count, tenant.subscriber_count)
    assert open_spells(warehouse, group, "subscribers") == truth(tenant, group)
    assert not any("__kz_walk_" in name for name in tables(warehouse))


def test_a_retry_does_not_walk_again_a_list_an_earlier_try_merged(tenant, warehouse, tmp_path):
    changes = str(tmp_path / "changes.jsonl")
    op = operator(tenant.hook().kaizala_conn_id, warehouse, tenant.public_group_id, changes_path=changes)
    # The first try merged the list, then its worker was lost while it wrote the changes file.
    op._write_changes = lambda *a, **k: (_ for _ in ()).throw(SystemExit("worker lost"))  # type: ignore[method-assign]
    with pytest.raises(SystemExit):
        op.execute({"ti": TI})
    op = operator(tenant.hook().kaizala_conn_id, warehouse, tenant.public_group_id, changes_path=changes)
    start = last_seq(tenant)
    result = op.execute({"ti": TI})
    assert (result["present"], result["joined"]) == (tenant.subscriber_count, tenant.subscriber_count)
    assert subscriber_calls(tenant, tenant.public_group_id, start) == 0
    assert result["changesPath"].endswith("changes.jsonl")
    assert len(Path(changes).read_text().splitlines()) == tenant.subscriber_count
    assert warehouse.query("SELECT COUNT(*) FROM kaizala_membership_walks") == [(0,)]


def test_abandoned_checkpoints_are_removed_and_foreign_tables_kept(tenant, warehouse, hostile_proxy, monkeypatch):
    group = tenant.public_group_id
    fail_after_two_pages(tenant, warehouse, hostile_proxy, monkeypatch)
    assert any("__kz_walk_" in name for name in tables(warehouse))
    warehouse.query("UPDATE kaizala_membership_walks SET updated_at = %s", "2026-01-01T00:00:00+00:00")
    warehouse.query("CREATE TABLE kaizala_membership__kz_walk_mine (note TEXT)")
    other = SimpleNamespace(dag_id="resumable", task_id="load", run_id="manual__2", map_index=-1)
    operator(tenant.hook().kaizala_conn_id, warehouse, group, checkpoint_max_age=86400).execute({"ti": other})
    assert warehouse.query("SELECT COUNT(*) FROM kaizala_membership_walks") == [(0,)]
    assert [n for n in tables(warehouse) if "__kz_walk_" in n] == ["kaizala_membership__kz_walk_mine"]


def test_a_load_reports_progress_through_the_hooks_reporter(tenant, warehouse, monkeypatch, capsys):
    """The walk's progress goes through the hook's time-based reporter; the size of the last load gives an ETA."""
    monkeypatch.setattr(KaizalaHook, "progress_interval", 1e-9)
    group = tenant.public_group_id
    operator(tenant.hook().kaizala_conn_id, warehouse, group).execute({"ti": TI})
    first = capsys.readouterr().out
    assert f"Kaizala walk of subscribers of group {group}: 1 pages, 50 people" in first
    assert "rows/s" not in first  # the transfer's own every-200-pages lines are gone
    later = SimpleNamespace(dag_id="resumable", task_id="load", run_id="manual__2", map_index=-1)
    operator(tenant.hook().kaizala_conn_id, warehouse, group, observed_at=T2).execute({"ti": later})
    second = capsys.readouterr().out
    left = tenant.subscriber_count - 50
    assert "1 pages, 50 people" in second
    assert f"left for {left:,} of {tenant.subscriber_count:,}" in second
    assert f"done, {math.ceil(tenant.subscriber_count / 50)} pages, {tenant.subscriber_count} people" in second
