"""KaizalaWebhookTrigger against hostile callers: raw HTTP over loopback, with the trigger in this test's event loop.

Each test starts the trigger on a free port, plays a blocking client scenario in a thread, and stops the
trigger (as the triggerer does, by cancelling the task that iterates ``run()``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import signal
import socket
import time
from collections.abc import Callable
from typing import Any

import pytest

from airflow_provider_kaizala.exceptions import KaizalaException
from airflow_provider_kaizala.triggers.webhook import KaizalaWebhookTrigger
from tests.conftest import SECRET_MARKER, free_port

#: Carries the marker the session scans every log record and captured output for (tests/conftest.py).
TOKEN = f"{SECRET_MARKER}-callback-9c1d"
PATH = "/kaizala/webhook"
VARIABLE_ENV = "AIRFLOW_VAR_KAIZALA_WEBHOOK_CALLBACK_TOKEN"


@pytest.fixture(autouse=True)
def _token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(VARIABLE_ENV, TOKEN)


def make(**kwargs: Any) -> KaizalaWebhookTrigger:
    return KaizalaWebhookTrigger(port=free_port(), **kwargs)


def event(event_id: str = "e1", **extra: Any) -> dict[str, Any]:
    return {"eventId": event_id, "eventType": "MemberAdded", "objectId": "g1", "data": {"member": "+1"}, **extra}


class Run:
    """What one trigger run saw: the events it emitted and any exception its loop did not handle."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.loop_errors: list[dict[str, Any]] = []
        self.signal_handlers: dict[int, Any] = {}


SIGNALS = (signal.SIGINT, signal.SIGTERM)


def signal_handlers() -> dict[int, Any]:
    return {sig: signal.getsignal(sig) for sig in SIGNALS}


def serve(trigger: KaizalaWebhookTrigger, scenario: Callable[[int], Any], expect: int = 0) -> tuple[Any, Run]:
    """Run the trigger, play ``scenario(port)`` in a thread, wait for ``expect`` events, then cancel the trigger."""
    run = Run()

    async def main() -> Any:
        asyncio.get_running_loop().set_exception_handler(lambda _loop, context: run.loop_errors.append(context))
        run.signal_handlers = signal_handlers()

        async def consume() -> None:
            async for fired in trigger.run():
                run.events.append(fired.payload)

        task = asyncio.create_task(consume())
        try:
            await wait_listening(trigger.port, task)
            result = await asyncio.to_thread(scenario, trigger.port)
            for _ in range(200):
                if len(run.events) >= expect:
                    break
                await asyncio.sleep(0.05)
            return result
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    return asyncio.run(main()), run


async def wait_listening(port: int, task: asyncio.Task[None]) -> None:
    """Wait for the handshake to answer; reading to the server's close means it has let the connection go."""
    for _ in range(200):
        if task.done():
            task.result()
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            await asyncio.sleep(0.05)
            continue
        writer.write(f"GET {PATH}?validationToken=ready HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        answer = await reader.read()
        writer.close()
        assert answer.endswith(b"ready"), answer
        return
    raise AssertionError("the trigger never listened")


def connect(port: int, timeout: float = 10) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=timeout)


def read_answer(sock: socket.socket) -> tuple[int, str]:
    """Read until the server closes; the status and body of its answer (0, '' when it closed without one)."""
    data = b""
    with contextlib.suppress(ConnectionResetError):
        while chunk := sock.recv(65536):
            data += chunk
    if not data:
        return 0, ""
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), body.decode("utf-8", "replace")


def head(method: str = "POST", headers: dict[str, str] | None = None, extra: list[str] | None = None) -> bytes:
    lines = [f"{method} {PATH} HTTP/1.1", "Host: 127.0.0.1"]
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    lines += extra or []
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def post(port: int, body: bytes, token: str | None = TOKEN, extra: list[str] | None = None) -> tuple[int, str]:
    headers = {"Content-Type": "application/json", "Content-Length": str(len(body))}
    if token is not None:
        headers["kz-callback-token"] = token
    with connect(port) as sock:
        sock.sendall(head("POST", headers, extra) + body)
        return read_answer(sock)


def closed_by_server(sock: socket.socket) -> bool:
    """True when the server closed (or reset) the connection; False when the read timed out."""
    try:
        return sock.recv(65536) == b""
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False


# -- request head ------------------------------------------------------------------------------------------------


def test_endless_header_lines_are_cut_off_after_the_head_limit():
    """One connection sending header lines forever is closed once the head passes 16 KiB (was: read forever)."""

    def scenario(port: int) -> int:
        sent = 0
        line = b"X-Flood: " + b"a" * 1000 + b"\r\n"
        with connect(port) as sock:
            sock.sendall(b"POST /kaizala/webhook HTTP/1.1\r\nHost: x\r\n")
            try:
                while sent < 32 * 1024 * 1024:
                    sock.sendall(line)
                    sent += len(line)
            except OSError:
                return sent
        return sent

    sent, run = serve(make(), scenario)
    # What the server never read can sit in the two sockets' kernel buffers (a few MiB on loopback).
    assert sent < 12 * 1024 * 1024, f"the server was still reading header lines after {sent} bytes"
    assert run.loop_errors == []


def test_a_head_over_the_limit_is_answered_400():
    def scenario(port: int) -> tuple[int, str]:
        with connect(port) as sock:
            sock.sendall(head("POST", {"X-Big": "b" * 20000, "kz-callback-token": TOKEN}))
            return read_answer(sock)

    (status, _), _ = serve(make(), scenario)
    assert status in (0, 400)  # 400, or a reset when the server closed with bytes of ours unread


def test_more_than_100_header_lines_are_answered_431():
    body = json.dumps(event()).encode()

    def scenario(port: int) -> tuple[tuple[int, str], tuple[int, str]]:
        many = post(port, body, extra=[f"X-H{i}: {i}" for i in range(101)])
        some = post(port, body, extra=[f"X-H{i}: {i}" for i in range(90)])
        return many, some

    (many, some), run = serve(make(), scenario, expect=1)
    assert many[0] == 431
    assert some[0] == 200
    assert [e["eventId"] for e in run.events] == ["e1"]


# -- token before body -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("token", ["wrong", None, ""], ids=["wrong", "missing", "empty"])
@pytest.mark.parametrize("length", [500_000, 10**12], ids=["half-MiB", "1TB"])
def test_the_token_is_checked_before_any_body_byte(token, length):
    """Headers with a bad token and a large Content-Length, and no body: answered 401 without waiting for it."""
    headers = {"Content-Type": "application/json", "Content-Length": str(length)}
    if token is not None:
        headers["kz-callback-token"] = token

    def scenario(port: int) -> tuple[int, str]:
        with connect(port) as sock:
            sock.sendall(head("POST", headers))
            return read_answer(sock)

    (status, text), run = serve(make(), scenario)
    assert status == 401, text
    assert TOKEN not in text
    assert run.events == []


def test_two_token_headers_are_refused():
    body = json.dumps(event()).encode()

    def scenario(port: int) -> tuple[int, str]:
        return post(port, body, extra=[f"kz-callback-token: {TOKEN}"])

    (status, _), run = serve(make(), scenario)
    assert status == 401
    assert run.events == []


# -- body ----------------------------------------------------------------------------------------------------------


def chunked(port: int, chunks: list[bytes], finish: bool = True) -> tuple[int, str]:
    headers = {"Content-Type": "application/json", "Transfer-Encoding": "chunked", "kz-callback-token": TOKEN}
    data = b"".join(b"%x\r\n%s\r\n" % (len(c), c) for c in chunks)
    with connect(port) as sock:
        sock.sendall(head("POST", headers) + data + (b"0\r\n\r\n" if finish else b""))
        return read_answer(sock)


def test_a_chunked_delivery_is_accepted():
    body = json.dumps(event("chunky")).encode()

    def scenario(port: int) -> tuple[int, str]:
        return chunked(port, [body[:10], body[10:]])

    (status, text), run = serve(make(), scenario, expect=1)
    assert (status, text) == (200, "ok")
    assert [e["eventId"] for e in run.events] == ["chunky"]


def test_a_chunked_body_over_the_cap_is_answered_413():
    """1 MiB + 1 in one chunk (no terminator, so the server has read all we sent when it answers)."""

    def scenario(port: int) -> tuple[int, str]:
        return chunked(port, [b" " * (1024 * 1024 + 1)], finish=False)

    (status, _), run = serve(make(), scenario)
    assert status == 413
    assert run.events == []


def test_a_declared_body_over_the_cap_is_answered_413_before_it_is_read():
    def scenario(port: int) -> tuple[int, str]:
        headers = {"Content-Length": "1001", "kz-callback-token": TOKEN}
        with connect(port) as sock:
            sock.sendall(head("POST", headers))
            return read_answer(sock)

    (status, _), _ = serve(make(max_body_bytes=1000), scenario)
    assert status == 413


def nested(depth: int) -> bytes:
    return b'{"eventId": "deep", "eventType": "MemberAdded", "data": ' + b"[" * depth + b"]" * depth + b"}"


@pytest.mark.parametrize("depth", [40, 100_000])
def test_deeply_nested_json_is_answered_400(depth):
    def scenario(port: int) -> tuple[tuple[int, str], tuple[int, str]]:
        deep = post(port, nested(depth))
        after = post(port, json.dumps(event("after")).encode())
        return deep, after

    (deep, after), run = serve(make(), scenario, expect=1)
    assert deep[0] == 400
    assert "nested deeper than 32" in deep[1]
    assert after[0] == 200
    assert [e["eventId"] for e in run.events] == ["after"]
    assert run.loop_errors == []


@pytest.mark.parametrize(
    "body",
    [b"not json", b"[1, 2]", b'{"eventType": "MemberAdded"}', b'{"eventId": NaN}', b"\xff\xfe{", b""],
    ids=["text", "array", "no-event-id", "nan", "bad-utf8", "empty"],
)
def test_bodies_that_are_not_kaizala_events_are_answered_400(body):
    (answer, run) = serve(make(), lambda port: post(port, body))
    assert answer[0] == 400
    assert run.events == []


# -- slow, idle and many clients ---------------------------------------------------------------------------------


def drip(sock: socket.socket, data: bytes, every: float = 0.1, limit: int = 200) -> bool:
    """Send ``data`` one byte at a time; True when the server cut the connection before all was sent."""
    for byte in data[:limit]:
        try:
            sock.sendall(bytes([byte]))
        except OSError:
            return True
        time.sleep(every)
    sock.settimeout(0.5)
    return closed_by_server(sock)


def test_a_client_dripping_its_headers_is_cut_off():
    def scenario(port: int) -> bool:
        with connect(port) as sock:
            return drip(sock, head("POST", {f"X-Slow-{i}": "x" for i in range(50)}))

    cut, run = serve(make(request_timeout=1), scenario)
    assert cut
    assert run.loop_errors == []


def test_a_client_dripping_its_body_is_cut_off():
    body = json.dumps(event("slow", padding="p" * 300)).encode()

    def scenario(port: int) -> bool:
        headers = {"Content-Length": str(len(body)), "kz-callback-token": TOKEN}
        with connect(port) as sock:
            sock.sendall(head("POST", headers))
            return drip(sock, body)

    cut, run = serve(make(request_timeout=1), scenario)
    assert cut
    assert run.events == []
    assert run.loop_errors == []


def test_an_idle_client_is_closed_cleanly(caplog):
    """A client that connects and says nothing is closed at the deadline; nothing raises; the trigger serves on."""

    def scenario(port: int) -> tuple[bool, tuple[int, str]]:
        with connect(port) as sock:
            closed = closed_by_server(sock)
        return closed, post(port, json.dumps(event("next")).encode())

    with caplog.at_level(logging.WARNING):
        (closed, answer), run = serve(make(request_timeout=1), scenario, expect=1)
    assert closed
    assert answer[0] == 200
    assert [e["eventId"] for e in run.events] == ["next"]
    assert run.loop_errors == []
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []


def test_open_connections_are_bounded():
    """max_connections=3: a 4th connection is closed on accept; with 3 open the newest request gets 503."""
    body = json.dumps(event("bounded")).encode()

    def scenario(port: int) -> tuple[bool, tuple[int, str], int]:
        idle = [connect(port) for _ in range(3)]
        try:
            with connect(port) as extra:
                refused = closed_by_server(extra)
            idle[0].sendall(head("POST", {"Content-Length": str(len(body)), "kz-callback-token": TOKEN}) + body)
            busy = read_answer(idle[0])
        finally:
            for sock in idle:
                sock.close()
        status = 0
        for _ in range(100):  # the server notices the closed sockets on its own schedule
            with contextlib.suppress(OSError):
                status = post(port, body)[0]
            if status == 200:
                break
            time.sleep(0.05)
        return refused, busy, status

    (refused, busy, status), run = serve(make(max_connections=3, request_timeout=30), scenario, expect=1)
    assert refused
    assert busy[0] == 503
    assert status == 200
    assert [e["eventId"] for e in run.events] == ["bounded"]


# -- fail closed, bind address, handshake, lifecycle ---------------------------------------------------------------


@pytest.mark.parametrize("value", [None, "", "   "], ids=["missing", "empty", "blank"])
def test_refuses_to_start_without_a_callback_token(monkeypatch, value):
    if value is None:
        monkeypatch.delenv(VARIABLE_ENV)
    else:
        monkeypatch.setenv(VARIABLE_ENV, value)
    trigger = make()

    async def main() -> None:
        async for _ in trigger.run():
            raise AssertionError("the trigger emitted an event")

    with pytest.raises(KaizalaException) as raised:
        asyncio.run(main())
    message = str(raised.value)
    assert "'kaizala_webhook_callback_token'" in message
    assert "airflow variables set kaizala_webhook_callback_token" in message
    assert VARIABLE_ENV in message
    with pytest.raises(ConnectionRefusedError), socket.create_connection(("127.0.0.1", trigger.port), timeout=2):
        pass


def test_listens_on_loopback_by_default():
    trigger = KaizalaWebhookTrigger(port=free_port())
    assert trigger.host == "127.0.0.1"
    assert trigger.serialize()[1]["host"] == "127.0.0.1"


def test_the_validation_token_is_echoed_and_bounded():
    def scenario(port: int) -> list[tuple[int, str]]:
        answers = []
        for query, host in [
            ("validationToken=abc-123", "x"),
            ("validationToken=odd-host", "[bad"),
            ("validationToken=" + "v" * 2000, "x"),
            ("other=1", "x"),
        ]:
            with connect(port) as sock:
                sock.sendall(f"GET {PATH}?{query} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
                answers.append(read_answer(sock))
        return answers

    answers, run = serve(make(), scenario)
    assert answers[:2] == [(200, "abc-123"), (200, "odd-host")]
    assert [status for status, _ in answers[2:]] == [400, 400]
    assert run.loop_errors == []


def test_stopping_releases_the_port_and_leaves_signal_handlers_alone():
    """uvicorn's own Server.serve would take SIGINT/SIGTERM from the triggerer while it runs."""
    trigger = make()
    seen: dict[str, Any] = {}

    def scenario(port: int) -> None:
        seen["handlers"] = signal_handlers()
        seen["idle"] = connect(port)  # still open when the trigger stops

    _, run = serve(trigger, scenario)
    seen["idle"].close()
    assert seen["handlers"] == run.signal_handlers
    with pytest.raises(ConnectionRefusedError), socket.create_connection(("127.0.0.1", trigger.port), timeout=2):
        pass
    again = KaizalaWebhookTrigger(port=trigger.port)

    def handshake(port: int) -> tuple[int, str]:
        with connect(port) as sock:
            sock.sendall(f"GET {PATH}?validationToken=again HTTP/1.1\r\nHost: x\r\n\r\n".encode())
            return read_answer(sock)

    answer, _ = serve(again, handshake)
    assert answer == (200, "again")


def test_a_port_in_use_is_a_clear_error():
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        trigger = KaizalaWebhookTrigger(port=busy.getsockname()[1])

        async def main() -> None:
            async for _ in trigger.run():
                pass

        with pytest.raises(KaizalaException, match=r"cannot listen on 127\.0\.0\.1"):
            asyncio.run(main())


def test_limits_are_validated_and_serialized():
    trigger = make(request_timeout=2.5, max_body_bytes=4096, max_connections=8)
    path, kwargs = trigger.serialize()
    assert KaizalaWebhookTrigger(**kwargs).serialize() == (path, kwargs)
    assert (kwargs["request_timeout"], kwargs["max_body_bytes"], kwargs["max_connections"]) == (2.5, 4096, 8)
    for bad in ({"request_timeout": 0}, {"max_body_bytes": 0}, {"max_connections": 1}):
        with pytest.raises(ValueError, match=next(iter(bad))):
            make(**bad)


def test_a_delivery_is_answered_only_once_the_triggerer_has_taken_its_event():
    """200 only once the triggerer asks for the next event (it has stored this one); an event it never took
    before the trigger stopped is answered 503, so Kaizala delivers it again."""
    trigger = make()

    def deliver(event_id: str) -> int:
        return post(trigger.port, json.dumps(event(event_id)).encode())[0]

    async def main() -> tuple[bool, int, int]:
        stream = trigger.run()
        first = asyncio.ensure_future(stream.__anext__())
        await wait_listening(trigger.port, first)
        one = asyncio.ensure_future(asyncio.to_thread(deliver, "taken"))
        assert (await first).payload["eventId"] == "taken"
        await asyncio.sleep(0.5)
        answered_before_taken = one.done()
        second = asyncio.ensure_future(stream.__anext__())  # the triggerer stored "taken" and asks for more
        status_one = await one
        two = asyncio.ensure_future(asyncio.to_thread(deliver, "not-taken"))
        assert (await second).payload["eventId"] == "not-taken"
        await stream.aclose()  # stopped before the triggerer asked for more
        return answered_before_taken, status_one, await two

    answered_before_taken, status_one, status_two = asyncio.run(main())
    assert not answered_before_taken
    assert status_one == 200
    assert status_two in (0, 503)  # 503, or cut as the server stopped: either way not acknowledged
