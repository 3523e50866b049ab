"""Paging actions when the API's ``sentAt`` has whole seconds only (the emulator's exact times cannot show this)."""

from __future__ import annotations

import json
from typing import Any

import pendulum
import pytest

from airflow_provider_kaizala.exceptions import KaizalaException
from airflow_provider_kaizala.hooks.kaizala import KaizalaHook

SECOND = 1_795_000_000_000  # a whole second, in epoch ms


@pytest.fixture(autouse=True)
def unused_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    """A connection for the hook's settings (max_pages); the faked ``call`` never uses it to send anything."""
    conn = {"conn_type": "kaizala", "login": "app", "password": "secret", "extra": {"refresh_token": "rt"}}
    monkeypatch.setenv("AIRFLOW_CONN_UNUSED", json.dumps(conn))


def fake_api(actions: list[dict[str, Any]]):
    """fromDate inclusive (ms), ascending, count-limited, hasMore; sentAt rendered with whole seconds."""
    calls: list[dict[str, Any]] = []

    def call(endpoint: str, *, params: dict[str, Any], group_id: str, **_: Any) -> dict[str, Any]:
        calls.append(dict(params))
        start = params.get("fromDate", 0)
        matching = [a for a in actions if a["ms"] >= start]
        page = matching[: params["count"]]
        items = [
            {
                "referenceId": a["id"],
                "sentAt": pendulum.from_timestamp(a["ms"] // 1000).format("YYYY-MM-DDTHH:mm:ss[Z]"),
            }
            for a in page
        ]
        return {"actions": items, "hasMore": len(matching) > params["count"]}

    return call, calls


@pytest.mark.parametrize(("same_second", "page_size"), [(3, 2), (7, 2), (5, 5), (1, 1)])
def test_every_action_once_when_many_share_a_second(same_second, page_size):
    actions = [{"id": f"a{i}", "ms": SECOND + 10 * i} for i in range(same_second)]
    actions += [{"id": f"b{i}", "ms": SECOND + 1000 * (i + 1)} for i in range(4)]
    hook = KaizalaHook("unused")
    hook.call, calls = fake_api(actions)  # type: ignore[method-assign]
    got = [a["referenceId"] for a in hook.iter_actions("g@1", "Job", page_size=page_size)]
    assert got == [a["id"] for a in actions]
    assert len(calls) < 30


def test_more_than_the_largest_page_in_one_second_fails_loudly():
    actions = [{"id": f"a{i}", "ms": SECOND + i} for i in range(150)]
    hook = KaizalaHook("unused")
    hook.call, _ = fake_api(actions)  # type: ignore[method-assign]
    with pytest.raises(KaizalaException, match="share one timestamp"):
        list(hook.iter_actions("g@1", "Job", page_size=10))
