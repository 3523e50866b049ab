"""KaizalaNotifier: send a templated Kaizala message from Airflow callbacks."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow.providers.common.compat.sdk import BaseNotifier

from airflow_provider_kaizala.hooks.kaizala import KaizalaHook
from airflow_provider_kaizala.hooks.mixin import KaizalaHookMixin

#: Renders in task callbacks and in DAG-level callbacks (no ``ti`` there) under StrictUndefined.
DEFAULT_MESSAGE = (
    "Airflow: {{ dag.dag_id if dag is defined and dag else '' }}"
    "{{ '.' ~ ti.task_id if ti is defined and ti else '' }}"
    "{{ ' ' ~ ti.state if ti is defined and ti and ti.state else '' }}"
    "{{ ' in run ' ~ run_id if run_id is defined and run_id else '' }}"
    "{% if ti is defined and ti and ti.log_url %}\nLog: {{ ti.log_url }}{% endif %}"
)


class KaizalaNotifier(KaizalaHookMixin, BaseNotifier):
    """Send a Kaizala message when a task or DAG succeeds, fails, retries or misses a deadline.

    Use it in ``on_failure_callback``, ``on_success_callback`` and the other callbacks, at task or DAG
    level. The message is a Jinja template with the callback context (``dag``, ``ti``, ``run_id``,
    ``ti.log_url``, ``exception``...). A notification that cannot be sent is logged and never raises,
    so it cannot hide the failure that triggered it.

    :param group_id: the group to message (templated).
    :param message: the message template, up to 4000 characters once rendered (templated).
    :param subscribers: message only these subscribers of a public group (templated).
    :param send_to_all_subscribers: message every subscriber of a public group (templated).
    :param kaizala_conn_id: the ``kaizala`` connection (templated).
    """

    template_fields: Sequence[str] = (
        "kaizala_conn_id",
        "group_id",
        "message",
        "subscribers",
        "send_to_all_subscribers",
    )

    def __init__(
        self,
        *,
        group_id: str,
        message: str = DEFAULT_MESSAGE,
        subscribers: list[str] | None = None,
        send_to_all_subscribers: bool = False,
        kaizala_conn_id: str = KaizalaHook.default_conn_name,
    ) -> None:
        super().__init__()
        self.kaizala_conn_id = kaizala_conn_id
        self.group_id = group_id
        self.message = message
        self.subscribers = subscribers
        self.send_to_all_subscribers = send_to_all_subscribers

    def _message_kwargs(self) -> dict[str, Any]:
        return {"subscribers": self.subscribers, "send_to_all_subscribers": self.send_to_all_subscribers}

    def _report(self, result: dict[str, Any] | None, error: Exception | None) -> None:
        if error is not None:
            self.log.error("The Kaizala notification to group %s could not be sent: %s", self.group_id, error)
        else:
            assert result is not None
            self.log.info("Sent Kaizala notification %s to group %s.", result.get("referenceId"), self.group_id)

    def notify(self, context: Any) -> None:
        """Send the rendered message; log, never raise, when it cannot be sent."""
        try:
            result = self.hook.send_message(self.group_id, self.message, **self._message_kwargs())
        except Exception as err:
            self._report(None, err)
        else:
            self._report(result, None)

    async def async_notify(self, context: Any) -> None:
        """Send the notification with the async hook (from the triggerer); log, never raise, on failure."""
        from airflow_provider_kaizala.hooks.async_kaizala import KaizalaAsyncHook

        try:
            async with KaizalaAsyncHook(self.kaizala_conn_id) as hook:
                result = await hook.send_message(self.group_id, self.message, **self._message_kwargs())
        except Exception as err:
            self._report(None, err)
        else:
            self._report(result, None)


send_kaizala_notification = KaizalaNotifier
