"""Every operator, found by walking the operators package: user-facing arguments are templated, the
connection id is rendered before the hook is built, and the result is documented."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import pytest

import airflow_provider_kaizala.operators as operators_package
from airflow_provider_kaizala.operators.base import KaizalaBaseOperator


def all_operators() -> list[type[KaizalaBaseOperator]]:
    found = []
    for info in pkgutil.iter_modules(operators_package.__path__, operators_package.__name__ + "."):
        module = importlib.import_module(info.name)
        found += [
            obj
            for obj in vars(module).values()
            if inspect.isclass(obj)
            and issubclass(obj, KaizalaBaseOperator)
            and obj.__module__ == module.__name__
            and not obj.__name__.startswith("_")
        ]
    return sorted(found, key=lambda cls: cls.__name__)


OPERATORS = all_operators()


def test_every_operator_is_found():
    assert len(OPERATORS) >= 32


@pytest.mark.parametrize("operator", OPERATORS, ids=lambda cls: cls.__name__)
def test_every_user_facing_argument_is_templated(operator):
    params = {
        name
        for name, param in inspect.signature(operator.__init__).parameters.items()
        if param.kind is inspect.Parameter.KEYWORD_ONLY
    }
    assert params, operator
    assert "kaizala_conn_id" in operator.template_fields
    assert params <= set(operator.template_fields), params - set(operator.template_fields)
    assert len(set(operator.template_fields)) == len(operator.template_fields)
    # Every template field is an attribute set by the constructor.
    assert set(operator.template_fields) <= params | {"kaizala_conn_id"}


@pytest.mark.parametrize("operator", OPERATORS, ids=lambda cls: cls.__name__)
def test_connection_id_is_rendered_before_the_hook_is_built(operator):
    required = {
        name: "x"
        for name, param in inspect.signature(operator.__init__).parameters.items()
        if param.kind is inspect.Parameter.KEYWORD_ONLY and param.default is inspect.Parameter.empty
    }
    op = operator(task_id="t", kaizala_conn_id="kaizala_{{ params.env }}", **required)
    op.render_template_fields({"params": {"env": "prod"}})
    assert op.kaizala_conn_id == "kaizala_prod"
    assert op.hook.kaizala_conn_id == "kaizala_prod"


CALLING = [op for op in OPERATORS if op.call is not KaizalaBaseOperator.call]


@pytest.mark.parametrize("operator", CALLING, ids=lambda cls: cls.__name__)
def test_every_operator_documents_its_result(operator):
    """The result contract is written once (docs/operators/index.rst); each operator lists its own keys."""
    docs = [klass.__doc__ or "" for klass in operator.__mro__ if issubclass(klass, KaizalaBaseOperator)]
    assert any(":return:" in doc for doc in docs), operator
