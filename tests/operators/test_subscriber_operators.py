"""Subscriber operators against the emulator over HTTP, checked against the emulator's subscriber lists."""

from __future__ import annotations

import json
import math

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
from tests.conftest import Tenant
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
