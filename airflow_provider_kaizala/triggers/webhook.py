"""KaizalaWebhookTrigger: receive Kaizala webhook deliveries on the triggerer and schedule DAGs on them."""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

from airflow.triggers.base import BaseEventTrigger, TriggerEvent

from airflow_provider_kaizala.exceptions import KaizalaException, KaizalaValidationError

#: Accepted events waiting for the triggerer; beyond this a delivery is answered 503 and Kaizala retries it.
MAX_PENDING_EVENTS = 1000

#: Accepted events, each with the future that answers its delivery once the triggerer has taken it.
_Queue = asyncio.Queue[tuple[dict[str, Any], "asyncio.Future[bool]"]]


@dataclass(frozen=True)
class WebhookLimits:
    """The receiver's limits (described in :mod:`airflow_provider_kaizala.triggers.webhook_app`)."""

    request_timeout: float = 10.0
    max_body_bytes: int = 1024 * 1024
    max_connections: int = 32

    def __post_init__(self) -> None:
        if not self.request_timeout > 0:
            raise KaizalaValidationError(
                f"request_timeout must be a positive number of seconds, got {self.request_timeout!r}"
            )
        if self.max_body_bytes < 1:
            raise KaizalaValidationError(f"max_body_bytes must be at least 1, got {self.max_body_bytes!r}")
        if self.max_connections < 2:
            raise KaizalaValidationError(f"max_connections must be at least 2, got {self.max_connections!r}")


class KaizalaWebhookTrigger(BaseEventTrigger):
    """A webhook receiver for Airflow 3's ``AssetWatcher``: each new Kaizala event becomes an asset event.

    It serves ``host:port`` at ``path`` with uvicorn (h11) and Starlette inside the triggerer's event loop, and:

    * answers Kaizala's registration handshake (``GET ?validationToken=...`` echoed as plain text);
    * accepts a delivery (``POST``) only with the right ``kz-callback-token`` header, checked in constant
      time before any body byte is read (HTTP 401 otherwise);
    * de-duplicates Kaizala's at-least-once deliveries by ``eventId`` (the last ``dedupe_size`` ids);
    * emits each new event whose type (and object) matches the filters, and answers its delivery 200 once
      the triggerer has taken it (events not taken when the trigger stops are answered 503, and retried).

    It fails closed: it refuses to start while the Variable ``callback_token_variable`` is missing or empty.
    The limits (head size and header count, body cap, JSON depth, per-request deadline, open connections)
    are described in :mod:`airflow_provider_kaizala.triggers.webhook_app`.

    The callback token is a secret, so the trigger's kwargs name the Airflow Variable holding it, never the
    token itself. It is read once, when the trigger starts. Kaizala calls only https URLs: the receiver
    listens on loopback by default, behind your ingress or TLS-terminating proxy on the same host; pass
    ``host="0.0.0.0"`` (or an interface address) when the proxy reaches the triggerer over the network.
    Ids seen before a triggerer restart are forgotten, so a delivery retried across a restart can come
    through once more; tasks should treat ``eventId`` as an idempotency key.

    :param port: port to listen on.
    :param host: interface to listen on (default ``127.0.0.1``: loopback only).
    :param path: URL path of the callback.
    :param event_types: only these event types (default: all).
    :param object_id: only events of this group, action or package (default: all).
    :param callback_token_variable: the Airflow Variable holding the ``callBackToken`` registered with Kaizala.
    :param dedupe_size: how many recent event ids are remembered.
    :param request_timeout: seconds a connection may take, from accept to the end of the answer.
    :param max_body_bytes: largest delivery body (HTTP 413 above it).
    :param max_connections: most connections open at once.
    """

    def __init__(
        self,
        *,
        port: int,
        host: str = "127.0.0.1",
        path: str = "/kaizala/webhook",
        event_types: Sequence[str] | None = None,
        object_id: str | None = None,
        callback_token_variable: str = "kaizala_webhook_callback_token",
        dedupe_size: int = 10000,
        request_timeout: float = 10.0,
        max_body_bytes: int = 1024 * 1024,
        max_connections: int = 32,
    ) -> None:
        super().__init__()
        self.port = int(port)
        self.host = host
        self.path = path
        self.event_types = list(event_types) if event_types else None
        self.object_id = object_id
        self.callback_token_variable = callback_token_variable
        self.dedupe_size = int(dedupe_size)
        self.limits = WebhookLimits(
            request_timeout=float(request_timeout),
            max_body_bytes=int(max_body_bytes),
            max_connections=int(max_connections),
        )

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
                "request_timeout": self.limits.request_timeout,
                "max_body_bytes": self.limits.max_body_bytes,
                "max_connections": self.limits.max_connections,
            },
        )

    async def _token(self) -> str:
        """The callback token; a clear error (never the value) when the Variable is missing or empty."""
        from airflow.providers.common.compat.sdk import Variable

        token = await asyncio.to_thread(Variable.get, self.callback_token_variable, default=None)
        if token is None or not str(token).strip():
            state = "is not set" if token is None else "is empty"
            raise KaizalaException(
                f"KaizalaWebhookTrigger refuses to start: the Airflow Variable '{self.callback_token_variable}' "
                f"{state}, and without a callback token anyone who reaches the port could trigger DAGs. Set it "
                "to the callBackToken registered with Kaizala (KaizalaCreateWebhookOperator's callback_token), "
                f"e.g. `airflow variables set {self.callback_token_variable} <token>` or the environment "
                f"variable AIRFLOW_VAR_{self.callback_token_variable.upper()}, then restart the trigger."
            )
        return str(token)

    async def _accept(self, event: dict[str, Any], seen: OrderedDict[str, None], queue: _Queue) -> str:
        """De-duplicate and filter one parsed delivery; a new, wanted one is answered once Airflow has it.

        The answer waits until the triggerer has taken the event from :meth:`run` (it asks for the next one),
        so an event still queued when the trigger stops is answered 503 and Kaizala delivers it again.
        """
        event_id = str(event["eventId"])
        if event_id in seen:
            return "duplicate"
        wrong_type = bool(self.event_types) and event.get("eventType") not in (self.event_types or ())
        if wrong_type or (self.object_id and event.get("objectId") != self.object_id):
            outcome = "ignored"
            handed_over: asyncio.Future[bool] | None = None
        else:
            handed_over = asyncio.get_running_loop().create_future()
            try:
                queue.put_nowait((event, handed_over))
            except asyncio.QueueFull:
                return "busy"  # not remembered: Kaizala's retry is accepted once there is room
            outcome = "ok"
        seen[event_id] = None
        while len(seen) > self.dedupe_size:
            seen.popitem(last=False)
        if handed_over is not None and not await handed_over:
            return "busy"
        return outcome

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Serve until cancelled, yielding one event per new delivery."""
        from airflow_provider_kaizala.triggers.webhook_app import WebhookApp, WebhookServer

        token = await self._token()
        queue: _Queue = asyncio.Queue(maxsize=MAX_PENDING_EVENTS)
        seen: OrderedDict[str, None] = OrderedDict()
        app = WebhookApp(
            path=self.path,
            token=token,
            deliver=lambda event: self._accept(event, seen, queue),
            limits=self.limits,
            log=self.log,
        )
        server = WebhookServer(app, self.host, self.port, self.limits)
        try:
            await server.start()
        except OSError as exc:
            raise KaizalaException(
                f"KaizalaWebhookTrigger cannot listen on {self.host}:{self.port}: {exc.strerror or exc}"
            ) from exc
        self.log.info("Listening for Kaizala webhook deliveries on %s:%d%s.", self.host, self.port, self.path)
        assert server.task is not None
        next_event: asyncio.Task[tuple[dict[str, Any], asyncio.Future[bool]]] | None = None
        handed_over: asyncio.Future[bool] | None = None
        try:
            while True:
                next_event = asyncio.ensure_future(queue.get())
                await asyncio.wait({next_event, server.task}, return_when=asyncio.FIRST_COMPLETED)
                if not next_event.done():
                    error = None if server.task.cancelled() else server.task.exception()
                    raise KaizalaException(
                        f"KaizalaWebhookTrigger's server on {self.host}:{self.port} stopped unexpectedly"
                        + (f": {type(error).__name__}: {error}" if error else "")
                    )
                event, handed_over = next_event.result()
                yield TriggerEvent(event)
                # The triggerer asks for the next event only once it has stored this one: answer 200 now.
                handed_over.set_result(True)
                handed_over = None
        finally:
            if next_event is not None:
                next_event.cancel()
            # Not handed over (queued, or yielded while the triggerer was stopping): answered 503, retried.
            waiting = [handed_over] if handed_over is not None else []
            while not queue.empty():
                waiting.append(queue.get_nowait()[1])
            for future in waiting:
                if not future.done():
                    future.set_result(False)
            await server.stop()
