"""What the emulator's FastAPI route handlers are given: the state and the fault switches, explicitly.

Handlers receive a :class:`Services` when their router is built and the calling connector through the
:func:`caller` dependency (the pipeline authenticated it before the handler runs), never the whole app.
"""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request

from airflow_provider_kaizala.emulator.faults import FaultEngine
from airflow_provider_kaizala.emulator.state import Connector, State

#: ``openapi_extra`` key of a route: the connector permission it needs (checked by the pipeline, 403).
PERMISSION = "x-kaizala-permission"


@dataclass(frozen=True)
class Services:
    """The state and fault engine shared by the route handlers."""

    state: State
    faults: FaultEngine


async def caller(request: Request) -> Connector:
    """The connector whose access token the pipeline accepted for this call."""
    conn: Connector = request.state.connector
    return conn
