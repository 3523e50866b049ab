"""Operators for webhooks: register, list, change and delete Kaizala event subscriptions.

The callback token is a secret (Kaizala sends it back in the ``kz-callback-token`` header of every event so
the receiver can check the sender). Pass it from a Variable or a connection with Jinja, e.g.
``callback_token="{{ var.value.kaizala_webhook_token }}"``; the operators mask it in the task logs and never
return it in XCom.
"""

from __future__ import annotations

from typing import Any

from airflow_provider_kaizala.exceptions import KaizalaNotFoundError
from airflow_provider_kaizala.operators.base import KaizalaBaseOperator, mask, outcome, without_secrets


def compact_webhook(webhook: dict[str, Any]) -> dict[str, Any]:
    """A listed webhook without its callback token: ``{"id", "events", "callbackUrl", "active"}``."""
    return {
        "id": webhook.get("id", webhook.get("webhookId")),
        "events": webhook.get("events", webhook.get("eventTypes")),
        "callbackUrl": webhook.get("callbackUrl", webhook.get("callBackUrl")),
        "active": webhook.get("active"),
    }


class KaizalaWebhookOperator(KaizalaBaseOperator):
    """Base of the operators that set a webhook's fields (the callback token is masked before any call).

    :param event_types: e.g. ``["TextMessageCreated", "JobResponse", "MemberAdded"]`` (templated).
    :param callback_url: the https URL that receives the events (templated).
    :param callback_token: secret echoed in the ``kz-callback-token`` header; pass it with Jinja from a
        Variable or connection (templated).
    :param callback_context: any string, echoed as ``context`` in every event (templated).
    :param validity_ms: when the webhook expires, epoch milliseconds (templated).
    """

    event_types: list[str] | None = None
    callback_url: str | None = None
    callback_token: str | None = None
    callback_context: str | None = None
    validity_ms: int | None = None

    def fields(self) -> dict[str, Any]:
        """The webhook fields given, by the hook's names (the token masked)."""
        mask(self.callback_token)
        names = [name for name in KaizalaWebhookOperator.arguments if name != "kaizala_conn_id"]
        return {name: getattr(self, name) for name in names if getattr(self, name) is not None}


class KaizalaCreateWebhookOperator(KaizalaWebhookOperator):
    """Register a webhook: Kaizala POSTs the chosen events of a group, action or action package to a URL.

    Kaizala first checks the URL: it sends ``GET <callback_url>?validationToken=<token>`` and registers the
    webhook only if the answer's body is that token. Registering is not repeated when its outcome is unknown
    (``KaizalaOutcomeUnknownError``).

    :param object_id: the group, action or action package (templated).
    :param event_types: the event types (templated; required).
    :param callback_url: the https URL that receives the events (templated; required).
    :param object_type: ``Group``, ``Action`` or ``ActionPackage`` (templated).
    :param validity_ms: when the webhook expires, epoch milliseconds; default about two years (templated).
    :return: ``{"webhookId"}``.
    """

    object_id: str
    event_types: list[str]
    callback_url: str
    object_type: str = "Group"

    def call(self, context: Any) -> dict[str, Any]:
        """Register the webhook."""
        fields = self.fields()
        for name in ("callback_token", "callback_context"):  # an empty one is left out
            if fields.get(name) == "":
                del fields[name]
        webhook_id = self.hook.create_webhook(
            self.object_id,
            fields.pop("event_types"),
            fields.pop("callback_url"),
            object_type=self.object_type,
            **fields,
        )
        self.log.info("Registered webhook %s on %s %s.", webhook_id, self.object_type, self.object_id)
        return {"webhookId": webhook_id}


class KaizalaListWebhooksOperator(KaizalaBaseOperator):
    """List the webhooks registered on a group, action or action package (callback tokens are left out).

    :param object_id: the group, action or action package (templated).
    :param object_type: ``Group``, ``Action`` or ``ActionPackage`` (templated).
    :return: ``{"count", "webhooks": [{"id", "events", "callbackUrl", "active"}]}``.
    """

    object_id: str
    object_type: str = "Group"

    def call(self, context: Any) -> dict[str, Any]:
        """List the webhooks."""
        webhooks = without_secrets(self.hook.list_webhooks(self.object_id, object_type=self.object_type))
        self.log.info("%d webhook(s) on %s %s.", len(webhooks), self.object_type, self.object_id)
        return {"count": len(webhooks), "webhooks": [compact_webhook(w) for w in webhooks]}


class KaizalaUpdateWebhookOperator(KaizalaWebhookOperator):
    """Change a webhook; only the arguments given are changed. ``active=False`` pauses it, ``active=True``
    resumes it (also after Kaizala disabled it for failed deliveries). A new ``callback_url`` is validated by
    Kaizala like at registration. Safe to re-run.

    :param webhook_id: the webhook (templated).
    :param active: pause (false) or resume (true) the webhook (templated).
    :return: ``{"webhookId", "updated": [names of the arguments changed]}``.
    """

    webhook_id: str
    active: bool | None = None

    def call(self, context: Any) -> dict[str, Any]:
        """Apply the changes."""
        changes = self.fields()
        if self.active is not None:
            changes["active"] = self.active
        self.hook.update_webhook(self.webhook_id, **changes)
        self.log.info("Updated %s of webhook %s.", ", ".join(changes), self.webhook_id)
        return {"webhookId": self.webhook_id, "updated": list(changes)}


class KaizalaDeleteWebhookOperator(KaizalaBaseOperator):
    """Delete a webhook; safe to re-run (a webhook already gone is reported, not an error).

    :param webhook_id: the webhook (templated).
    :return: ``{"webhookId", "deleted": bool, "reason"}``; ``deleted`` is false with reason ``NotFound`` when
        the webhook does not (or no longer) exist.
    """

    webhook_id: str

    def call(self, context: Any) -> dict[str, Any]:
        """Delete the webhook."""
        try:
            self.hook.delete_webhook(self.webhook_id)
        except KaizalaNotFoundError:
            self.log.warning("Webhook %s does not exist (already deleted?).", self.webhook_id)
            return {"webhookId": self.webhook_id, **outcome("deleted", "NotFound")}
        return {"webhookId": self.webhook_id, **outcome("deleted")}
