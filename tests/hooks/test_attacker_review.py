"""What an independent attacker review of the hook found after issue 12's hardening, pinned over real HTTP.

* Compressed answers are decoded by the policy's bounded decoder: a stacked ``gzip, gzip`` encoding (a bomb
  that ``httpx`` inflated to 2 GB in the triggerer) is refused, and a bomb stops at ``max_response_bytes``.
* A 3xx whose ``Location`` ``httpx`` cannot parse is the policy's typed error, not ``httpx.InvalidURL``.
* A member or subscriber without a phone number is a malformed answer (it made the sensor see "everyone
  left"), and a subscriber page larger than the page asked for is refused (it let a walk's memory grow far
  beyond ``max_pages`` times the page size).
"""

from __future__ import annotations

import asyncio
import gzip
import itertools
import json
import zlib
from collections.abc import Iterator
from typing import Any

import pytest

from airflow_provider_kaizala.exceptions import KaizalaRelocationError, KaizalaResponseError
from airflow_provider_kaizala.hooks.async_kaizala import KaizalaAsyncHook
from airflow_provider_kaizala.hooks.config import TOKEN_CACHE
from airflow_provider_kaizala.hooks.kaizala import KaizalaHook
from airflow_provider_kaizala.hooks.policy import BodyDecoder, BodyTooLarge
from airflow_provider_kaizala.hooks.token_store import MemoryRefreshTokenStore
from tests.hooks.hostile import FakeKaizala, Handler, Seen, serve

_ids = itertools.count(1)
MEMBERS = {"members": [{"id": "m1", "mobileNumber": "+14155550001", "role": "Member", "isProvisioned": True}]}


@pytest.fixture(autouse=True)
def _fresh_tokens() -> Iterator[None]:
    TOKEN_CACHE.clear()
    yield
    TOKEN_CACHE.clear()


def hooks(fake: FakeKaizala, monkeypatch: pytest.MonkeyPatch, **extra: Any) -> tuple[KaizalaHook, KaizalaAsyncHook]:
    conn_id = f"kaizala_review_{next(_ids)}"
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", fake.connection(**extra))
    store = MemoryRefreshTokenStore()
    return (
        KaizalaHook(conn_id, refresh_token_store=store, retry_backoff=0.01),
        KaizalaAsyncHook(conn_id, refresh_token_store=store, retry_backoff=0.01),
    )


def run_async(hook: KaizalaAsyncHook, work: Any) -> Any:
    async def main() -> Any:
        async with hook:
            return await work(hook)

    return asyncio.run(main())


def encoded(content: bytes, encoding: str) -> FakeKaizala:
    def answer(handler: Handler, seen: Seen) -> None:
        handler.send_raw(200, content, {"Content-Type": "application/json", "Content-Encoding": encoding})

    return FakeKaizala(answer)


def test_a_stacked_encoding_is_refused_sync_and_async(monkeypatch):
    body = gzip.compress(gzip.compress(json.dumps(MEMBERS).encode()))
    with serve(encoded(body, "gzip, gzip")) as fake:
        sync, asynchronous = hooks(fake, monkeypatch)
        with pytest.raises(KaizalaResponseError, match="unsupported Content-Encoding"):
            sync.list_members("g@1")
        with pytest.raises(KaizalaResponseError, match="unsupported Content-Encoding"):
            run_async(asynchronous, lambda hook: hook.list_members("g@1"))


@pytest.mark.parametrize("encoding", ["gzip", "deflate"])
def test_one_compressed_layer_is_decoded_sync_and_async(encoding, monkeypatch):
    raw = json.dumps(MEMBERS).encode()
    body = gzip.compress(raw) if encoding == "gzip" else zlib.compress(raw)
    with serve(encoded(body, encoding)) as fake:
        sync, asynchronous = hooks(fake, monkeypatch)
        assert [m["id"] for m in sync.list_members("g@1")] == ["m1"]
        assert [m["id"] for m in run_async(asynchronous, lambda hook: hook.list_members("g@1"))] == ["m1"]
        assert all(s.headers.get("Accept-Encoding") == "gzip, deflate" for s in fake.api_calls())


def test_a_gzip_bomb_stops_at_the_cap_sync_and_async(monkeypatch):
    bomb = gzip.compress(b'{"members": [' + b" " * (64 * 1024 * 1024) + b"]}", compresslevel=9)
    with serve(encoded(bomb, "gzip")) as fake:
        sync, asynchronous = hooks(fake, monkeypatch, max_response_bytes=1024 * 1024)
        with pytest.raises(KaizalaResponseError, match="larger than max_response_bytes"):
            sync.list_members("g@1")
        with pytest.raises(KaizalaResponseError, match="larger than max_response_bytes"):
            run_async(asynchronous, lambda hook: hook.list_members("g@1"))


def test_the_decoder_never_holds_more_than_the_cap():
    bomb = gzip.compress(b"0" * (50 * 1024 * 1024))
    decoder = BodyDecoder("gzip", cap=1000)
    with pytest.raises(BodyTooLarge):
        decoder.feed(bomb)
    assert sum(len(part) for part in decoder._parts) <= 1000


@pytest.mark.parametrize("location", ["http:\\\\127.0.0.1:1/", "https://xn--/"])
@pytest.mark.parametrize("status", [301, 302, 307, 308])
def test_a_redirect_location_httpx_cannot_parse_is_a_typed_error(status, location, monkeypatch):
    def answer(handler: Handler, seen: Seen) -> None:
        handler.send_raw(status, b"", {"Location": location})

    with serve(FakeKaizala(answer)) as fake:
        sync, asynchronous = hooks(fake, monkeypatch)
        expected = KaizalaRelocationError if status == 308 else Exception
        with pytest.raises(expected) as sync_error:
            sync.list_groups()
        with pytest.raises(expected) as async_error:
            run_async(asynchronous, lambda hook: hook.list_members("g@1"))
    for error in (sync_error.value, async_error.value):
        assert type(error).__module__ == "airflow_provider_kaizala.exceptions", repr(error)


@pytest.mark.parametrize(
    "member",
    [{"id": "m0"}, {"id": "m0", "mobileNumber": ""}, {}],
    ids=["no number", "empty number", "empty object"],
)
def test_a_member_without_a_phone_number_is_a_malformed_answer(member, monkeypatch):
    def answer(handler: Handler, seen: Seen) -> None:
        handler.send_json(200, {"members": [member] * 20})

    with serve(FakeKaizala(answer)) as fake:
        sync, asynchronous = hooks(fake, monkeypatch)
        with pytest.raises(KaizalaResponseError, match="mobileNumber"):
            sync.list_members("g@1")
        with pytest.raises(KaizalaResponseError, match="mobileNumber"):
            run_async(asynchronous, lambda hook: hook.list_members("g@1"))


def test_a_subscriber_page_larger_than_asked_is_refused(monkeypatch):
    pages = itertools.count()

    def answer(handler: Handler, seen: Seen) -> None:
        n = next(pages)
        people = [{"id": f"s{i}", "mobileNumber": f"+1415555{i:04d}"} for i in range(2000)]
        handler.send_json(200, {"subscribers": people, "cursor": f"c{n}" if n < 5 else None})

    async def walk(hook: KaizalaAsyncHook) -> list[Any]:
        return [page async for page in hook.iter_subscriber_pages("g@1")]

    with serve(FakeKaizala(answer)) as fake:
        sync, asynchronous = hooks(fake, monkeypatch)
        with pytest.raises(KaizalaResponseError, match="2000 items for a page of 50"):
            list(sync.iter_subscriber_pages("g@1"))
        with pytest.raises(KaizalaResponseError, match="2000 items for a page of 50"):
            run_async(asynchronous, walk)
