"""The operator base: constructors built from declared arguments behave like hand-written ones (default_args,
missing arguments, mapping), the one coercion rule for rendered values, and the list part of the result
contract on an operator that gained it."""

from __future__ import annotations

import json

import pendulum
import pytest
from airflow.sdk import DAG

from airflow_provider_kaizala.exceptions import KaizalaValidationError
from airflow_provider_kaizala.operators.base import Argument, coerce
from airflow_provider_kaizala.operators.groups import KaizalaListGroupsOperator, KaizalaListSubGroupsOperator
from airflow_provider_kaizala.operators.messages import KaizalaSendMessageOperator
from tests.operators.conftest import conn_id, run


def dag(**kwargs) -> DAG:
    return DAG("declared", schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC"), **kwargs)


def test_default_args_fill_declared_arguments():
    with dag(default_args={"group_id": "g@1", "kaizala_conn_id": "kaizala_other"}):
        op = KaizalaSendMessageOperator(task_id="send", message="hi")
    assert (op.group_id, op.kaizala_conn_id, op.message, op.subscribers) == ("g@1", "kaizala_other", "hi", None)


def test_a_missing_argument_is_named():
    with pytest.raises(TypeError, match="missing keyword argument 'message'"):
        KaizalaSendMessageOperator(task_id="send", group_id="g@1")
    with pytest.raises(TypeError, match=r"(?s)Invalid arguments were passed.*mesage"):
        KaizalaSendMessageOperator(task_id="send", group_id="g@1", message="hi", mesage="typo")


def test_declared_arguments_can_be_mapped():
    with dag():
        mapped = KaizalaSendMessageOperator.partial(task_id="send", group_id="g@1").expand(message=["a", "b"])
        with pytest.raises(TypeError, match="nonsense"):
            KaizalaSendMessageOperator.partial(task_id="bad", group_id="g@1").expand(nonsense=["a"])
    assert mapped.expand_input.value == {"message": ["a", "b"]}


class _HandWritten(KaizalaSendMessageOperator):
    """A subclass as users write them: its own constructor and template fields."""

    template_fields = (*KaizalaSendMessageOperator.template_fields, "signature")

    def __init__(self, *, signature: str, **kwargs) -> None:
        super().__init__(**kwargs)
        self.signature = signature

    def call(self, context):
        self.message = f"{self.message} -- {self.signature}"
        return super().call(context)


def test_a_subclass_with_its_own_constructor_keeps_it(tenant):
    op = _HandWritten(
        task_id="send",
        kaizala_conn_id=conn_id(tenant),
        group_id=tenant.group_id,
        message="Hi {{ ds }}",
        signature="{{ params.team }}",
        send_to_all_subscribers="false",
    )
    op.render_template_fields({"ds": "2026-11-27", "params": {"team": "Ops"}})
    result = run(op)
    [message] = tenant.emulator.admin.messages(tenant.group_id)
    assert (message["message"], result["audience"]) == ("Hi 2026-11-27 -- Ops", "group")


FLAG = Argument("flag", False, "bool")
COUNT = Argument("count", 24, "int")
SINCE = Argument("since", None, "int | None")
NAME = Argument("name", None, "str | None")
TITLE = Argument("title", "", "str")
ITEMS = Argument("items", None, "list[str] | None")


@pytest.mark.parametrize(
    ("argument", "value", "expected"),
    [
        (FLAG, "TRUE", True),
        (FLAG, " false ", False),
        (FLAG, True, True),
        (COUNT, "48", 48),
        (COUNT, " 7 ", 7),
        (COUNT, 0, 0),
        (SINCE, "", None),
        (SINCE, "1764201600000", 1764201600000),
        (NAME, "", ""),
        (Argument("active", None, "bool | None"), "", None),
        (NAME, "None", "None"),
        (TITLE, "", ""),
        (ITEMS, "", ""),
        (ITEMS, "['+14155550123']", "['+14155550123']"),
    ],
)
def test_the_coercion_rule(argument, value, expected):
    result = coerce(value, argument)
    assert result == expected
    assert type(result) is type(expected)


@pytest.mark.parametrize(
    ("argument", "value", "error"),
    [
        (FLAG, "maybe", r"Invalid flag='maybe': expected true or false"),
        (FLAG, "1", r"Invalid flag='1'"),
        (COUNT, "4.5", r"Invalid count='4.5': expected a whole number"),
        (COUNT, "-1", r"Invalid count='-1'"),
        (COUNT, "²", r"Invalid count='²'"),
        (COUNT, True, r"Invalid count=True"),
        (SINCE, "None", r"Invalid since='None'"),
    ],
)
def test_the_coercion_rule_refuses(argument, value, error):
    with pytest.raises(KaizalaValidationError, match=error):
        coerce(value, argument)


def test_list_groups_and_sub_groups_write_json_lines(tenant, tmp_path):
    child = tenant.emulator.admin.create_group(
        name="Child", groupType="Group", admins=[tenant.connector["phone"]], parentId=tenant.group_id
    )
    groups = run(
        KaizalaListGroupsOperator(task_id="ls", kaizala_conn_id=conn_id(tenant), output_path=str(tmp_path / "g.jsonl"))
    )
    rows = [json.loads(line) for line in (tmp_path / "g.jsonl").read_text().splitlines()]
    assert groups == {"count": 2, "groupIds": [r["groupId"] for r in rows], "path": (tmp_path / "g.jsonl").as_uri()}
    assert {r["groupId"] for r in rows} == {tenant.group_id, tenant.public_group_id}
    subgroups = run(
        KaizalaListSubGroupsOperator(
            task_id="sub", kaizala_conn_id=conn_id(tenant), group_id=tenant.group_id, output_path=str(tmp_path / "s")
        )
    )
    assert subgroups == {"count": 1, "groupIds": [child], "path": (tmp_path / "s").as_uri()}
    assert [json.loads(line)["groupId"] for line in (tmp_path / "s").read_text().splitlines()] == [child]
