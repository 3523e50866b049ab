"""The emulator's ASGI application: one app serving the primary and the alternate endpoint.

:class:`EmulatorApp` holds the emulator (state, fault switches, webhook delivery, call log, endpoints) and
composes the two layers that serve a request: the :class:`~airflow_provider_kaizala.emulator.pipeline.Pipeline`
(faults, call log, token/relocation/throttling/permission checks; an outer ASGI layer) in front of the FastAPI
routes of ``api.py``. Route handlers get :class:`~airflow_provider_kaizala.emulator.services.Services`, never the
app; the admin API reaches the app through the ``Control`` protocol it implements.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Any

from airflow_provider_kaizala.emulator.api import ApiRoutes
from airflow_provider_kaizala.emulator.connections import Connections
from airflow_provider_kaizala.emulator.faults import FaultConfig, FaultEngine
from airflow_provider_kaizala.emulator.pipeline import CallLog, Endpoints, Pipeline, Receive, Scope, Send
from airflow_provider_kaizala.emulator.services import Services
from airflow_provider_kaizala.emulator.state import Connector, State
from airflow_provider_kaizala.emulator.webhooks import Deliverer


class EmulatorApp:
    """ASGI callable holding the whole emulator (state, faults, call log, routes)."""

    def __init__(self, faults: FaultConfig | None = None, *, id_seed: int = 0) -> None:
        self.state = State(id_seed)
        self.faults = FaultEngine(faults or FaultConfig())
        self.endpoints = Endpoints(self.faults)
        self.call_log = CallLog()
        self.background: dict[str, asyncio.Task[None]] = {}
        self.connections = Connections()  # the server records transports here (the drop fault)
        self.deliverer = Deliverer(self.state, self.faults)
        self.state.on_event = self.deliverer.emit
        self.api = ApiRoutes(Services(self.state, self.faults, self.deliverer, self))
        self.pipeline = Pipeline(self.api, self.state, self.faults, self.endpoints, self.call_log, self.connections)

    # -- control (the admin API, the harness and the CLI) -------------------------------------------------
    @property
    def urls(self) -> dict[str, str]:
        """``{"primary": url, "alternate": url}``."""
        return self.endpoints.urls

    @property
    def calls(self) -> deque[dict[str, Any]]:
        """The call log, oldest first."""
        return self.call_log.entries

    def set_endpoints(self, primary: tuple[str, int], alternate: tuple[str, int]) -> None:
        """Tell the app which (host, port) is the primary and which the alternate endpoint."""
        self.endpoints.set(primary, alternate)

    def reset(self) -> None:
        """Empty state, start-up faults, empty call log, clock offset 0, background churn and deliveries stopped."""
        self.stop_background()
        self.deliverer.reset()
        self.state.reset()
        self.faults.reset()
        self.call_log.clear()

    def stop_background(self) -> None:
        for task in self.background.values():
            task.cancel()
        self.background.clear()

    def relocate(self, conn: Connector, to: str | None = None) -> str:
        """Move ``conn`` to ``to`` (default: the other endpoint)."""
        return self.endpoints.relocate(conn, to)

    def openapi_document(self, server_url: str | None = None) -> dict[str, Any]:
        """The OpenAPI description of the Kaizala API the emulator serves, with ``server_url`` as its server."""
        return self.api.openapi_document(server_url)

    # -- ASGI ----------------------------------------------------------------------------------------------
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            await self.pipeline(scope, receive, send)
        elif kind == "lifespan":
            await self._lifespan(receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                self.stop_background()
                await self.deliverer.close()
                await send({"type": "lifespan.shutdown.complete"})
                return
