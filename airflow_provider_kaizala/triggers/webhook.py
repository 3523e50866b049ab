"""KaizalaWebhookTrigger: receive Kaizala webhook deliveries on the triggerer and schedule DAGs on them."""

from __future__ import annotations

import asyncio
import hmac
import json
from collections import OrderedDict
from collections.abc import AsyncIterator, Sequence
from typing import Any
from urllib.parse import parse_qs, urlsplit

from airflow.triggers.base import BaseEventTrigger, TriggerEvent

MAX_BODY = 1024 * 1024
_REASONS = {
    200: "OK",
    400: "Bad Request",
    401: "Unauthorized",
    404: "Not Found",
    405: "Method Not Allowed",
    413: "Payload Too Large",
}


class KaizalaWebhookTrigger(BaseEventTrigger):
    """A webhook receiver for Airflow 3's ``AssetWatcher``: each new Kaizala event becomes an asset event.

    It listens on ``host:port`` at ``path`` and:

    * answers Kaizala's registration handshake (``GET ?validationToken=...`` echoed as plain text);
    * accepts a delivery (``POST``) only with the right ``kz-callback-token`` header (HTTP 401 otherwise);
    * de-duplicates Kaizala's at-least-once deliveries by ``eventId`` (the last ``dedupe_size`` ids);
    * emits each new event whose type (and object) matches the filters.

    The callback token is a secret, so the trigger's kwargs name the Airflow Variable holding it, never the
    token itself. Kaizala calls only https URLs: put the receiver behind your ingress or a TLS-terminating
    proxy. Ids seen before a triggerer restart are forgotten, so a delivery retried across a restart can
    come through once more; tasks should treat ``eventId`` as an idempotency key.

    :param port: port to listen on.
    :param host: interface to listen on (default all).
    :param path: URL path of the callback.
    :param event_types: only these event types (default: all).
    :param object_id: only events of this group, action or package (default: all).
    :param callback_token_variable: the Airflow Variable holding the ``callBackToken`` registered with Kaizala.
    :param dedupe_size: how many recent event ids are remembered.
    """

    def __init__(
        self,
        *,
        port: int,
        host: str = "0.0.0.0",
        path: str = "/kaizala/webhook",
        event_types: Sequence[str] | None = None,
        object_id: str | None = None,
        callback_token_variable: str = "kaizala_webhook_callback_token",
        dedupe_size: int = 10000,
    ) -> None:
        super().__init__()
        self.port = int(port)
        self.host = host
        self.path = path
        self.event_types = list(event_types) if event_types else None
        self.object_id = object_id
        self.callback_token_variable = callback_token_variable
        self.dedupe_size = int(dedupe_size)

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """The class path and JSON kwargs (no secret: only the Variable's name)."""
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "port": self.port,
                "host": self.host,
                "path": self.path,
                "event_types": self.event_types,
                "object_id": self.object_id,
                "callback_token_variable": self.callback_token_variable,
                "dedupe_size": self.dedupe_size,
            },
        )

    async def _token(self) -> str:
        from airflow.sdk import Variable

        token = await asyncio.to_thread(Variable.get, self.callback_token_variable)
        return str(token)

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Serve until cancelled, yielding one event per new delivery."""
        expected = await self._token()
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        seen: OrderedDict[str, None] = OrderedDict()

        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                status, body = await self._answer(reader, expected, seen, queue)
            except (asyncio.IncompleteReadError, ConnectionError, ValueError, asyncio.LimitOverrunError):
                status, body = 400, "bad request"
            payload = body.encode()
            writer.write(
                f"HTTP/1.1 {status} {_REASONS.get(status, 'Error')}\r\nContent-Type: text/plain; charset=utf-8\r\n"
                f"Content-Length: {len(payload)}\r\nConnection: close\r\n\r\n".encode()
                + payload
            )
            try:
                await writer.drain()
            finally:
                writer.close()

        server = await asyncio.start_server(handle, self.host, self.port)
        self.log.info("Listening for Kaizala webhook deliveries on %s:%d%s.", self.host, self.port, self.path)
        try:
            while True:
                yield TriggerEvent(await queue.get())
        finally:
            server.close()
            await server.wait_closed()

    async def _answer(
        self,
        reader: asyncio.StreamReader,
        expected: str,
        seen: OrderedDict[str, None],
        queue: asyncio.Queue[dict[str, Any]],
    ) -> tuple[int, str]:
        request_line = (await asyncio.wait_for(reader.readline(), 10)).decode("latin-1").strip()
        method, target, _ = request_line.split(" ", 2)
        headers: dict[str, str] = {}
        while True:
            line = (await asyncio.wait_for(reader.readline(), 10)).decode("latin-1").strip()
            if not line:
                break
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        url = urlsplit(target)
        if url.path.rstrip("/") != self.path.rstrip("/"):
            return 404, "not found"
        if method == "GET":
            token = parse_qs(url.query).get("validationToken")
            return (200, token[0]) if token else (400, "validationToken missing")
        if method != "POST":
            return 405, "method not allowed"
        length = int(headers.get("content-length", "0"))
        if length > MAX_BODY:
            return 413, "too large"
        body = await asyncio.wait_for(reader.readexactly(length), 30)
        if not hmac.compare_digest(headers.get("kz-callback-token", "").encode(), expected.encode()):
            self.log.warning("Rejected a webhook delivery with a wrong kz-callback-token.")
            return 401, "wrong callback token"
        event = json.loads(body)
        if not isinstance(event, dict) or not event.get("eventId"):
            return 400, "not a Kaizala event"
        event_id = str(event["eventId"])
        if event_id in seen:
            return 200, "duplicate"
        seen[event_id] = None
        while len(seen) > self.dedupe_size:
            seen.popitem(last=False)
        if self.event_types and event.get("eventType") not in self.event_types:
            return 200, "ignored"
        if self.object_id and event.get("objectId") != self.object_id:
            return 200, "ignored"
        await queue.put(event)
        return 200, "ok"
