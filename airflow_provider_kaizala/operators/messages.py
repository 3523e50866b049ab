"""Operator for text messages."""

from __future__ import annotations

from typing import Any

from airflow_provider_kaizala.operators.base import KaizalaAudienceOperator


class KaizalaSendMessageOperator(KaizalaAudienceOperator):
    """Send a text message to a group, to chosen subscribers, or to all subscribers of a public group.

    A send is never repeated when its outcome is unknown (``KaizalaOutcomeUnknownError``, see
    :ref:`retry-safety`): set ``retries=0`` on this task if a re-run must not send again.

    :param group_id: the group (templated).
    :param message: up to 4000 characters (templated).
    :param subscribers: deliver only to these subscribers of a public group (templated).
    :param send_to_all_subscribers: deliver to every subscriber of a public group (templated).
    :return: ``{"referenceId", "groupId", "audience"}`` with audience ``group``, ``subscribers`` or
        ``allSubscribers``.
    """

    message: str
    template_fields_renderers = {"message": "md"}

    def call(self, context: Any) -> dict[str, Any]:
        """Send the message."""
        result = self.hook.send_message(self.group_id, self.message, **self.audience)
        to_all, chosen = self.send_to_all_subscribers, self.subscribers is not None
        audience = "allSubscribers" if to_all else "subscribers" if chosen else "group"
        to_whom = {"allSubscribers": "all subscribers of", "subscribers": "chosen subscribers of", "group": "group"}
        self.log.info("Sent message %s to %s %s.", result.get("referenceId"), to_whom[audience], self.group_id)
        return {"referenceId": result.get("referenceId"), "groupId": self.group_id, "audience": audience}
