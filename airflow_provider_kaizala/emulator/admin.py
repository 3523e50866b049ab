"""HTTP client of the emulator's admin API (``/_emulator``), usable against any running emulator."""

from __future__ import annotations

import time
from typing import Any

import httpx


class EmulatorAdmin:
    """Thin httpx wrapper over ``/_emulator``; every method raises ``httpx.HTTPStatusError`` on an error answer."""

    def __init__(self, base_url: str, timeout: float = 120.0) -> None:
        self.base_url = base_url.rstrip("/")
        self._client = httpx.Client(base_url=self.base_url + "/_emulator", timeout=timeout)

    def close(self) -> None:
        self._client.close()

    def _call(self, method: str, path: str, json: Any = None, params: dict[str, Any] | None = None) -> Any:
        resp = self._client.request(method, path, json=json, params=params)
        resp.raise_for_status()
        return resp.json()

    def reset(self) -> None:
        self._call("POST", "/reset")

    def faults(self, **changes: Any) -> dict[str, Any]:
        """Merge ``changes`` into the fault config (none: just read it); returns the whole config."""
        if not changes:
            return self._call("GET", "/faults")
        return self._call("POST", "/faults", json=changes)

    def relocate(self, application_id: str | None = None, to: str | None = None) -> str:
        body: dict[str, Any] = {}
        if application_id is not None:
            body["applicationId"] = application_id
        if to is not None:
            body["to"] = to
        return str(self._call("POST", "/relocate", json=body)["endpointUrl"])

    def expire_tokens(self, application_id: str | None = None) -> int:
        body = {} if application_id is None else {"applicationId": application_id}
        return int(self._call("POST", "/expire-tokens", json=body)["expired"])

    def advance_clock(self, seconds: float) -> dict[str, Any]:
        return self._call("POST", "/clock", json={"advance_seconds": seconds})

    def create_connector(self, **kw: Any) -> dict[str, Any]:
        """Keys: name, phone, tenantId, permissions, groupId (group token)."""
        return self._call("POST", "/connectors", json=kw)

    def delete_connector(self, application_id: str) -> None:
        """Delete a connector: its refresh tokens stop working and its access tokens are revoked."""
        self._call("DELETE", f"/connectors/{application_id}")

    def new_refresh_token(self, application_id: str) -> str:
        """Generate a new refresh token (as the portal does); the connector's previous ones stop working."""
        return str(self._call("POST", f"/connectors/{application_id}/refresh-token")["refreshToken"])

    def pin(self, mobile_number: str, application_id: str) -> int:
        """The PIN ``generatePin`` last sent to ``mobile_number`` for the connector (the emulator's SMS inbox)."""
        params = {"mobileNumber": mobile_number, "applicationId": application_id}
        return int(self._call("GET", "/pins", params=params)["pin"])

    def create_group(self, **kw: Any) -> str:
        """Keys: name, groupType, members, admins, subscriberCount, subscribers, unprovisioned, parentId."""
        return str(self._call("POST", "/groups", json=kw)["groupId"])

    def seed_demo(self, subscribers: int | None = None) -> dict[str, Any]:
        body = {} if subscribers is None else {"subscribers": subscribers}
        return self._call("POST", "/seed/demo", json=body)

    def churn(
        self,
        group_id: str,
        kind: str,
        add: int = 0,
        remove: int = 0,
        seed: int | None = None,
        every_seconds: float | None = None,
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"groupId": group_id, "kind": kind, "add": add, "remove": remove}
        if seed is not None:
            body["seed"] = seed
        if every_seconds is not None:
            body["every_seconds"] = every_seconds
        return self._call("POST", "/churn", json=body)

    def calls(self, since: int = 0) -> list[dict[str, Any]]:
        return list(self._call("GET", "/calls", params={"since": since})["calls"])

    def clear_calls(self) -> None:
        self._call("DELETE", "/calls")

    def messages(self, group_id: str | None = None) -> list[dict[str, Any]]:
        params = {} if group_id is None else {"groupId": group_id}
        return list(self._call("GET", "/messages", params=params)["messages"])

    def groups(self) -> list[dict[str, Any]]:
        return list(self._call("GET", "/groups")["groups"])

    def members(self, group_id: str) -> list[dict[str, Any]]:
        return list(self._call("GET", f"/groups/{group_id}/members")["members"])

    def subscribers(self, group_id: str) -> list[dict[str, Any]]:
        return list(self._call("GET", f"/groups/{group_id}/subscribers")["subscribers"])

    # -- media, actions, webhooks -------------------------------------------------------------------------
    def media(self) -> list[dict[str, Any]]:
        """Every stored media resource (metadata only)."""
        return list(self._call("GET", "/media")["media"])

    def actions(self, group_id: str | None = None) -> list[dict[str, Any]]:
        """Every posted action (of one group), in posting order; retried POSTs show up twice."""
        params = {} if group_id is None else {"groupId": group_id}
        return list(self._call("GET", "/actions", params=params)["actions"])

    def responses(self, action_id: str) -> list[dict[str, Any]]:
        """Every response of an action (updates via ``responseId`` change a response, ``updateCount`` counts them)."""
        return list(self._call("GET", f"/actions/{action_id}/responses")["responses"])

    def webhooks(self) -> list[dict[str, Any]]:
        return list(self._call("GET", "/webhooks")["webhooks"])

    def deliveries(
        self, webhook_id: str | None = None, event_id: str | None = None, since: int = 0
    ) -> list[dict[str, Any]]:
        """Every delivery attempt: ``{seq, ts, webhookId, eventId, eventType, attempt, status, error, duplicate,
        disabled, abandoned}``."""
        params: dict[str, Any] = {"since": since}
        if webhook_id is not None:
            params["webhookId"] = webhook_id
        if event_id is not None:
            params["eventId"] = event_id
        return list(self._call("GET", "/webhooks/deliveries", params=params)["deliveries"])

    def clear_deliveries(self) -> None:
        self._call("DELETE", "/webhooks/deliveries")

    def wait_deliveries(
        self, count: int, timeout: float = 10.0, webhook_id: str | None = None, event_id: str | None = None
    ) -> list[dict[str, Any]]:
        """Poll until at least ``count`` delivery attempts (matching the filters) are logged; returns them all."""
        deadline = time.monotonic() + timeout
        while True:
            got = self.deliveries(webhook_id, event_id)
            if len(got) >= count or time.monotonic() >= deadline:
                return got
            time.sleep(0.02)

    def emit_event(
        self,
        group_id: str,
        event_type: str,
        data: dict[str, Any] | None = None,
        *,
        from_user: str | None = None,
        action_id: str | None = None,
        action_package_id: str | None = None,
    ) -> dict[str, Any]:
        """Emit a synthetic event to the matching webhooks; returns ``{"eventId", "webhooks": matched}``."""
        body: dict[str, Any] = {"groupId": group_id, "eventType": event_type}
        for key, value in (
            ("data", data),
            ("fromUser", from_user),
            ("actionId", action_id),
            ("actionPackageId", action_package_id),
        ):
            if value is not None:
                body[key] = value
        return dict(self._call("POST", "/events", json=body))
