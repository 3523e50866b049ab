"""A hostile or broken Kaizala (issue 12, points 4, 5, 8, 9, 13), sync and async, over real HTTP on loopback.

Malformed answers are typed errors naming the endpoint, never an empty result; every paged walk ends;
bodies are capped and every request has a total deadline; server text is cleaned before it reaches an
exception or a log line.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import threading
from typing import Any

import pytest

from airflow_provider_kaizala.exceptions import (
    KaizalaBadRequestError,
    KaizalaOutcomeUnknownError,
    KaizalaPagingError,
    KaizalaResponseError,
)
from airflow_provider_kaizala.hooks.async_kaizala import KaizalaAsyncHook
from airflow_provider_kaizala.hooks.kaizala import KaizalaHook
from airflow_provider_kaizala.hooks.token_store import MemoryRefreshTokenStore
from tests.hooks.hostile import ACCESS_TOKEN, FakeKaizala, Handler, Seen, fake_hook, serve

pytestmark = pytest.mark.usefixtures("fresh_tokens")
#: A page cap that the old, unbounded walks would run past: the fake servers stop misbehaving after it.
GIVE_UP_AFTER = 60


def sync_hook(fake: FakeKaizala, monkeypatch: pytest.MonkeyPatch, **extra: Any) -> KaizalaHook:
    return fake_hook(fake, monkeypatch, "kaizala_hostile", **extra)


def async_hook(fake: FakeKaizala, monkeypatch: pytest.MonkeyPatch, **extra: Any) -> KaizalaAsyncHook:
    conn_id = sync_hook(fake, monkeypatch, **extra).kaizala_conn_id
    return KaizalaAsyncHook(conn_id, refresh_token_store=MemoryRefreshTokenStore(), retry_backoff=0.01)


def answering(status: int, content: bytes, content_type: str = "application/json") -> FakeKaizala:
    return FakeKaizala(lambda handler, seen: handler.send_raw(status, content, {"Content-Type": content_type}))


def run_async(hook: KaizalaAsyncHook, work: Any) -> Any:
    async def main() -> Any:
        async with hook:
            return await work(hook)

    return asyncio.run(main())


async def async_walk(hook: KaizalaAsyncHook) -> list[dict[str, Any]]:
    return [person async for page in hook.iter_subscriber_pages("g@1") for person in page]


# ------------------------------------------------------------------------------- malformed answers

NESTED = b'{"members": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
MALFORMED_MEMBERS = {
    "html block page": (b"<html><body>Access denied by proxy</body></html>", "text/html"),
    "empty body": (b"", "application/json"),
    "members null": (b'{"members": null}', "application/json"),
    "members missing": (b'{"people": []}', "application/json"),
    "members a string": (b'{"members": "none"}', "application/json"),
    "a member not an object": (b'{"members": [1, 2]}', "application/json"),
    "a member's number not a string": (b'{"members": [{"id": "m", "mobileNumber": 5}]}', "application/json"),
    "isProvisioned not a boolean": (b'{"members": [{"id": "m", "isProvisioned": [1]}]}', "application/json"),
    "an array": (b"[]", "application/json"),
    "deeply nested": (NESTED, "application/json"),
    "nested deeper than the limit": (
        b'{"members": [{"id": "m", "x": ' + b"[" * 70 + b"]" * 70 + b"}]}",
        "application/json",
    ),
}


@pytest.mark.parametrize("case", list(MALFORMED_MEMBERS))
def test_a_malformed_member_list_is_an_error_not_an_empty_group(case, monkeypatch):
    content, content_type = MALFORMED_MEMBERS[case]
    with serve(answering(200, content, content_type)) as fake:
        with pytest.raises(KaizalaResponseError, match="list_members") as err:
            sync_hook(fake, monkeypatch).list_members("g@1")
        with pytest.raises(KaizalaResponseError, match="list_members"):
            run_async(async_hook(fake, monkeypatch), lambda hook: hook.list_members("g@1"))
    assert "groups/g@1/members" in str(err.value)
    assert err.value.status == 200


SUBSCRIBER_PAGES = {
    "subscribers null": b'{"subscribers": null}',
    "cursor an object": b'{"subscribers": [{"id": "s", "mobileNumber": "+14155550001"}], "cursor": {"next": 2}}',
    "cursor a number": b'{"subscribers": [], "cursor": 7}',
    "a subscriber a string": b'{"subscribers": ["+14155550001"]}',
    "not JSON": b"subscribers: none",
}


@pytest.mark.parametrize("case", list(SUBSCRIBER_PAGES))
def test_a_malformed_subscriber_page_is_an_error_sync_and_async(case, monkeypatch):
    with serve(answering(200, SUBSCRIBER_PAGES[case])) as fake:
        with pytest.raises(KaizalaResponseError, match="list_subscribers"):
            list(sync_hook(fake, monkeypatch).iter_subscribers("g@1"))
        with pytest.raises(KaizalaResponseError, match="list_subscribers"):
            run_async(async_hook(fake, monkeypatch), async_walk)


@pytest.mark.parametrize(
    ("method", "args", "content"),
    [
        ("list_groups", (), b'{"groups": {"g": 1}}'),
        ("get_group", ("g@1",), b'{"groups": []}'),
        ("send_message", ("g@1", "hi"), b"OK"),
        ("add_subscribers", ("g@1", ["+14155550001"]), b'{"result": null}'),
        ("list_webhooks", ("g@1",), b'{"webhooks": null}'),
        ("get_reaction_summary", ("g@1", "r1"), b'{"summary": [{"reactionsCountMap": {"like": "many"}}]}'),
        ("list_subgroups", ("g@1",), b'{"something": []}'),
    ],
)
def test_wrong_types_in_other_answers_are_typed_errors(method, args, content, monkeypatch):
    with serve(answering(200, content)) as fake, pytest.raises(KaizalaResponseError) as err:
        getattr(sync_hook(fake, monkeypatch), method)(*args)
    assert "not what the endpoint documents" in str(err.value)


def test_an_html_page_from_the_token_service_is_a_typed_error(monkeypatch):
    fake = FakeKaizala(lambda handler, seen: None)
    fake.answer_token = lambda handler: handler.send_raw(200, b"<html>captive portal</html>")  # type: ignore[method-assign]
    with serve(fake), pytest.raises(KaizalaResponseError, match=r"access_token.*HTML page"):
        sync_hook(fake, monkeypatch).list_groups()


def test_endpoints_that_may_answer_nothing_still_succeed_on_an_empty_body(monkeypatch):
    with serve(answering(200, b"")) as fake:
        hook = sync_hook(fake, monkeypatch)
        assert hook.remove_member("g@1", "m1") is True
        assert hook.delete_webhook("w1") is True
        assert hook.set_member_role("g@1", "m1", "Admin") is True


# ------------------------------------------------------------------------------------ endless paging


def stuck_subscribers(handler: Handler, seen: Seen) -> None:
    """A cursor that never advances (until GIVE_UP_AFTER pages, so the old endless walk ends)."""
    page = len(handler.server.fake.api_calls())
    body: dict[str, Any] = {"subscribers": [{"id": f"s{page}", "mobileNumber": f"+1415555{page:04d}"}]}
    if page < GIVE_UP_AFTER:
        body["cursor"] = "same-cursor"
    handler.send_json(200, body)


def test_a_subscriber_cursor_that_never_advances_stops_the_walk_sync_and_async(monkeypatch):
    with serve(FakeKaizala(stuck_subscribers)) as fake:
        with pytest.raises(KaizalaPagingError, match="again"):
            list(sync_hook(fake, monkeypatch).iter_subscribers("g@1"))
        assert len(fake.api_calls()) == 2
        fake.seen.clear()
        with pytest.raises(KaizalaPagingError, match="again"):
            run_async(async_hook(fake, monkeypatch), async_walk)
        assert len(fake.api_calls()) == 2


def endless_subscribers(handler: Handler, seen: Seen) -> None:
    """A fresh cursor on every page, forever (until GIVE_UP_AFTER pages)."""
    page = len(handler.server.fake.api_calls())
    body: dict[str, Any] = {"subscribers": [{"id": f"s{page}", "mobileNumber": f"+1415555{page:04d}"}]}
    if page < GIVE_UP_AFTER:
        body["cursor"] = f"c{page}"
    handler.send_json(200, body)


def test_the_page_cap_of_the_connection_ends_a_walk_sync_and_async(monkeypatch):
    with serve(FakeKaizala(endless_subscribers)) as fake:
        with pytest.raises(KaizalaPagingError, match="max_pages"):
            list(sync_hook(fake, monkeypatch, max_pages=5).iter_subscribers("g@1"))
        assert len(fake.api_calls()) == 5
        fake.seen.clear()
        with pytest.raises(KaizalaPagingError, match="max_pages"):
            run_async(async_hook(fake, monkeypatch, max_pages=5), async_walk)
        assert len(fake.api_calls()) == 5
        fake.seen.clear()
        walked = list(sync_hook(fake, monkeypatch).iter_subscribers("g@1"))  # the default cap is far above
    assert len(walked) == GIVE_UP_AFTER


def test_empty_pages_that_always_name_a_next_page_stop_the_walk(monkeypatch):
    def empty(handler: Handler, seen: Seen) -> None:
        page = len(handler.server.fake.api_calls())
        handler.send_json(200, {"subscribers": [], **({"cursor": f"c{page}"} if page < GIVE_UP_AFTER else {})})

    with serve(FakeKaizala(empty)) as fake, pytest.raises(KaizalaPagingError, match="nothing new"):
        list(sync_hook(fake, monkeypatch).iter_subscribers("g@1"))
    assert len(fake.api_calls()) == 10


def test_a_reactions_cursor_cycling_1_2_1_2_stops_the_walk(monkeypatch):
    def cycling(handler: Handler, seen: Seen) -> None:
        page = len(handler.server.fake.api_calls())
        cursor = 1 + page % 2 if page < GIVE_UP_AFTER else 0
        handler.send_json(200, {"cursor": cursor, "reactionDetails": [{"reactionId": f"r{page}"}] if cursor else []})

    with serve(FakeKaizala(cycling)) as fake, pytest.raises(KaizalaPagingError, match="reactions"):
        list(sync_hook(fake, monkeypatch).iter_reactions("g@1", "ref1"))
    assert len(fake.api_calls()) <= 3


def test_an_actions_page_repeated_forever_stops_the_walk(monkeypatch):
    def repeated(handler: Handler, seen: Seen) -> None:
        more = len(handler.server.fake.api_calls()) < GIVE_UP_AFTER
        page = [{"referenceId": f"a{i}", "sentAt": "2026-11-27T12:00:00Z"} for i in range(3)]
        handler.send_json(200, {"actions": page, "hasMore": more})

    with serve(FakeKaizala(repeated)) as fake, pytest.raises(KaizalaPagingError, match="list_actions"):
        list(sync_hook(fake, monkeypatch).iter_actions("g@1", "Job", page_size=30))
    assert len(fake.api_calls()) <= 5


# ------------------------------------------------------------------------------ sizes and slow drips


def big_members(handler: Handler, seen: Seen) -> None:
    """About 2 MB of members, chunked (no Content-Length, so only the streaming cap can stop it)."""
    member = b'{"id": "m", "mobileNumber": "+14155550001", "role": "Member", "isProvisioned": true},'
    count = 2_000_000 // len(member)
    chunks = itertools.chain([b'{"members": ['], itertools.repeat(member, count - 1), [member[:-1] + b"]}"])
    handler.send_chunked(200, chunks)


def test_an_answer_larger_than_the_cap_is_refused_sync_and_async(monkeypatch):
    with serve(FakeKaizala(big_members)) as fake:
        with pytest.raises(KaizalaResponseError, match="max_response_bytes"):
            sync_hook(fake, monkeypatch, max_response_bytes=1_000_000).list_members("g@1")
        with pytest.raises(KaizalaResponseError, match="max_response_bytes"):
            run_async(async_hook(fake, monkeypatch, max_response_bytes=1_000_000), lambda h: h.list_members("g@1"))
        assert len(sync_hook(fake, monkeypatch).list_members("g@1")) > 20_000  # under the default cap


def test_a_declared_length_above_the_cap_is_refused_before_reading(monkeypatch):
    fake = answering(200, b'{"members": []}' + b" " * 5000)
    with serve(fake), pytest.raises(KaizalaResponseError, match="max_response_bytes"):
        sync_hook(fake, monkeypatch, max_response_bytes=1024).list_members("g@1")


DRIP = b'{"members": [{"id": "m1", "mobileNumber": "+14155550001"}]}'
sent_before_hang_up: list[int] = []
drip_ended = threading.Event()


def dripping(handler: Handler, seen: Seen) -> None:
    """One byte every 0.2 s: each read is quick, the whole answer takes 12 s."""
    sent_before_hang_up.append(handler.send_chunked(200, (DRIP[i : i + 1] for i in range(len(DRIP))), pause=0.2))
    drip_ended.set()


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_a_slow_drip_is_cut_at_the_request_deadline(mode, monkeypatch):
    sent_before_hang_up.clear()
    drip_ended.clear()
    with serve(FakeKaizala(dripping)) as fake:
        extra = {"timeout": 5, "request_deadline": 1.0}
        if mode == "sync":
            call = sync_hook(fake, monkeypatch, **extra).list_members
        else:
            hook = async_hook(fake, monkeypatch, **extra)

            def call(group_id: str) -> Any:
                return run_async(hook, lambda h: h.list_members(group_id))

        with pytest.raises(KaizalaResponseError, match="request_deadline"):
            call("g@1")
    assert len(fake.api_calls()) == 1  # a drip is not repeated
    assert drip_ended.wait(15)  # the server notices the hang-up at its next write
    assert sent_before_hang_up[0] < len(DRIP)


def test_a_send_whose_answer_drips_past_the_deadline_is_not_repeated(monkeypatch):
    with serve(FakeKaizala(dripping)) as fake, pytest.raises(KaizalaOutcomeUnknownError):
        sync_hook(fake, monkeypatch, request_deadline=1.0, max_retries=3).send_message("g@1", "once")
    assert len(fake.api_calls()) == 1


# ------------------------------------------------------------------------------------- log forging


def test_server_error_text_is_cleaned_and_capped(monkeypatch):
    forged = "bad input\n2026-12-01 INFO Task succeeded\r\x1b[32m\u2028done" + "x" * 5000
    body = json.dumps({"message": forged, "errorCode": "Bad\nCode", "errorCategoryKey": "K\x00"}).encode()
    with serve(answering(400, body)) as fake, pytest.raises(KaizalaBadRequestError) as err:
        sync_hook(fake, monkeypatch).list_groups()
    text = str(err.value)
    assert not any(char in text for char in "\n\r\x1b\x00\u2028")
    assert "bad input 2026-12-01 INFO Task succeeded" in text
    assert len(err.value.server_message or "") <= 300
    assert len(text) < 700
    assert ACCESS_TOKEN not in text
