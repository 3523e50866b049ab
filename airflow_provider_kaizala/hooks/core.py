"""The request flows shared by the sync and async hooks, written once and free of I/O.

A flow is a generator: it *yields* what it needs done (:class:`Send` a request, :class:`Pause`,
:class:`Persist` a rotated refresh token) and receives the result (:class:`Received` or
:class:`TransportFailure` for a request).
:class:`~airflow_provider_kaizala.hooks.kaizala.KaizalaHook` drives flows with ``requests`` and
``time.sleep``; :class:`~airflow_provider_kaizala.hooks.async_kaizala.KaizalaAsyncHook` drives the same
flows with ``httpx`` and ``asyncio.sleep``. The decisions themselves come from
:mod:`airflow_provider_kaizala.hooks.policy`.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Generator, Mapping
from dataclasses import dataclass, field
from typing import Any

import pendulum

from airflow_provider_kaizala.hooks.budget import CallBudget, connector_budget
from airflow_provider_kaizala.hooks.config import TOKEN_CACHE, KaizalaConnectionConfig
from airflow_provider_kaizala.hooks.policy import (
    ENDPOINTS,
    AccessToken,
    CallPolicy,
    Decision,
    Done,
    Endpoint,
    Fail,
    GoneIsDone,
    PageGuard,
    Relocate,
    RenewToken,
    TransportError,
    Wait,
    api_url,
    check_endpoint_url,
    parse_token_response,
    parse_url,
    subscriber_page,
    subscriber_page_body,
    token_url,
    validate_cursor,
)
from airflow_provider_kaizala.hooks.progress import InfoLogger, WalkProgress
from airflow_provider_kaizala.hooks.validation import validate_id, validate_page_size

log = logging.getLogger(__name__)

USER_AGENT = "airflow-provider-kaizala/0.1.0"


@dataclass(frozen=True)
class Send:
    """Send one HTTP request and hand back a :class:`Received` or a :class:`TransportFailure`."""

    method: str
    url: str
    headers: dict[str, str] = field(repr=False)
    path: str
    json: Any = None
    params: dict[str, Any] | None = None
    files: Any = None


@dataclass(frozen=True)
class Received:
    """An HTTP answer (``headers`` must be case-insensitive)."""

    status: int
    headers: Mapping[str, str]
    body: Any


@dataclass(frozen=True)
class TransportFailure:
    """No HTTP answer."""

    kind: TransportError
    detail: str


@dataclass(frozen=True)
class Pause:
    """Sleep before going on."""

    seconds: float
    reason: str = ""


@dataclass(frozen=True)
class Persist:
    """Store a rotated refresh token durably."""

    refresh_token: str = field(repr=False)


Step = Send | Pause | Persist
Flow = Generator[Step, Any, Any]


class SubscriberWalk:
    """One walk of a public group's subscribers, its arguments checked before any call: the body that asks for
    the next page, and what each answer does (page guard, progress). The sync and async hooks drive it, each
    with its own transport::

        walk = SubscriberWalk(group_id, page_size=50, cursor=None, total=None)
        walk.begin(session, interval, logger)
        while cursor is not None: items, cursor = walk.page(call("list_subscribers", json=walk.body(), ...))
    """

    def __init__(self, group_id: str, *, page_size: int, cursor: str | None, total: int | None) -> None:
        self.group_id = validate_id(group_id, "group_id")
        self.page_size = validate_page_size(page_size)
        self.cursor = validate_cursor(cursor)
        self.total = total
        self.guard: PageGuard | None = None
        self.progress: WalkProgress | None = None

    def begin(self, session: KaizalaSession, interval: float, logger: InfoLogger) -> None:
        """Start the walk's page guard and progress lines (the connection is known from here on)."""
        self.guard = session.page_guard("list_subscribers", f"groups/{self.group_id}/subscribers")
        self.progress = WalkProgress(
            f"subscribers of group {self.group_id}",
            total=self.total,
            budget=session.budget,
            interval=interval,
            logger=logger,
        )

    def body(self) -> dict[str, Any]:
        """The request body of the next page."""
        return subscriber_page_body(self.cursor, self.page_size)

    def page(self, body: Any) -> tuple[list[dict[str, Any]], str | None]:
        """Items and next cursor (``None`` after the last page) of one answer; the guard ends a walk that
        loops or overflows, the progress reporter counts the page."""
        if self.guard is None or self.progress is None:
            raise RuntimeError("SubscriberWalk.begin() must come before page()")
        items, self.cursor = subscriber_page(body)
        self.guard.next_page(self.cursor, len(items), asked=self.page_size)
        self.progress.page(len(items))
        if self.cursor is None:
            self.progress.done()
        return items, self.cursor


class KaizalaSession:
    """The state one hook keeps across calls: config, refresh token in use, limiter and jitter source.

    Access tokens live in the process-wide :data:`~airflow_provider_kaizala.hooks.config.TOKEN_CACHE`, so
    every hook of a connector in a process shares one token and one relocated endpoint.
    """

    def __init__(
        self,
        config: KaizalaConnectionConfig,
        refresh_token: str,
        *,
        retry_backoff: float = 1.0,
        rng: random.Random | None = None,
        on_token: Any = None,
    ) -> None:
        self.config = config
        self.refresh_token = refresh_token
        self.retry_backoff = retry_backoff
        self.rng = rng or random.Random()
        self.on_token = on_token or (lambda value: None)
        self.budget: CallBudget = connector_budget(
            config.token_root,
            config.application_id,
            config.rate_limit_per_minute,
            config.rate_limit_window,
            config.budget,
        )

    @property
    def cache_key(self) -> str:
        """Key of this connector's token in the process cache."""
        return self.config.token_cache_key(self.refresh_token)

    def page_guard(self, endpoint: Endpoint | str, path: str) -> PageGuard:
        """A guard that ends one paged walk (repeated cursor, no progress, ``max_pages`` cap)."""
        entry = ENDPOINTS[endpoint] if isinstance(endpoint, str) else endpoint
        return PageGuard(entry, path, self.config.max_pages)

    def policy(self, endpoint: Endpoint, path: str) -> CallPolicy:
        """A fresh policy for one logical call."""
        return CallPolicy(endpoint, path, self.config.policy_settings(self.retry_backoff), self.rng)

    def _decide(self, policy: CallPolicy, outcome: Received | TransportFailure, url: str) -> Decision:
        if isinstance(outcome, TransportFailure):
            log.info(
                "Kaizala %s %s: %s error (%s).", policy.endpoint.method, policy.path, outcome.kind.value, outcome.detail
            )
            return policy.on_transport_error(outcome.kind, outcome.detail)
        return policy.on_response(outcome.status, outcome.headers, outcome.body, url)

    @staticmethod
    def _pause_or_raise(decision: Decision) -> Pause:
        if isinstance(decision, Fail):
            raise decision.error
        if isinstance(decision, Wait):
            log.info("Kaizala: %s; waiting %.2f s before repeating.", decision.reason, decision.seconds)
            return Pause(decision.seconds, decision.reason)
        raise AssertionError(f"unexpected decision {decision!r}")  # pragma: no cover

    def access_token(self, *, force: bool = False) -> Flow:
        """Flow returning a fresh access token, from the process cache or the token service."""
        cached = TOKEN_CACHE.get(self.cache_key)
        if cached is not None and not force and cached.is_fresh(time.time()):
            return cached
        endpoint = ENDPOINTS["access_token"]
        policy = self.policy(endpoint, endpoint.path)
        url = token_url(self.config.token_root)
        while True:
            headers = {
                "applicationId": self.config.application_id,
                "applicationSecret": self.config.application_secret,
                "refreshToken": self.refresh_token,
                "User-Agent": USER_AGENT,
            }
            outcome = yield Send("GET", url, headers, endpoint.path)
            decision = self._decide(policy, outcome, url)
            if isinstance(decision, Done):
                body = decision.body
                break
            yield self._pause_or_raise(decision)
        token, rotated = parse_token_response(body, pendulum.now("UTC"))
        self.on_token(token.token)
        token = token.relocated(
            check_endpoint_url(token.endpoint_url, self.config.token_root, self.config.allowed_hosts)
        )
        if rotated and rotated != self.refresh_token:
            self.on_token(rotated)
            yield Persist(rotated)
            self.refresh_token = rotated
        TOKEN_CACHE.put(self.cache_key, token)
        log.debug("Got a Kaizala access token valid until %s.", token.expires_at)
        return token

    def call(
        self,
        endpoint: Endpoint,
        path: str,
        *,
        json: Any = None,
        params: dict[str, Any] | None = None,
        files: Any = None,
    ) -> Flow:
        """Flow of one logical API call; returns the decoded JSON body (``{}`` when empty)."""
        policy = self.policy(endpoint, path)
        token: AccessToken = yield from self.access_token()
        while True:
            url = api_url(token.endpoint_url, path)
            ticket = yield from self.budget.acquire(endpoint.name, Pause)
            headers = {"accessToken": token.token, "User-Agent": USER_AGENT}
            outcome = yield Send(endpoint.method, url, headers, path, json=json, params=params, files=files)
            self.budget.settle_outcome(ticket, outcome)
            decision = self._decide(policy, outcome, url)
            if isinstance(decision, Done):
                return decision.body
            if isinstance(decision, GoneIsDone):
                log.info("Kaizala %s %s: already done by an earlier attempt.", endpoint.method, path)
                return {"result": True}
            if isinstance(decision, Relocate):
                log.warning(
                    "Kaizala relocated the endpoint of this connector (HTTP 308) to %s; following it.",
                    parse_url(decision.endpoint_url).netloc,
                )
                token = TOKEN_CACHE.relocate(self.cache_key, decision.endpoint_url) or token.relocated(
                    decision.endpoint_url
                )
            elif isinstance(decision, RenewToken):
                log.info("Kaizala refused the access token (HTTP 401); renewing it once.")
                token = yield from self.access_token(force=True)
            else:
                yield self._pause_or_raise(decision)
