"""KaizalaAsyncHook: the same request flows as KaizalaHook, driven with ``httpx`` for triggers.

Nothing about tokens, relocation, throttling or retries is written here: the flows of
:mod:`airflow_provider_kaizala.hooks.core` decide, this hook only sends with ``httpx.AsyncClient``,
sleeps with ``asyncio.sleep`` and persists rotated refresh tokens off the event loop. Triggers only
read, so the hook exposes the read methods (and ``send_message`` for the notifier's ``async_notify``).
"""

from __future__ import annotations

import asyncio
import logging
import zlib
from collections.abc import AsyncIterator, Iterable
from typing import TYPE_CHECKING, Any, Literal, overload

from airflow_provider_kaizala.hooks.base import KaizalaBaseHook
from airflow_provider_kaizala.hooks.config import KaizalaConnectionConfig
from airflow_provider_kaizala.hooks.core import (
    USER_AGENT,
    Flow,
    KaizalaSession,
    Pause,
    Received,
    Send,
    SubscriberWalk,
    TransportFailure,
)
from airflow_provider_kaizala.hooks.policy import (
    ACCEPT_ENCODING,
    ENDPOINTS,
    BodyDecoder,
    BodyTooLarge,
    TransportError,
    Undecodable,
    clean_text,
    normalise_person,
    parse_json,
)
from airflow_provider_kaizala.hooks.progress import DEFAULT_INTERVAL as PROGRESS_INTERVAL
from airflow_provider_kaizala.hooks.token_store import (
    persist_rotated_refresh_token,
)
from airflow_provider_kaizala.hooks.validation import message_body, validate_id

if TYPE_CHECKING:
    import httpx

log = logging.getLogger(__name__)


def classify_httpx_error(error: Exception) -> TransportError:
    """Map an ``httpx`` exception to the policy's transport error kinds."""
    import httpx

    if isinstance(error, (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)):
        return TransportError.CONNECT
    if isinstance(error, httpx.TimeoutException):
        return TransportError.TIMEOUT
    return TransportError.DROPPED


async def _amask(value: str) -> None:
    try:
        from airflow.sdk.log import amask_secret
    except ImportError:  # Airflow < 3.3
        from airflow.providers.common.compat.sdk import mask_secret

        await asyncio.to_thread(mask_secret, value)
    else:
        await amask_secret(value)


class _Answered(Exception):
    """Carries a 3xx answer out of ``httpx`` before it parses ``Location`` (see :func:`_hand_back_redirects`)."""

    def __init__(self, response: httpx.Response) -> None:
        super().__init__(response.status_code)
        self.response = response


async def _hand_back_redirects(response: httpx.Response) -> None:
    """Response hook: hand a redirect back at once. ``httpx`` builds the next request of every 3xx with a
    ``Location`` even when it does not follow redirects, and a hostile ``Location`` makes that raise errors of
    its own (``InvalidURL``, ``IDNAError``); the hook's policy parses ``Location`` itself."""
    if 300 <= response.status_code < 400 and "location" in response.headers:
        raise _Answered(response)


class KaizalaAsyncHook(KaizalaBaseHook):
    """Asynchronous access to the Kaizala API with the sync hook's rules, for triggers and notifiers.

    :param kaizala_conn_id: the ``kaizala`` connection to use (resolved with Airflow's async connection access).
    :param refresh_token_store: where rotated refresh tokens go (default: the Airflow Variable store).
    :param retry_backoff: base of the exponential backoff between retries, in seconds.
    """

    #: Seconds between two progress lines of a long walk.
    progress_interval: float = PROGRESS_INTERVAL

    def __init__(self, kaizala_conn_id: str = KaizalaBaseHook.default_conn_name, **kwargs: Any) -> None:
        super().__init__(kaizala_conn_id, **kwargs)
        self._session: KaizalaSession | None = None
        self._client: httpx.AsyncClient | None = None
        self._to_mask: list[str] = []

    async def get_kaizala_session(self) -> KaizalaSession:
        """Read the connection (async) and build the shared session state once."""
        if self._session is None:
            from airflow.providers.common.compat.connection import get_async_connection

            conn = await get_async_connection(self.kaizala_conn_id, hook=self)
            extra = await conn.aextra_dejson() if hasattr(conn, "aextra_dejson") else conn.extra_dejson
            config = KaizalaConnectionConfig.from_connection(
                self.kaizala_conn_id, conn.host, conn.login, conn.password, extra
            )
            stored = await asyncio.to_thread(self.refresh_token_store.get, self.kaizala_conn_id)
            for secret in (config.application_secret, config.refresh_token, stored):
                if secret:
                    await _amask(secret)
            self._session = KaizalaSession(
                config, stored or config.refresh_token, retry_backoff=self.retry_backoff, on_token=self._to_mask.append
            )
        return self._session

    async def _get_client(self) -> httpx.AsyncClient:
        if self._client is None:
            import httpx

            config = (await self.get_kaizala_session()).config
            mounts = {
                f"{scheme}://": httpx.AsyncHTTPTransport(proxy=url, verify=config.verify)
                for scheme, url in config.proxies.items()
            }
            self._client = httpx.AsyncClient(
                timeout=config.timeout,
                verify=config.verify,
                follow_redirects=False,
                headers={"User-Agent": USER_AGENT, "Accept-Encoding": ACCEPT_ENCODING},
                event_hooks={"response": [_hand_back_redirects]},
                mounts=mounts or None,
            )
        return self._client

    async def aclose(self) -> None:
        """Close the HTTP client."""
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def __aenter__(self) -> KaizalaAsyncHook:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def _run(self, flow: Flow) -> Any:
        """Drive a flow with httpx and asyncio.sleep."""
        result: Any = None
        try:
            while True:
                step = flow.send(result)
                while self._to_mask:
                    await _amask(self._to_mask.pop())
                if isinstance(step, Send):
                    result = await self._send(step)
                elif isinstance(step, Pause):
                    await asyncio.sleep(step.seconds)
                    result = None
                else:
                    await asyncio.to_thread(
                        persist_rotated_refresh_token,
                        self.refresh_token_store,
                        self.kaizala_conn_id,
                        step.refresh_token,
                    )
                    result = None
        except StopIteration as stop:
            while self._to_mask:
                await _amask(self._to_mask.pop())
            return stop.value

    async def _send(self, step: Send) -> Received | TransportFailure:
        """Send one request; the answer is read up to ``max_response_bytes`` and within ``request_deadline``.

        The raw bytes are decoded by the policy's :class:`~airflow_provider_kaizala.hooks.policy.BodyDecoder`
        (httpx would inflate each chunk without a bound), and a 3xx answer is handed back before httpx parses
        its ``Location`` (the policy's own parser decides about relocations).
        """
        import httpx

        client = await self._get_client()
        config = (await self.get_kaizala_session()).config
        cap = config.max_response_bytes
        try:
            async with asyncio.timeout(config.request_deadline):
                request = client.build_request(
                    step.method, step.url, headers=step.headers, json=step.json, params=step.params, files=step.files
                )
                try:
                    response = await client.send(request, stream=True)
                except _Answered as answered:  # a redirect: its body is not needed (httpx has closed it)
                    return Received(answered.response.status_code, answered.response.headers, None)
                try:
                    body: Any = None
                    length = response.headers.get("Content-Length")
                    if length is not None and length.strip().isdigit() and int(length) > cap:
                        raise BodyTooLarge
                    decoder = BodyDecoder(response.headers.get("Content-Encoding"), cap)
                    async for chunk in response.aiter_raw():
                        decoder.feed(chunk)
                    content = decoder.finish()
                except BodyTooLarge:
                    body = Undecodable(f"larger than max_response_bytes ({cap} bytes)")
                except (ValueError, zlib.error) as err:
                    body = Undecodable(clean_text(str(err) or "a corrupt encoded body", 120))
                finally:
                    await response.aclose()
        except TimeoutError:
            return TransportFailure(TransportError.DEADLINE, f"request_deadline of {config.request_deadline:g} s")
        except httpx.HTTPError as err:
            return TransportFailure(classify_httpx_error(err), type(err).__name__)
        if body is None:
            body = parse_json(content, response.headers.get("Content-Type"))
        return Received(response.status_code, response.headers, body)

    async def call(self, endpoint: str, *, json: Any = None, params: dict[str, Any] | None = None, **ids: str) -> Any:
        """Make one API call named in the endpoint table; returns the decoded JSON body."""
        entry = ENDPOINTS[endpoint]
        session = await self.get_kaizala_session()
        return await self._run(session.call(entry, entry.format_path(**ids), json=json, params=params))

    async def list_members(self, group_id: str) -> list[dict[str, Any]]:
        """All members of a group."""
        body = await self.call("list_members", group_id=validate_id(group_id, "group_id"))
        return [normalise_person(member) for member in body.get("members") or []]

    @overload
    def iter_subscriber_pages(
        self,
        group_id: str,
        *,
        page_size: int = 50,
        cursor: str | None = None,
        with_cursor: Literal[False] = False,
        total: int | None = None,
    ) -> AsyncIterator[list[dict[str, Any]]]: ...

    @overload
    def iter_subscriber_pages(
        self,
        group_id: str,
        *,
        page_size: int = 50,
        cursor: str | None = None,
        with_cursor: Literal[True],
        total: int | None = None,
    ) -> AsyncIterator[tuple[list[dict[str, Any]], str | None]]: ...

    async def iter_subscriber_pages(
        self,
        group_id: str,
        *,
        page_size: int = 50,
        cursor: str | None = None,
        with_cursor: bool = False,
        total: int | None = None,
    ) -> AsyncIterator[Any]:
        """Pages of a public group's subscribers (same arguments as :meth:`KaizalaHook.iter_subscriber_pages`)."""
        walk = SubscriberWalk(group_id, page_size=page_size, cursor=cursor, total=total)
        walk.begin(await self.get_kaizala_session(), self.progress_interval, self.log)
        while True:
            body = await self.call("list_subscribers", json=walk.body(), group_id=walk.group_id)
            items, next_cursor = walk.page(body)
            yield (items, next_cursor) if with_cursor else items
            if next_cursor is None:
                return

    async def send_message(
        self,
        group_id: str,
        message: str,
        *,
        subscribers: Iterable[str] | None = None,
        send_to_all_subscribers: bool = False,
    ) -> dict[str, Any]:
        """Send a text message (same rules as :meth:`KaizalaHook.send_message`: never sent twice)."""
        body = message_body(message, subscribers, send_to_all_subscribers)
        return dict(await self.call("send_message", json=body, group_id=validate_id(group_id, "group_id")))
