"""Paging actions when the API's ``sentAt`` has whole seconds only (the emulator's exact times cannot show this)."""

from __future__ import annotations

import pytest

from airflow_provider_kaizala.exceptions import KaizalaException
from airflow_provider_kaizala.hooks.kaizala import KaizalaHook
from tests.hooks.conftest import SECOND, fake_api

pytestmark = pytest.mark.usefixtures("unused_connection")


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
