"""Operator for text messages."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow_provider_kaizala.hooks.validation import validate_bool
from airflow_provider_kaizala.operators.base import KaizalaBaseOperator


class KaizalaSendMessageOperator(KaizalaBaseOperator):
    """Send a text message to a group, to chosen subscribers, or to all subscribers of a public group.

    A send is never repeated when its outcome is unknown: a timeout after the request left raises
    ``KaizalaOutcomeUnknownError`` rather than risk delivering the message twice. Set ``retries=0``
    on this task (or check the group first) if a re-run must not send again.

    :param group_id: the group (templated).
    :param message: up to 4000 characters (templated).
    :param subscribers: deliver only to these subscribers of a public group (templated).
    :param send_to_all_subscribers: deliver to every subscriber of a public group (templated).
    :return: ``{"referenceId", "groupId", "audience"}`` with audience ``group``, ``subscribers`` or
        ``allSubscribers``.
    """

    template_fields: Sequence[str] = (
        "kaizala_conn_id",
        "group_id",
        "message",
        "subscribers",
        "send_to_all_subscribers",
    )
    template_fields_renderers = {"message": "md"}

    def __init__(
        self,
        *,
        group_id: str,
        message: str,
        subscribers: list[str] | None = None,
        send_to_all_subscribers: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.group_id = group_id
        self.message = message
        self.subscribers = subscribers
        self.send_to_all_subscribers = send_to_all_subscribers

    def execute(self, context: Any) -> dict[str, Any]:
        """Send the message."""
        to_all = validate_bool(self.send_to_all_subscribers, "send_to_all_subscribers")
        result = self.hook.send_message(
            self.group_id, self.message, subscribers=self.subscribers, send_to_all_subscribers=to_all
        )
        audience = "allSubscribers" if to_all else "subscribers" if self.subscribers is not None else "group"
        self.log.info("Sent message %s to %s of group %s.", result.get("referenceId"), audience, self.group_id)
        return {"referenceId": result.get("referenceId"), "groupId": self.group_id, "audience": audience}
