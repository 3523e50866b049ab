"""Operators for webhooks: register, list, change and delete Kaizala event subscriptions.

The callback token is a secret (Kaizala sends it back in the ``kz-callback-token`` header of every event so
the receiver can check the sender). Pass it from a Variable or a connection with Jinja, e.g.
``callback_token="{{ var.value.kaizala_webhook_token }}"``; the operators mask it in the task logs and never
return it in XCom.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow_provider_kaizala.exceptions import KaizalaNotFoundError
from airflow_provider_kaizala.hooks.actions import webhook_body
from airflow_provider_kaizala.hooks.validation import validate_id
from airflow_provider_kaizala.operators.actions import whole_number
from airflow_provider_kaizala.operators.base import KaizalaBaseOperator


def _mask(value: Any) -> None:
    if isinstance(value, str) and value:
        from airflow.providers.common.compat.sdk import mask_secret

        mask_secret(value)


def _validity(value: Any) -> int | None:
    return None if value in (None, "") else whole_number(value, "validity_ms", minimum=1)


def compact_webhook(webhook: dict[str, Any]) -> dict[str, Any]:
    """A listed webhook without its callback token: ``{"id", "events", "callbackUrl", "active"}``."""
    return {
        "id": webhook.get("id", webhook.get("webhookId")),
        "events": webhook.get("events", webhook.get("eventTypes")),
        "callbackUrl": webhook.get("callbackUrl", webhook.get("callBackUrl")),
        "active": webhook.get("active"),
    }


class KaizalaCreateWebhookOperator(KaizalaBaseOperator):
    """Register a webhook: Kaizala POSTs the chosen events of a group, action or action package to a URL.

    Kaizala first checks the URL: it sends ``GET <callback_url>?validationToken=<token>`` and registers the
    webhook only if the answer's body is that token. ``callback_token`` is a secret that Kaizala sends back in
    the ``kz-callback-token`` header of every event: pass it from a Variable or a connection with Jinja
    (``"{{ var.value.kaizala_webhook_token }}"``); it is sent to Kaizala, masked in the task logs and never
    returned. Registering is not repeated when its outcome is unknown (``KaizalaOutcomeUnknownError``).

    :param object_id: the group, action or action package (templated).
    :param event_types: e.g. ``["TextMessageCreated", "JobResponse", "MemberAdded"]`` (templated).
    :param callback_url: the https URL that receives the events (templated).
    :param object_type: ``Group``, ``Action`` or ``ActionPackage`` (templated).
    :param callback_token: secret echoed in the ``kz-callback-token`` header (templated).
    :param callback_context: any string, echoed as ``context`` in every event (templated).
    :param validity_ms: when the webhook expires, epoch milliseconds; default about two years (templated).
    :return: ``{"webhookId"}``.
    """

    template_fields: Sequence[str] = (
        "kaizala_conn_id",
        "object_id",
        "event_types",
        "callback_url",
        "object_type",
        "callback_token",
        "callback_context",
        "validity_ms",
    )

    def __init__(
        self,
        *,
        object_id: str,
        event_types: list[str],
        callback_url: str,
        object_type: str = "Group",
        callback_token: str | None = None,
        callback_context: str | None = None,
        validity_ms: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.object_id = object_id
        self.event_types = event_types
        self.callback_url = callback_url
        self.object_type = object_type
        self.callback_token = callback_token
        self.callback_context = callback_context
        self.validity_ms = validity_ms

    def execute(self, context: Any) -> dict[str, Any]:
        """Register the webhook."""
        _mask(self.callback_token)
        fields: dict[str, Any] = {
            "object_id": self.object_id,
            "event_types": self.event_types,
            "callback_url": self.callback_url,
            "object_type": self.object_type,
            "callback_token": self.callback_token or None,
            "callback_context": self.callback_context or None,
            "validity_ms": _validity(self.validity_ms),
        }
        webhook_body(**fields)
        webhook_id = self.hook.create_webhook(
            fields.pop("object_id"), fields.pop("event_types"), fields.pop("callback_url"), **fields
        )
        self.log.info("Registered webhook %s on %s %s.", webhook_id, self.object_type, self.object_id)
        return {"webhookId": webhook_id}


class KaizalaListWebhooksOperator(KaizalaBaseOperator):
    """List the webhooks registered on a group, action or action package (callback tokens are left out).

    :param object_id: the group, action or action package (templated).
    :param object_type: ``Group``, ``Action`` or ``ActionPackage`` (templated).
    :return: ``{"count", "webhooks": [{"id", "events", "callbackUrl", "active"}]}``.
    """

    template_fields: Sequence[str] = ("kaizala_conn_id", "object_id", "object_type")

    def __init__(self, *, object_id: str, object_type: str = "Group", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.object_id = object_id
        self.object_type = object_type

    def execute(self, context: Any) -> dict[str, Any]:
        """List the webhooks."""
        webhooks = self.hook.list_webhooks(self.object_id, object_type=self.object_type)
        for webhook in webhooks:
            _mask(webhook.get("callbackToken") or webhook.get("callBackToken"))
        self.log.info("%d webhook(s) on %s %s.", len(webhooks), self.object_type, self.object_id)
        return {"count": len(webhooks), "webhooks": [compact_webhook(w) for w in webhooks]}


class KaizalaUpdateWebhookOperator(KaizalaBaseOperator):
    """Change a webhook; only the arguments given are changed. ``active=False`` pauses it, ``active=True``
    resumes it (also after Kaizala disabled it for failed deliveries). A new ``callback_url`` is validated by
    Kaizala like at registration. Safe to re-run.

    :param webhook_id: the webhook (templated).
    :param event_types: the new event types (templated).
    :param callback_url: the new URL (templated).
    :param callback_token: the new secret; pass it with Jinja from a Variable or connection (templated).
    :param callback_context: the new context string (templated).
    :param validity_ms: the new expiry, epoch milliseconds (templated).
    :param active: pause (false) or resume (true) the webhook (templated).
    :return: ``{"webhookId", "updated": [names of the arguments changed]}``.
    """

    template_fields: Sequence[str] = (
        "kaizala_conn_id",
        "webhook_id",
        "event_types",
        "callback_url",
        "callback_token",
        "callback_context",
        "validity_ms",
        "active",
    )

    def __init__(
        self,
        *,
        webhook_id: str,
        event_types: list[str] | None = None,
        callback_url: str | None = None,
        callback_token: str | None = None,
        callback_context: str | None = None,
        validity_ms: int | None = None,
        active: bool | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.webhook_id = webhook_id
        self.event_types = event_types
        self.callback_url = callback_url
        self.callback_token = callback_token
        self.callback_context = callback_context
        self.validity_ms = validity_ms
        self.active = active

    def execute(self, context: Any) -> dict[str, Any]:
        """Apply the changes."""
        _mask(self.callback_token)
        changes: dict[str, Any] = {
            "event_types": self.event_types,
            "callback_url": self.callback_url,
            "callback_token": self.callback_token,
            "callback_context": self.callback_context,
            "validity_ms": _validity(self.validity_ms),
            "active": None if self.active in (None, "") else self.active,
        }
        changes = {name: value for name, value in changes.items() if value is not None}
        webhook_body(partial=True, **changes)
        webhook_id = validate_id(self.webhook_id, "webhook_id")
        self.hook.update_webhook(webhook_id, **changes)
        self.log.info("Updated %s of webhook %s.", ", ".join(changes), webhook_id)
        return {"webhookId": webhook_id, "updated": list(changes)}


class KaizalaDeleteWebhookOperator(KaizalaBaseOperator):
    """Delete a webhook; safe to re-run (a webhook already gone is reported, not an error).

    :param webhook_id: the webhook (templated).
    :return: ``{"webhookId", "deleted": bool, "reason"}``; ``deleted`` is false with reason ``NotFound`` when
        the webhook does not (or no longer) exist.
    """

    template_fields: Sequence[str] = ("kaizala_conn_id", "webhook_id")

    def __init__(self, *, webhook_id: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.webhook_id = webhook_id

    def execute(self, context: Any) -> dict[str, Any]:
        """Delete the webhook."""
        webhook_id = validate_id(self.webhook_id, "webhook_id")
        try:
            self.hook.delete_webhook(webhook_id)
        except KaizalaNotFoundError:
            self.log.warning("Webhook %s does not exist (already deleted?).", webhook_id)
            return {"webhookId": webhook_id, "deleted": False, "reason": "NotFound"}
        return {"webhookId": webhook_id, "deleted": True, "reason": None}
