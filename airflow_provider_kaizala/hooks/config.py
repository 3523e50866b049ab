"""The ``kaizala`` connection, read once into a typed config shared by the sync and async hooks.

Mapping: host = token service root (default ``https://api.kaiza.la/v1``), login = applicationId,
password = applicationSecret, extras ``refresh_token``, ``timeout``, ``allowed_hosts``, ``max_retries``,
``rate_limit_per_minute``, ``rate_limit_window`` (seconds, default 60; shorten only for an emulator
with a short window), ``verify``, ``proxies``, and the limits against a hostile or broken server:
``max_response_bytes`` (largest answer read, default 64 MiB), ``request_deadline`` (total seconds one
request may take, default 300) and ``max_pages`` (pages in one paged walk, default 200,000). Extras are
read under their plain names and under the legacy ``extra__kaizala__<name>`` names. The call budget's
extras (``budget_backend``, ``budget_dir``, ``budget_redis_url``, ``bulk_share``, ``tenant``,
``tenant_rate_limit_per_minute``) are read by :meth:`BudgetSettings.from_extras
<airflow_provider_kaizala.hooks.budget.BudgetSettings.from_extras>`.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from airflow_provider_kaizala.exceptions import KaizalaRelocationError, KaizalaValidationError
from airflow_provider_kaizala.hooks.budget import BudgetSettings
from airflow_provider_kaizala.hooks.policy import (
    DEFAULT_MAX_PAGES,
    DEFAULT_MAX_RETRIES,
    DEFAULT_RATE_LIMIT_PER_MINUTE,
    DEFAULT_TIMEOUT,
    DEFAULT_TOKEN_ROOT,
    AccessToken,
    PolicySettings,
    parse_allowed_hosts,
    vet_token_root,
)

CONN_TYPE = "kaizala"
#: Largest answer body read (decoded). The largest documented answers (a group's member list, an action's
#: responses) stay in the low megabytes; a bigger body is refused instead of filling the worker's memory.
DEFAULT_MAX_RESPONSE_BYTES = 64 * 1024 * 1024
#: Total seconds one HTTP request may take, from connecting to the last body byte (``timeout`` bounds
#: each single wait; this bounds a server that drips its answer a byte at a time).
DEFAULT_REQUEST_DEADLINE = 300.0


def _extra(extras: Mapping[str, Any], name: str) -> Any:
    value = extras.get(name)
    if value in (None, ""):
        value = extras.get(f"extra__{CONN_TYPE}__{name}")
    return None if value == "" else value


def _number(extras: Mapping[str, Any], name: str, default: float, cast: type, minimum: float) -> Any:
    value = _extra(extras, name)
    if value is None:
        return cast(default)
    try:
        number = cast(value)
    except (TypeError, ValueError):
        raise KaizalaValidationError(
            f"Invalid connection extra {name}={value!r}: expected a number >= {minimum}."
        ) from None
    if number < minimum:
        raise KaizalaValidationError(f"Invalid connection extra {name}={value!r}: expected a number >= {minimum}.")
    return number


def _flag(value: Any, default: bool) -> bool:
    if value is None:
        return default
    if isinstance(value, str):
        return value.strip().lower() not in ("false", "0", "no", "off")
    return bool(value)


@dataclass(frozen=True)
class KaizalaConnectionConfig:
    """Everything the hooks need from a ``kaizala`` connection. Secrets are kept out of ``repr``."""

    conn_id: str
    token_root: str
    application_id: str
    application_secret: str = field(repr=False)
    refresh_token: str = field(repr=False)
    timeout: float = DEFAULT_TIMEOUT
    max_retries: int = DEFAULT_MAX_RETRIES
    rate_limit_per_minute: int = DEFAULT_RATE_LIMIT_PER_MINUTE
    rate_limit_window: float = 60.0
    allowed_hosts: tuple[str, ...] = ()
    verify: bool = True
    proxies: dict[str, str] = field(default_factory=dict, repr=False)
    max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES
    request_deadline: float = DEFAULT_REQUEST_DEADLINE
    max_pages: int = DEFAULT_MAX_PAGES
    budget: BudgetSettings = field(default_factory=BudgetSettings)

    @classmethod
    def from_connection(
        cls, conn_id: str, host: str | None, login: str | None, password: str | None, extras: Mapping[str, Any]
    ) -> KaizalaConnectionConfig:
        """Read and check a connection's fields; errors name the field, never a secret value."""
        root = (host or "").strip() or DEFAULT_TOKEN_ROOT
        if "://" not in root:
            root = f"https://{root}"
        try:
            root = vet_token_root(root)
        except KaizalaRelocationError as err:
            raise KaizalaValidationError(f"Connection {conn_id!r} has an invalid host: {err}") from None
        if not login:
            raise KaizalaValidationError(f"Connection {conn_id!r} has no login: set it to the applicationId.")
        if not password:
            raise KaizalaValidationError(f"Connection {conn_id!r} has no password: set it to the applicationSecret.")
        refresh_token = _extra(extras, "refresh_token")
        if not refresh_token:
            raise KaizalaValidationError(f"Connection {conn_id!r} has no refresh_token extra.")
        proxies = _extra(extras, "proxies") or {}
        if isinstance(proxies, str):
            try:
                proxies = json.loads(proxies)
            except ValueError:
                raise KaizalaValidationError(
                    f"Connection {conn_id!r}: the proxies extra must be a JSON object such as "
                    '{"https": "http://proxy:3128"}.'
                ) from None
        if not isinstance(proxies, Mapping):
            raise KaizalaValidationError(f"Connection {conn_id!r}: the proxies extra must be a JSON object.")
        return cls(
            conn_id=conn_id,
            token_root=root.rstrip("/"),
            application_id=str(login),
            application_secret=str(password),
            refresh_token=str(refresh_token),
            timeout=_number(extras, "timeout", DEFAULT_TIMEOUT, float, 0.001),
            max_retries=_number(extras, "max_retries", DEFAULT_MAX_RETRIES, int, 0),
            rate_limit_per_minute=_number(extras, "rate_limit_per_minute", DEFAULT_RATE_LIMIT_PER_MINUTE, int, 1),
            rate_limit_window=_number(extras, "rate_limit_window", 60.0, float, 0.001),
            allowed_hosts=parse_allowed_hosts(_extra(extras, "allowed_hosts")),
            verify=_flag(_extra(extras, "verify"), True),
            proxies={str(k): str(v) for k, v in proxies.items()},
            max_response_bytes=_number(extras, "max_response_bytes", DEFAULT_MAX_RESPONSE_BYTES, int, 1024),
            request_deadline=_number(extras, "request_deadline", DEFAULT_REQUEST_DEADLINE, float, 0.001),
            max_pages=_number(extras, "max_pages", DEFAULT_MAX_PAGES, int, 1),
            budget=BudgetSettings.from_extras(conn_id, extras),
        )

    def policy_settings(self, backoff_base: float = 1.0) -> PolicySettings:
        """The policy limits this connection asks for."""
        return PolicySettings(max_retries=self.max_retries, allowed_hosts=self.allowed_hosts, backoff_base=backoff_base)

    def token_cache_key(self, refresh_token: str) -> str:
        """Cache key of this connector's access token; a digest, so no secret is kept as a key."""
        raw = "\0".join((self.token_root, self.application_id, self.application_secret, refresh_token))
        return hashlib.sha256(raw.encode()).hexdigest()


class TokenCache:
    """Access tokens shared by every hook of a process, keyed by connector and refresh token digest.

    Tokens are reused across the hooks of one process (a task, the triggerer), not across the tasks of
    a deployment: Airflow 3 runs each task in its own process, and sharing a 24-hour bearer token
    through the metadata database would let every DAG author read it. Exchanging a token costs one
    call to the token service per task, which the platform does not throttle.
    """

    def __init__(self) -> None:
        self._tokens: dict[str, AccessToken] = {}
        self._lock = threading.Lock()

    def get(self, key: str) -> AccessToken | None:
        """The cached token, fresh or not."""
        with self._lock:
            return self._tokens.get(key)

    def put(self, key: str, token: AccessToken) -> None:
        """Cache a token."""
        with self._lock:
            self._tokens[key] = token

    def relocate(self, key: str, endpoint_url: str) -> AccessToken | None:
        """Point the cached token at a new endpoint-url after a 308."""
        with self._lock:
            token = self._tokens.get(key)
            if token is not None:
                token = self._tokens[key] = token.relocated(endpoint_url)
            return token

    def clear(self) -> None:
        """Forget every token."""
        with self._lock:
            self._tokens.clear()


TOKEN_CACHE = TokenCache()
