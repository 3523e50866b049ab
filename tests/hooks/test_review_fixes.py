"""Small hook fixes found by reviewers: each test failed on the code before its fix."""

from __future__ import annotations

import pytest

from airflow_provider_kaizala.exceptions import KaizalaPagingError, KaizalaValidationError
from airflow_provider_kaizala.hooks.kaizala import KaizalaHook
from tests.hooks.conftest import SECOND, fake_api

pytestmark = pytest.mark.usefixtures("unused_connection")


def test_create_subgroup_without_a_welcome_message_sends_an_empty_one(tenant):
    """The API requires welcomeMessage (an empty one is allowed): leaving it out was a 400."""
    hook = tenant.hook()
    child = hook.create_subgroup(tenant.group_id, "South")["groupId"]
    assert child in {g["groupId"] for g in hook.list_subgroups(tenant.group_id)}
    assert next(g for g in hook.list_subgroups(tenant.group_id) if g["groupId"] == child)["welcomeMessage"] == ""


@pytest.mark.parametrize("page_size", [1, 2, 30])
def test_iter_actions_from_a_millisecond_date_with_whole_second_sent_at(page_size):
    """sentAt has whole seconds, so an action after ``from_date_ms`` may show up to 999 ms before it."""
    actions = [{"id": "before", "ms": SECOND + 100}, {"id": "a", "ms": SECOND + 600}, {"id": "b", "ms": SECOND + 900}]
    actions += [{"id": "c", "ms": SECOND + 2000}]
    hook = KaizalaHook("unused")
    hook.call, _ = fake_api(actions)  # type: ignore[method-assign]
    got = [a["referenceId"] for a in hook.iter_actions("g@1", "Job", from_date_ms=SECOND + 500, page_size=page_size)]
    assert got == ["a", "b", "c"]


def test_iter_actions_still_refuses_a_server_that_goes_back_more_than_a_second():
    def call(endpoint, *, params, group_id, **_):
        return {"actions": [{"referenceId": "x", "sentAt": "2020-01-01T00:00:00Z"}], "hasMore": True}

    hook = KaizalaHook("unused")
    hook.call = call  # type: ignore[method-assign]
    with pytest.raises(KaizalaPagingError, match="back in time"):
        list(hook.iter_actions("g@1", "Job", from_date_ms=SECOND + 500))


@pytest.mark.parametrize(
    "walk",
    [
        lambda hook: hook.get_reaction_summary("bad/group", "ref"),
        lambda hook: next(hook.iter_reactions("bad/group", "ref")),
        lambda hook: next(hook.iter_group_reactions("bad/group")),
        lambda hook: hook.add_reaction("bad/group", "ref"),
    ],
)
def test_a_bad_group_id_of_a_reaction_call_is_named_group_id(tenant, walk):
    with pytest.raises(KaizalaValidationError) as err:
        walk(tenant.hook())
    assert "group_id" in str(err.value)
    assert "source_group_id" not in str(err.value)
    assert tenant.calls() == []


@pytest.mark.parametrize(
    "post",
    [
        lambda hook: hook.post_action("g@1", '{"question": "q"}', action_type="Poll"),
        lambda hook: hook.post_action_response("g@1", "a@1", '{"x": 1}', action_type="Poll"),
    ],
)
def test_a_string_action_body_error_explains_native_rendering(tenant, post):
    with pytest.raises(KaizalaValidationError) as err:
        post(tenant.hook())
    assert "render_template_as_native_obj=True" in str(err.value)
    assert "action_body" in str(err.value)
    assert tenant.calls() == []
