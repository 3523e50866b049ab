"""The base of every Kaizala operator: it owns the hook and the connection id."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property
from typing import Any

from airflow.sdk import BaseOperator

from airflow_provider_kaizala.hooks.kaizala import KaizalaHook

#: How many items an operator returns inline at most when it returns a sample of a list.
SAMPLE_SIZE = 20


class KaizalaBaseOperator(BaseOperator):
    """Base class of the Kaizala operators: renders templates, then calls one hook method.

    Subclasses validate their rendered arguments through the hook's rules (the hook validates before
    any HTTP call) and return a small JSON-serialisable value.

    :param kaizala_conn_id: the ``kaizala`` connection to use (templated).
    """

    template_fields: Sequence[str] = ("kaizala_conn_id",)
    ui_color = "#e8e1f5"

    def __init__(self, *, kaizala_conn_id: str = KaizalaHook.default_conn_name, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.kaizala_conn_id = kaizala_conn_id

    @cached_property
    def hook(self) -> KaizalaHook:
        """The hook, created at execute time on the rendered connection id."""
        return KaizalaHook(kaizala_conn_id=self.kaizala_conn_id)
