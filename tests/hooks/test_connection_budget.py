"""The call budget's settings are read from the connection's extras and checked before any call."""

from __future__ import annotations

import os

import pytest

from airflow_provider_kaizala.exceptions import KaizalaValidationError


def test_budget_extras_of_the_connection_take_effect(tenant, tmp_path):
    budget_dir = tmp_path / "budget"
    hook = tenant.hook(budget_backend="host", budget_dir=str(budget_dir), bulk_share="0.5", tenant="acme")
    budget = hook.kaizala_session.budget
    assert budget.backend == "host"
    assert {limit.name for limit in budget.limits} == {"connector", "tenant"}
    assert {limit.bulk_share for limit in budget.limits} == {0.5}
    assert sum(len(page) for page in hook.iter_subscriber_pages(tenant.public_group_id)) == tenant.subscriber_count
    assert os.listdir(budget_dir)  # the host backend keeps its budgets where the connection said


def test_budget_backend_extra_local_keeps_the_budget_in_the_process(tenant):
    budget = tenant.hook(budget_backend="local").kaizala_session.budget
    assert budget.backend == "local"
    assert [limit.name for limit in budget.limits] == ["connector"]


@pytest.mark.parametrize(
    ("extra", "value"),
    [
        ("budget_backend", "memcached"),
        ("bulk_share", "lots"),
        ("bulk_share", "1.5"),
        ("tenant_rate_limit_per_minute", "0"),
        ("budget_redis_url", "http://redis:6379/0"),
    ],
)
def test_bad_budget_extra_is_a_clear_error_before_any_call(tenant, extra, value):
    hook = tenant.hook(**{extra: value})
    with pytest.raises(KaizalaValidationError) as err:
        hook.list_groups()
    assert extra in str(err.value)
    assert "connection" in str(err.value)
    assert tenant.calls() == []
