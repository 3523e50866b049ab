"""The one way a task or a notifier gets its Kaizala hook: built lazily, on the rendered connection id."""

from __future__ import annotations

from functools import cached_property

from airflow_provider_kaizala.hooks.kaizala import KaizalaHook


class KaizalaHookMixin:
    """Gives operators, the sensor, the transfer and the notifier a ``hook`` property.

    The hook is created on first use (at execute, poke or notify time), so ``kaizala_conn_id`` is already
    rendered when it is read; it is then kept for the rest of the task.
    """

    kaizala_conn_id: str

    @cached_property
    def hook(self) -> KaizalaHook:
        """The :class:`~airflow_provider_kaizala.hooks.kaizala.KaizalaHook` on the rendered connection id."""
        return KaizalaHook(kaizala_conn_id=self.kaizala_conn_id)
