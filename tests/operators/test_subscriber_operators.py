"""Subscriber operators against the emulator over HTTP, checked against the emulator's subscriber lists."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import time
from pathlib import Path

import pytest
from airflow.sdk import ObjectStoragePath

from airflow_provider_kaizala.emulator.state import user_id_and_provisioned
from airflow_provider_kaizala.exceptions import KaizalaBadRequestError, KaizalaValidationError
from airflow_provider_kaizala.operators.subscribers import (
    KaizalaAddSubscribersOperator,
    KaizalaListSubscribersOperator,
    KaizalaRemoveSubscribersOperator,
    summarise_outcomes,
)
from tests.conftest import Tenant, kill_mid_walk, last_seq, start_module, subscriber_calls
from tests.operators.conftest import calls_to, conn_id, new_phone, run


def subscribers(tenant: Tenant) -> dict[str, str]:
    """Ground truth: the emulator's subscribers of the public group, phone -> user id."""
    return {s["mobileNumber"]: s["id"] for s in tenant.emulator.admin.subscribers(tenant.public_group_id)}


def unprovisioned(phones) -> int:
    return sum(not user_id_and_provisioned(p)[1] for p in phones)


# ------------------------------------------------------------------------------------------- list


def test_list_subscribers_returns_counts_only_by_default(tenant):
    truth = subscribers(tenant)
    assert len(truth) == tenant.subscriber_count == 237
    result = run(
        KaizalaListSubscribersOperator(task_id="ls", kaizala_conn_id=conn_id(tenant), group_id=tenant.public_group_id)
    )
    assert result == {
        "groupId": tenant.public_group_id,
        "count": 237,
        "unprovisioned": unprovisioned(truth),
        "pages": math.ceil(237 / 50),
    }
    assert len(calls_to(tenant, "POST", "/subscribers")) == 5


def test_list_subscribers_writes_json_lines(tenant, tmp_path):
    op = KaizalaListSubscribersOperator(
        task_id="ls",
        kaizala_conn_id=conn_id(tenant),
        group_id=tenant.public_group_id,
        page_size=40,
        output_path=str(tmp_path) + "/out/{{ ds }}/subscribers.jsonl",
    )
    op.render_template_fields({"ds": "2026-11-27"})
    result = run(op)
    target = tmp_path / "out" / "2026-11-27" / "subscribers.jsonl"
    assert result["path"] == target.as_uri()
    assert "subscribers" not in result
    assert (result["count"], result["pages"]) == (237, 6)
    rows = [json.loads(line) for line in target.read_text().splitlines()]
    assert len(rows) == 237
    assert {r["mobileNumber"]: r["id"] for r in rows} == subscribers(tenant)
    assert result["unprovisioned"] == sum(not r["isProvisioned"] for r in rows) == unprovisioned(subscribers(tenant))


def test_list_subscribers_to_object_storage_path_and_return_list(tenant, tmp_path):
    target = ObjectStoragePath((tmp_path / "subs.jsonl").as_uri())
    result = run(
        KaizalaListSubscribersOperator(
            task_id="ls",
            kaizala_conn_id=conn_id(tenant),
            group_id=tenant.public_group_id,
            output_path=target,
            return_list=True,
        )
    )
    truth = subscribers(tenant)
    assert {s["mobileNumber"]: s["id"] for s in result["subscribers"]} == truth
    assert len(result["subscribers"]) == 237
    rows = [json.loads(line) for line in (tmp_path / "subs.jsonl").read_text().splitlines()]
    assert [r["mobileNumber"] for r in rows] == [s["mobileNumber"] for s in result["subscribers"]]
    assert result["count"] == 237


def test_list_subscribers_return_list_without_file(tenant):
    result = run(
        KaizalaListSubscribersOperator(
            task_id="ls",
            kaizala_conn_id=conn_id(tenant),
            group_id=tenant.public_group_id,
            page_size=50,
            return_list="true",
        )
    )
    assert "path" not in result
    assert sorted(s["mobileNumber"] for s in result["subscribers"]) == sorted(subscribers(tenant))


def test_list_subscribers_templated_bad_group_id_fails_before_any_call(tenant, tmp_path):
    op = KaizalaListSubscribersOperator(
        task_id="ls",
        kaizala_conn_id=conn_id(tenant),
        group_id="{{ params.group }}",
        output_path=str(tmp_path / "never.jsonl"),
    )
    op.render_template_fields({"params": {"group": " "}})
    with pytest.raises(KaizalaValidationError, match=r"group_id=' '"):
        op.execute(context={})
    assert tenant.calls() == []


def test_list_subscribers_templated_page_size(tenant):
    op = KaizalaListSubscribersOperator(
        task_id="ls", kaizala_conn_id=conn_id(tenant), group_id=tenant.public_group_id, page_size="{{ params.size }}"
    )
    op.render_template_fields({"params": {"size": 20}})
    result = run(op)
    assert (result["count"], result["pages"]) == (237, 12)


# ------------------------------------------------------------------------------------ add/remove


def test_add_subscribers_twice_reports_unchanged(tenant):
    existing = sorted(subscribers(tenant))[:2]
    fresh = [new_phone(), new_phone(), new_phone()]
    args = {"kaizala_conn_id": conn_id(tenant), "group_id": tenant.public_group_id, "phone_numbers": fresh + existing}
    first = run(KaizalaAddSubscribersOperator(task_id="add", **args))
    assert first == {"groupId": tenant.public_group_id, "requested": 5, "changed": 3, "unchanged": 2, "failed": {}}
    assert set(fresh) <= set(subscribers(tenant))
    assert len(subscribers(tenant)) == 240
    second = run(KaizalaAddSubscribersOperator(task_id="add_again", **args))
    assert second == {"groupId": tenant.public_group_id, "requested": 5, "changed": 0, "unchanged": 5, "failed": {}}
    assert len(subscribers(tenant)) == 240


def test_remove_subscribers_twice_reports_unchanged(tenant):
    existing = sorted(subscribers(tenant))[-3:]
    stranger = new_phone()
    args = {
        "kaizala_conn_id": conn_id(tenant),
        "group_id": tenant.public_group_id,
        "phone_numbers": [*existing, stranger],
    }
    first = run(KaizalaRemoveSubscribersOperator(task_id="rm", **args))
    assert first == {"groupId": tenant.public_group_id, "requested": 4, "changed": 3, "unchanged": 1, "failed": {}}
    truth = subscribers(tenant)
    assert len(truth) == 234
    assert not set(existing) & set(truth)
    second = run(KaizalaRemoveSubscribersOperator(task_id="rm_again", **args))
    assert second == {"groupId": tenant.public_group_id, "requested": 4, "changed": 0, "unchanged": 4, "failed": {}}
    assert len(subscribers(tenant)) == 234


def test_add_more_than_100_subscribers_is_split_into_batches(tenant):
    fresh = [new_phone() for _ in range(230)]
    result = run(
        KaizalaAddSubscribersOperator(
            task_id="add", kaizala_conn_id=conn_id(tenant), group_id=tenant.public_group_id, phone_numbers=fresh
        )
    )
    assert result == {"groupId": tenant.public_group_id, "requested": 230, "changed": 230, "unchanged": 0, "failed": {}}
    puts = calls_to(tenant, "PUT", "/subscribers/add")
    assert len(puts) == 3
    assert set(fresh) <= set(subscribers(tenant))
    assert len(subscribers(tenant)) == 237 + 230


def test_remove_more_than_100_subscribers_is_split_into_batches(tenant):
    before = subscribers(tenant)
    doomed = sorted(before)[:201]
    result = run(
        KaizalaRemoveSubscribersOperator(
            task_id="rm", kaizala_conn_id=conn_id(tenant), group_id=tenant.public_group_id, phone_numbers=doomed
        )
    )
    assert result["changed"] == 201
    assert len(calls_to(tenant, "PUT", "/subscribers/remove")) == 3
    after = subscribers(tenant)
    assert set(after) == set(before) - set(doomed)
    assert len(after) == 36


def test_add_subscribers_to_a_private_group_fails(tenant):
    op = KaizalaAddSubscribersOperator(
        task_id="add", kaizala_conn_id=conn_id(tenant), group_id=tenant.group_id, phone_numbers=[new_phone()]
    )
    with pytest.raises(KaizalaBadRequestError, match="public group"):
        op.execute(context={})


@pytest.mark.parametrize("operator", [KaizalaAddSubscribersOperator, KaizalaRemoveSubscribersOperator])
def test_templated_bad_number_fails_before_any_call(tenant, operator):
    op = operator(
        task_id="bulk",
        kaizala_conn_id=conn_id(tenant),
        group_id=tenant.public_group_id,
        phone_numbers=["{{ params.good }}", "{{ params.bad }}"],
    )
    op.render_template_fields({"params": {"good": new_phone(), "bad": "+91 12"}})
    with pytest.raises(KaizalaValidationError, match=r"phone_numbers\[1\]='\+91 12'"):
        op.execute(context={})
    assert tenant.calls() == []
    assert len(subscribers(tenant)) == 237


def test_summarise_outcomes_reports_failures_per_number():
    outcomes = {
        "+919030000001": {"isAdded": True},
        "+919030000002": {"isAdded": False, "reason": "AlreadySubscribed"},
        "+919030000003": {"isAdded": False, "reason": "Blocked"},
        "+919030000004": {"isAdded": False},
    }
    requested = [*outcomes, "+919030000005"]
    assert summarise_outcomes(requested, outcomes, "isAdded") == {
        "requested": 5,
        "changed": 1,
        "unchanged": 1,
        "failed": {"+919030000003": "Blocked", "+919030000004": "Unknown", "+919030000005": "NoResult"},
    }
    # "NotSubscribed" is benign for a removal but a failure for an addition.
    assert summarise_outcomes(["+1"], {"+1": {"isAdded": False, "reason": "NotSubscribed"}}, "isAdded")["failed"] == {
        "+1": "NotSubscribed"
    }
    assert summarise_outcomes(["+1"], {"+1": {"isRemoved": False, "reason": "NotSubscribed"}}, "isRemoved") == {
        "requested": 1,
        "changed": 0,
        "unchanged": 1,
        "failed": {},
    }


# ---------------------------------------------------------------------------- resumable walk to a file

RESUMABLE_SUBSCRIBERS = 2000
RESUMABLE_PAGES = math.ceil(RESUMABLE_SUBSCRIBERS / 50)


def list_try(tenant: Tenant, group: str, path: str) -> subprocess.Popen[str]:
    """One try of the list task in a process of its own (this module run as a script is the child)."""
    args = {"conn_id": conn_id(tenant), "group_id": group, "output_path": path}
    return start_module("tests.operators.test_subscriber_operators", args)


def _child(raw: str) -> None:
    """Child side of :func:`list_try`: run the operator with checkpoints every 4 pages; log lines to stderr."""
    import logging

    from airflow_provider_kaizala.hooks.kaizala import KaizalaHook
    from airflow_provider_kaizala.hooks.token_store import MemoryRefreshTokenStore

    args = json.loads(raw)
    op = KaizalaListSubscribersOperator(
        task_id="ls",
        kaizala_conn_id=args["conn_id"],
        group_id=args["group_id"],
        output_path=args["output_path"],
        checkpoint_pages=4,
    )
    op.__dict__["hook"] = KaizalaHook(args["conn_id"], refresh_token_store=MemoryRefreshTokenStore())
    log = logging.getLogger("list_child")
    log.addHandler(logging.StreamHandler(sys.stderr))
    log.propagate = False
    log.setLevel(logging.INFO)
    op._cached_logger = log  # type: ignore[assignment]
    sys.stdout.write(json.dumps(op.execute({})) + "\n")


def checkpoint_pages_of(path: str) -> int:
    try:
        return int(json.loads(Path(path + ".partial/checkpoint.json").read_text())["pages"])
    except (OSError, ValueError, KeyError):
        return 0


def test_a_killed_list_to_a_file_resumes_from_its_checkpoint_on_retry(tenant, tmp_path):
    group = tenant.emulator.admin.create_group(
        name="Resumable list",
        groupType="ConnectGroup",
        admins=[tenant.connector["phone"]],
        subscriberCount=RESUMABLE_SUBSCRIBERS,
    )
    path = str(tmp_path / "out" / "subscribers.jsonl")
    tenant.emulator.admin.faults(slow_rate=1.0, slow_seconds=0.05, fault_paths=r"/subscribers$")
    start = last_seq(tenant)
    first = list_try(tenant, group, path)
    kill_mid_walk(first, lambda: checkpoint_pages_of(path), RESUMABLE_PAGES // 2, "the first try")
    killed = subscriber_calls(tenant, group, start)
    saved = checkpoint_pages_of(path)
    assert RESUMABLE_PAGES // 2 <= saved < RESUMABLE_PAGES
    assert not Path(path).exists()  # the file is only written whole

    tenant.emulator.admin.faults(slow_rate=0.0)
    middle = last_seq(tenant)
    retry = list_try(tenant, group, path)
    out, err = retry.communicate(timeout=300)
    assert retry.returncode == 0, err[-3000:]
    result = json.loads(out.strip().splitlines()[-1])
    retried = subscriber_calls(tenant, group, middle)
    assert f"Resuming the walk of the subscribers of {group} from its checkpoint: {saved} pages" in err
    assert RESUMABLE_PAGES - saved <= retried <= RESUMABLE_PAGES - saved + 1
    assert killed + retried < 2 * RESUMABLE_PAGES
    rows = [json.loads(line) for line in Path(path).read_text().splitlines()]
    truth = sorted(s["mobileNumber"] for s in tenant.emulator.admin.subscribers(group))
    assert sorted(row["mobileNumber"] for row in rows) == truth
    assert (result["count"], result["pages"]) == (RESUMABLE_SUBSCRIBERS, RESUMABLE_PAGES)
    assert not Path(path + ".partial").exists()


def test_a_refused_saved_cursor_restarts_the_list_from_page_1(tenant, tmp_path, capsys):
    path = tmp_path / "subscribers.jsonl"
    folder = tmp_path / "subscribers.jsonl.partial"
    folder.mkdir()
    (folder / "part-000001.jsonl").write_text('{"mobileNumber":"+14155550000"}\n')
    saved = {"groupId": tenant.public_group_id, "cursor": "ZXhwaXJlZDpjdXJzb3I", "parts": 1, "pages": 1}
    (folder / "checkpoint.json").write_text(
        json.dumps({**saved, "count": 1, "unprovisioned": 0, "savedAt": time.time()})
    )
    start = last_seq(tenant)
    op = KaizalaListSubscribersOperator(
        task_id="ls", kaizala_conn_id=conn_id(tenant), group_id=tenant.public_group_id, output_path=str(path)
    )
    result = run(op)
    logged = capsys.readouterr().out
    assert "no longer accepts the saved cursor" in logged
    assert "restarting it from page 1; the 1 people written before are discarded" in logged
    assert subscriber_calls(tenant, tenant.public_group_id, start) == 1 + math.ceil(tenant.subscriber_count / 50)
    rows = [json.loads(line)["mobileNumber"] for line in path.read_text().splitlines()]
    assert sorted(rows) == sorted(subscribers(tenant))
    assert result["count"] == tenant.subscriber_count
    assert not folder.exists()


def test_an_old_list_checkpoint_is_discarded(tenant, tmp_path, capsys):
    path = tmp_path / "subscribers.jsonl"
    folder = tmp_path / "subscribers.jsonl.partial"
    folder.mkdir()
    (folder / "part-000001.jsonl").write_text('{"mobileNumber":"+14155550000"}\n')
    saved = {"groupId": tenant.public_group_id, "cursor": "ZXhwaXJlZDpjdXJzb3I", "parts": 1, "pages": 1, "count": 1}
    (folder / "checkpoint.json").write_text(json.dumps({**saved, "unprovisioned": 0, "savedAt": time.time() - 86400}))
    op = KaizalaListSubscribersOperator(
        task_id="ls", kaizala_conn_id=conn_id(tenant), group_id=tenant.public_group_id, output_path=str(path)
    )
    result = run(op)
    assert "Discarding the checkpoint of an interrupted walk" in capsys.readouterr().out
    assert result["count"] == tenant.subscriber_count
    assert len(path.read_text().splitlines()) == tenant.subscriber_count


if __name__ == "__main__":
    _child(sys.argv[1])
