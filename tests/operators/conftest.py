"""What the operator tests share: a connection id per tenant, running an operator, fresh phone numbers, the
emulator's call log, a real PNG, and a loopback webhook receiver (a fixture).

Test modules import these helpers from here and never from each other.
"""

from __future__ import annotations

import itertools
import json
import struct
import zlib
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import Receiver, Tenant

PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"
_numbers = itertools.count(1)


def conn_id(tenant: Tenant) -> str:
    """A new connection to the tenant."""
    return tenant.hook().kaizala_conn_id


def run(op: Any) -> Any:
    """Execute an operator as a task would, and check that its result can go to XCom (JSON)."""
    result = op.execute(context={})
    json.dumps(result)
    return result


def new_phone() -> str:
    """A valid number outside the emulator's synthetic range, unique in the test session."""
    return f"+91901{next(_numbers):07d}"


def calls_to(tenant: Tenant, method: str, suffix: str) -> list[dict[str, Any]]:
    """The tenant's calls with this method to a path ending in ``suffix`` (from the emulator's call log)."""
    return [c for c in tenant.calls() if c["method"] == method and c["path"].endswith(suffix)]


def png(width: int = 3, height: int = 2) -> bytes:
    """A real, tiny RGB PNG."""

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

    rows = b"".join(b"\x00" + b"\x10\x80\xf0" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A webhook receiver on a free loopback port, stopped after the test."""
    rec = Receiver()
    rec.thread.start()
    yield rec
    rec.server.shutdown()
    rec.server.server_close()
