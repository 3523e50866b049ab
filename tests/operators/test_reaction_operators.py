"""Reaction operators against the emulator over HTTP, checked against what the emulator reports."""

from __future__ import annotations

import pytest

from airflow_provider_kaizala.exceptions import KaizalaNotFoundError, KaizalaValidationError
from airflow_provider_kaizala.hooks.actions import job_body
from airflow_provider_kaizala.operators.reactions import KaizalaAddReactionOperator, KaizalaGetReactionSummaryOperator
from tests.conftest import Tenant
from tests.operators.conftest import conn_id, run


def react(tenant: Tenant, reference_id: str, **args) -> dict:
    return run(
        KaizalaAddReactionOperator(
            task_id="react",
            kaizala_conn_id=conn_id(tenant),
            group_id=tenant.group_id,
            reference_id=reference_id,
            **args,
        )
    )


def summary(tenant: Tenant, reference_id: str, **args) -> dict:
    return run(
        KaizalaGetReactionSummaryOperator(
            task_id="summary",
            kaizala_conn_id=conn_id(tenant),
            group_id=tenant.group_id,
            reference_id=reference_id,
            **args,
        )
    )


def test_like_and_comment_a_message(tenant):
    reference = tenant.hook().send_message(tenant.group_id, "Stock arrived")["referenceId"]
    like = react(tenant, reference)
    comment = react(tenant, reference, reaction_type="comment", comment="Thanks!")
    assert like == {"reactionId": like["reactionId"], "referenceId": reference, "reactionType": "Like"}
    assert comment["reactionType"] == "Comment"
    assert comment["reactionId"] != like["reactionId"]
    assert summary(tenant, reference) == {"referenceId": reference, "like": 1, "comment": 1}
    detailed = summary(tenant, reference, include_details="true")
    by_id = {r["reactionId"]: r for r in detailed["reactions"]}
    assert set(by_id) == {like["reactionId"], comment["reactionId"]}
    assert by_id[comment["reactionId"]]["userId"] == by_id[like["reactionId"]]["userId"]  # both the connector's


def test_liking_again_keeps_one_like(tenant):
    reference = tenant.hook().send_message(tenant.group_id, "Hello")["referenceId"]
    first, second = react(tenant, reference), react(tenant, reference)
    assert first["reactionId"] == second["reactionId"]
    assert summary(tenant, reference)["like"] == 1


def test_react_to_an_action_and_walk_many_reactions(tenant):
    hook = tenant.hook()
    action = hook.post_action(tenant.group_id, job_body("Fix", [tenant.connector["phone"]]), action_type="Job")
    conn = conn_id(tenant)
    ids = []
    for n in range(23):  # more than one page of 20
        op = KaizalaAddReactionOperator(
            task_id="react",
            kaizala_conn_id=conn,
            group_id="{{ params.group }}",
            reference_id="{{ params.ref }}",
            reaction_type="Comment",
            comment="Comment {{ params.n }}",
        )
        op.render_template_fields({"params": {"group": tenant.group_id, "ref": action["referenceId"], "n": n}})
        ids.append(run(op)["reactionId"])
    like = react(tenant, action["referenceId"])
    result = summary(tenant, action["referenceId"], include_details=True)
    assert (result["like"], result["comment"]) == (1, 23)
    # Oldest change first, across pages; Kaizala's list carries ids, users and times (not the text).
    assert [r["reactionId"] for r in result["reactions"]] == [*ids, like["reactionId"]]


def test_summary_of_an_unknown_reference_is_not_found(tenant):
    with pytest.raises(KaizalaNotFoundError):
        summary(tenant, "00000000-0000-0000-0000-000000000000")


@pytest.mark.parametrize(
    ("args", "error"),
    [
        ({"reaction_type": "Love"}, r"Invalid reaction_type='Love'"),
        ({"reaction_type": "Comment"}, r"Invalid comment=None"),
        ({"reaction_type": "Comment", "comment": "x" * 4001}, r"comment=.*4001 characters"),
        ({"comment": "Nice"}, r"only a Comment reaction carries a comment"),
        ({"reference_id": "a b"}, r"Invalid reference_id='a b'"),
        ({"source_group_id": "x/y"}, r"Invalid source_group_id='x/y'"),
    ],
)
def test_bad_reactions_fail_before_any_call(tenant, args, error):
    fields = {"group_id": tenant.group_id, "reference_id": "ref-1", **args}
    op = KaizalaAddReactionOperator(task_id="react", kaizala_conn_id=conn_id(tenant), **fields)
    with pytest.raises(KaizalaValidationError, match=error):
        op.execute(context={})
    assert tenant.calls() == []


@pytest.mark.parametrize(
    ("args", "error"),
    [
        ({"include_details": "yes"}, r"include_details='yes'"),
        ({"reference_id": ""}, r"Invalid reference_id=''"),
        ({"group_id": "{{ params.bad }}"}, r"group_id='a group'"),
    ],
)
def test_bad_summary_requests_fail_before_any_call(tenant, args, error):
    fields = {"group_id": tenant.group_id, "reference_id": "ref-1", **args}
    op = KaizalaGetReactionSummaryOperator(task_id="s", kaizala_conn_id=conn_id(tenant), **fields)
    op.render_template_fields({"params": {"bad": "a group"}})
    with pytest.raises(KaizalaValidationError, match=error):
        op.execute(context={})
    assert tenant.calls() == []
