"""What the operator tests share: a connection id per tenant, running an operator, fresh phone numbers, the
emulator's call log, a real PNG, and a loopback webhook receiver (a fixture).

Test modules import these helpers from here and never from each other.
"""

from __future__ import annotations

import http.server
import itertools
import json
import struct
import threading
import time
import zlib
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.conftest import Tenant

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


class Receiver:
    """A tiny webhook receiver: echoes ``validationToken`` on GET, records every POST (headers and JSON)."""

    def __init__(self) -> None:
        self.events: list[tuple[dict[str, str], dict]] = []
        self.validations = 0
        self.echo = True
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                receiver.validations += 1
                token = parse_qs(urlsplit(self.path).query).get("validationToken", [""])[0]
                body = (token if receiver.echo else "nope").encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self) -> None:
                data = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                receiver.events.append(({k.lower(): v for k, v in self.headers.items()}, json.loads(data)))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/kaizala/events"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.02,), daemon=True)

    def wait(self, count: int, timeout: float = 10.0) -> list[tuple[dict[str, str], dict]]:
        deadline = time.monotonic() + timeout
        while len(self.events) < count and time.monotonic() < deadline:
            time.sleep(0.02)
        return list(self.events)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A webhook receiver on a free loopback port, stopped after the test."""
    rec = Receiver()
    rec.thread.start()
    yield rec
    rec.server.shutdown()
    rec.server.server_close()
