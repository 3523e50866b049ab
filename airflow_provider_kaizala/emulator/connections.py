"""The connection-drop fault: reset a client's TCP connection without answering.

ASGI has no message for "abort the connection", so the server side provides it: :meth:`Connections.protocol`
wraps the HTTP protocol class given to uvicorn (``uvicorn.Config(http=<class>)``, a public setting) so that every
connection's transport is recorded, by the peer address, in ``connection_made`` and forgotten in
``connection_lost`` (the standard :class:`asyncio.Protocol` callbacks). The app then calls
:meth:`Connections.abort` with the ASGI scope's ``client`` (the same peer address): the socket gets ``SO_LINGER``
0 and the transport is aborted, so the client sees a reset (``ConnectionResetError`` / ``RemoteDisconnected``)
and not a byte of response. Served by anything else (no recorded transport), ``abort`` returns ``False``.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
from typing import Any, cast

from uvicorn.config import HTTP_PROTOCOLS
from uvicorn.importer import import_from_string

Peer = tuple[str, int]


def peer_of(transport: asyncio.BaseTransport) -> Peer | None:
    """The peer address of a transport as ASGI's ``scope["client"]`` gives it (``(host, port)``)."""
    sock = transport.get_extra_info("socket")
    info: Any = None
    if sock is not None:
        with contextlib.suppress(OSError):
            info = sock.getpeername()
    if info is None:
        info = transport.get_extra_info("peername")
    if isinstance(info, (list, tuple)) and len(info) >= 2:
        return str(info[0]), int(info[1])
    return None


def http_protocol(name: str = "auto") -> type[asyncio.Protocol]:
    """uvicorn's HTTP protocol class for ``name`` (``auto``: httptools when installed, else h11)."""
    cls: type[asyncio.Protocol] = import_from_string(HTTP_PROTOCOLS[name])
    return cls


class Connections:
    """The open connections of one emulator, by peer address."""

    def __init__(self) -> None:
        self._open: dict[Peer, asyncio.Transport] = {}

    def __len__(self) -> int:
        return len(self._open)

    def protocol(self, base: type[asyncio.Protocol]) -> type[asyncio.Protocol]:
        """A subclass of the HTTP protocol ``base`` whose connections are recorded here."""
        registry = self

        class Tracked(base):  # type: ignore[valid-type,misc]
            """``base`` plus the bookkeeping of :class:`Connections`."""

            _kaizala_peer: Peer | None = None

            def connection_made(self, transport: asyncio.BaseTransport) -> None:
                self._kaizala_peer = peer_of(transport)
                if self._kaizala_peer is not None:
                    registry._open[self._kaizala_peer] = cast(asyncio.Transport, transport)
                super().connection_made(transport)

            def connection_lost(self, exc: Exception | None) -> None:
                if self._kaizala_peer is not None:
                    registry._open.pop(self._kaizala_peer, None)
                super().connection_lost(exc)

        Tracked.__name__ = Tracked.__qualname__ = f"Tracked{base.__name__}"
        return Tracked

    def abort(self, client: Any) -> bool:
        """Reset the connection of ``client`` (a scope's ``client``); ``False`` when it is not known here."""
        key = (str(client[0]), int(client[1])) if isinstance(client, (list, tuple)) and len(client) >= 2 else None
        transport = self._open.pop(key, None) if key is not None else None
        if transport is None:
            return False
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError, AttributeError, TypeError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        transport.abort()
        return True
