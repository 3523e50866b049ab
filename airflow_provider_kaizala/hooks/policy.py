"""The Kaizala transport policy: every decision the sync and async hooks make, with no I/O.

One policy, two transports. :class:`~airflow_provider_kaizala.hooks.kaizala.KaizalaHook` (``requests``)
and the async hook (``httpx``) only send what this module says and hand it what came back:

* the **endpoint table** (:data:`ENDPOINTS`) names every API call once, with its method, path template,
  whether repeating it after an unknown outcome is safe, and how it pages;
* :class:`CallPolicy` turns one response or transport error into a :class:`Decision`
  (done, relocate, renew the token, wait and repeat, or fail with a typed error);
* :class:`AccessToken` and :func:`parse_token_response` decide when a token must be renewed;
* :func:`api_url`, :func:`relocation_base` and :func:`host_allowed` build and vet URLs;

Retry safety is decided per endpoint, not per HTTP method: listing subscribers is a POST but a read,
adding members is idempotent, sending a message is not. A call that is not repeatable is repeated only
when the request provably never reached the server (connection refused, connect timeout) or the server
refused it (429, 503, 401 before the token renewal); otherwise :class:`KaizalaOutcomeUnknownError`.
"""

from __future__ import annotations

import fnmatch
import hashlib
import ipaddress
import json
import random
import re
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any
from urllib.parse import quote, urljoin

import pendulum

from airflow_provider_kaizala.exceptions import (
    KaizalaAuthError,
    KaizalaBadRequestError,
    KaizalaException,
    KaizalaNotFoundError,
    KaizalaOutcomeUnknownError,
    KaizalaPagingError,
    KaizalaRateLimitError,
    KaizalaRelocationError,
    KaizalaResponseError,
    KaizalaServerError,
    KaizalaValidationError,
)

DEFAULT_TOKEN_ROOT = "https://api.kaiza.la/v1"
#: Hosts a 308 may relocate to by default. The reference shows real endpoint-urls on both domains.
DEFAULT_ALLOWED_HOSTS = ("*.kaiza.la", "*.kaizalamessaging.osi.office.net")
DEFAULT_TIMEOUT = 60.0
DEFAULT_MAX_RETRIES = 5
DEFAULT_RATE_LIMIT_PER_MINUTE = 100


class Pagination(StrEnum):
    """How an endpoint pages its results."""

    NONE = "none"
    CURSOR = "cursor"  # opaque ``cursor`` in the request and response body (subscribers)
    HAS_MORE = "has_more"  # ``fromDate`` query + ``hasMore`` flag (actions)


@dataclass(frozen=True)
class Endpoint:
    """One Kaizala API call.

    :param name: the hook method's name for it.
    :param method: HTTP method.
    :param path: path template below ``/v1/``; placeholders are URL-encoded ids.
    :param repeatable: repeating the call after an unknown outcome cannot duplicate an effect.
    :param pagination: how the endpoint pages.
    :param gone_means_done: on a repeat, a 404 means an earlier attempt already took effect (deletes).
    """

    name: str
    method: str
    path: str
    repeatable: bool
    pagination: Pagination = Pagination.NONE
    gone_means_done: bool = False

    def format_path(self, **ids: str) -> str:
        """Fill the path template, URL-encoding each id (``@`` is kept, as real group ids carry it)."""
        return self.path.format(**{key: quote(value, safe="@") for key, value in ids.items()})


def _endpoints(*items: Endpoint) -> dict[str, Endpoint]:
    return {item.name: item for item in items}


#: Every Kaizala call the provider makes, named once.
ENDPOINTS: dict[str, Endpoint] = _endpoints(
    Endpoint("access_token", "GET", "accessToken", repeatable=True),
    Endpoint("list_groups", "GET", "groups", repeatable=True),
    Endpoint("get_group", "GET", "groups/{group_id}", repeatable=True),
    Endpoint("create_group", "POST", "groups", repeatable=False),
    Endpoint("list_subgroups", "GET", "groups/{group_id}/subGroups", repeatable=True),
    Endpoint("create_subgroup", "POST", "groups/{group_id}/subGroups", repeatable=False),
    Endpoint("add_subgroups", "PUT", "groups/{group_id}/subGroups", repeatable=True),
    Endpoint(
        "remove_subgroup", "DELETE", "groups/{group_id}/subGroups/{subgroup_id}", repeatable=True, gone_means_done=True
    ),
    Endpoint("list_members", "GET", "groups/{group_id}/members", repeatable=True),
    Endpoint("add_members", "PUT", "groups/{group_id}/members", repeatable=True),
    Endpoint("set_member_role", "PUT", "groups/{group_id}/members/{member_id}", repeatable=True),
    Endpoint("remove_member", "DELETE", "groups/{group_id}/members/{member_id}", repeatable=True, gone_means_done=True),
    Endpoint(
        "list_subscribers", "POST", "groups/{group_id}/subscribers", repeatable=True, pagination=Pagination.CURSOR
    ),
    Endpoint("add_subscribers", "PUT", "groups/{group_id}/subscribers/add", repeatable=True),
    Endpoint("remove_subscribers", "PUT", "groups/{group_id}/subscribers/remove", repeatable=True),
    Endpoint("send_message", "POST", "groups/{group_id}/messages", repeatable=False),
    # An orphaned upload has no effect anyone can see, so a repeated upload is harmless.
    Endpoint("upload_media", "POST", "media", repeatable=True),
    Endpoint("post_action", "POST", "groups/{group_id}/actions", repeatable=False),
    Endpoint("list_actions", "GET", "groups/{group_id}/actions", repeatable=True, pagination=Pagination.HAS_MORE),
    Endpoint("get_action", "GET", "groups/{group_id}/actions/{action_id}", repeatable=True),
    Endpoint("post_action_response", "POST", "groups/{group_id}/actions/{action_id}/responses", repeatable=False),
    Endpoint("add_reaction", "POST", "groups/{group_id}/reaction", repeatable=False),
    # The literal "summary" path must come before the "{reference_id}" one for endpoint_for().
    Endpoint("list_group_reactions", "GET", "groups/{group_id}/reaction/summary", repeatable=True),
    Endpoint("get_reaction_summary", "GET", "groups/{group_id}/reaction/{reference_id}/summary", repeatable=True),
    Endpoint("list_reactions", "GET", "groups/{group_id}/reaction/{reference_id}", repeatable=True),
    Endpoint("create_webhook", "POST", "webhook", repeatable=False),
    Endpoint("list_webhooks", "GET", "webhook", repeatable=True),
    Endpoint("update_webhook", "PUT", "webhook/{webhook_id}", repeatable=True),
    Endpoint("delete_webhook", "DELETE", "webhook/{webhook_id}", repeatable=True, gone_means_done=True),
)


def endpoint_for(method: str, path: str) -> Endpoint | None:
    """Find the table entry for a concrete ``method`` and ``path`` (used by the low-level ``request``)."""
    segments = [s for s in path.strip("/").split("/") if s]
    for endpoint in ENDPOINTS.values():
        if endpoint.method != method.upper():
            continue
        template = endpoint.path.split("/")
        if len(template) == len(segments) and all(
            t.startswith("{") or t.lower() == s.lower() for t, s in zip(template, segments, strict=True)
        ):
            return endpoint
    return None


def raw_endpoint(method: str, path: str, repeatable: bool | None = None) -> Endpoint:
    """A table entry for a raw call: the known endpoint's rules, or not repeatable unless told otherwise."""
    known = endpoint_for(method, path)
    return Endpoint(
        name=known.name if known else "request",
        method=method.upper(),
        path=path.lstrip("/"),
        repeatable=known.repeatable if repeatable is None and known else bool(repeatable),
        gone_means_done=known.gone_means_done if known else False,
    )


# --------------------------------------------------------------------------------------------- URLs

#: What a URL from the server may never contain anywhere: whitespace, control characters, backslash
#: (urllib3 ends the authority at ``\\`` while ``urllib.parse`` does not).
_FORBIDDEN_URL_CHARS = re.compile(r"[\x00-\x20\x7f\\]")
_URL = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*)://([^/?#]*)([^?#]*)(?:\?[^#]*)?(?:#.*)?", re.DOTALL)
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:")
_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
_PORT = re.compile(r"[0-9]{1,5}")
_IPV6_AUTHORITY = re.compile(r"\[([0-9A-Fa-f:.]+)\](?::([0-9]{1,5}))?")
_SEGMENT = re.compile(r"[A-Za-z0-9._~-]+")
MAX_URL_LENGTH = 2048


@dataclass(frozen=True)
class VettedUrl:
    """A URL taken apart by the one strict parser: scheme, plain host name or IP, port, path.

    Every URL the provider sends a token to is rebuilt from these parts (:attr:`origin` plus a vetted path
    prefix), never copied from the string a server sent.
    """

    scheme: str
    host: str
    port: int | None
    path: str

    @property
    def netloc(self) -> str:
        """``host[:port]`` (IPv6 in brackets), rebuilt."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port is None else f"{host}:{self.port}"

    @property
    def origin(self) -> str:
        """``scheme://host[:port]``, rebuilt."""
        return f"{self.scheme}://{self.netloc}"

    @property
    def effective_port(self) -> int | None:
        """The port, or the scheme's default."""
        return self.port if self.port is not None else {"https": 443, "http": 80}.get(self.scheme)


def _refuse(what: str, raw: Any, why: str) -> KaizalaRelocationError:
    return KaizalaRelocationError(f"Refused the {what} {clean_text(repr(raw), 120)}: {why}.")


def parse_url(raw: Any, what: str = "URL") -> VettedUrl:
    """Take an absolute URL apart strictly, or raise :class:`KaizalaRelocationError` saying why.

    Accepted: ``scheme://host[:port][/path][?query][#fragment]`` where host is a plain DNS name (letters,
    digits, ``-``, non-empty labels), a dotted IPv4 address or a bracketed IPv6 address without zone, and
    port is 1-65535. Refused: backslash, whitespace and control characters anywhere, non-ASCII text, userinfo
    (``@``) and percent-encoding in the authority, empty labels (``a..b``, a trailing dot), bad ports.
    """
    if not isinstance(raw, str):
        raise _refuse(what, raw, "it is not a string")
    if len(raw) > MAX_URL_LENGTH:
        raise _refuse(what, raw[:60] + "...", f"it is longer than {MAX_URL_LENGTH} characters")
    if not raw.isascii():
        raise _refuse(what, raw, "it contains non-ASCII characters")
    if _FORBIDDEN_URL_CHARS.search(raw):
        raise _refuse(what, raw, "it contains a backslash, whitespace or a control character")
    match = _URL.fullmatch(raw)
    if match is None:
        raise _refuse(what, raw, "it is not an absolute scheme://host URL")
    scheme, authority, path = match.group(1).lower(), match.group(2), match.group(3)
    if not authority:
        raise _refuse(what, raw, "it names no host")
    if "@" in authority or "%" in authority:
        raise _refuse(what, raw, "its host part carries user information or percent-encoding")
    port_text: str | None
    if authority.startswith("["):
        v6 = _IPV6_AUTHORITY.fullmatch(authority)
        if v6 is None:
            raise _refuse(what, raw, "its bracketed IPv6 host is malformed")
        try:
            host = ipaddress.IPv6Address(v6.group(1)).compressed
        except ValueError:
            raise _refuse(what, raw, "its bracketed IPv6 host is not an IPv6 address") from None
        port_text = v6.group(2)
    else:
        host, sep, port_text = authority.partition(":")
        if not sep:
            port_text = None
        host = host.lower()
        labels = host.split(".")
        if len(host) > 253 or not all(_LABEL.fullmatch(label) for label in labels):
            raise _refuse(what, raw, "its host is not a plain host name (letters, digits, '-', non-empty labels)")
    port: int | None = None
    if port_text is not None:
        if not _PORT.fullmatch(port_text) or not 1 <= int(port_text) <= 65535:
            raise _refuse(what, raw, "its port is not a number from 1 to 65535")
        port = int(port_text)
    return VettedUrl(scheme, host, port, path)


def _vetted_prefix(url: VettedUrl, what: str, *, keep_unversioned: bool) -> str:
    """The path before ``/v1`` (``""`` or ``/seg/seg``), rebuilt from plain segments."""
    path = url.path
    index = path.lower().find("/v1/")
    if index >= 0:
        prefix = path[:index]
    elif path.lower().rstrip("/").endswith("/v1"):
        prefix = path.rstrip("/")[:-3]
    else:
        prefix = path if keep_unversioned else ""
    segments = [segment for segment in prefix.split("/") if segment]
    for segment in segments:
        if not _SEGMENT.fullmatch(segment) or segment in (".", ".."):
            raise _refuse(what, url.origin + path, "its path holds something other than plain segments")
    return "".join(f"/{segment}" for segment in segments)


def api_url(endpoint_url: str, path: str) -> str:
    """Join an ``endpointUrl`` (with or without trailing ``/`` or ``/v1``) and an API path below ``/v1/``."""
    base = endpoint_url.rstrip("/")
    if base.lower().endswith("/v1"):
        base = base[:-3]
    return f"{base}/v1/{path.lstrip('/')}"


def token_url(token_root: str) -> str:
    """The ``accessToken`` URL under the token service root (the connection's host)."""
    return api_url(token_root, "accessToken")


def vet_token_root(token_root: str) -> str:
    """The connection's token service root, parsed strictly and rebuilt (raises KaizalaRelocationError)."""
    url = parse_url(token_root, "token service URL")
    if url.scheme not in ("http", "https"):
        raise _refuse("token service URL", token_root, "only https (or http to a loopback emulator) is supported")
    segments = [segment for segment in url.path.split("/") if segment]
    if not all(_SEGMENT.fullmatch(segment) and segment not in (".", "..") for segment in segments):
        raise _refuse("token service URL", token_root, "its path holds something other than plain segments")
    return url.origin + "".join(f"/{segment}" for segment in segments)


def relocation_base(location: str, request_url: str) -> str:
    """The new endpoint-url named by a 308 ``Location`` header, rebuilt from its vetted parts.

    ``Location`` may be a bare base (``https://kms2.kaiza.la/``), a base ending in ``/v1``, or the full
    re-targeted request URL (``https://kms2.kaiza.la/v1/groups/...``); a relative value is resolved
    against the request URL. Any other path is dropped, as the reference decides (§3.1). Anything that
    :func:`parse_url` refuses raises :class:`KaizalaRelocationError`.
    """
    text = location.strip(" \t") if isinstance(location, str) else location
    if isinstance(text, str) and not _SCHEME.match(text):
        if _FORBIDDEN_URL_CHARS.search(text) or not text.isascii():
            raise _refuse("Location", text, "it contains a backslash, whitespace, a control or non-ASCII character")
        text = urljoin(request_url, text)
    target = parse_url(text, "Location")
    return f"{target.origin}{_vetted_prefix(target, 'Location', keep_unversioned=False)}/"


def parse_allowed_hosts(value: str | list[str] | tuple[str, ...] | None) -> tuple[str, ...]:
    """Normalise the ``allowed_hosts`` extra (comma-separated string or list) to lower-case patterns."""
    if value is None or value == "":
        return DEFAULT_ALLOWED_HOSTS
    items = value.split(",") if isinstance(value, str) else list(value)
    return tuple(item.strip().lower() for item in items if item and item.strip())


def is_loopback(host: str) -> bool:
    """Whether ``host`` is ``localhost`` or a loopback IP address."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def origin_allowed(url: VettedUrl, allowed_hosts: tuple[str, ...]) -> bool:
    """https to a host matching a pattern; plain http only to a loopback host the list names exactly."""
    if url.scheme == "https":
        return any(fnmatch.fnmatchcase(url.host, pattern) for pattern in allowed_hosts)
    if url.scheme == "http":
        return is_loopback(url.host) and (url.host in allowed_hosts or f"[{url.host}]" in allowed_hosts)
    return False


def host_allowed(url: str, allowed_hosts: tuple[str, ...]) -> bool:
    """Whether the access token may be sent to ``url`` (parsed strictly; anything refused is not allowed).

    https to a host matching one of the patterns (``*.kaiza.la``); plain http only to a loopback host the
    allowlist names exactly (such as the emulator on ``127.0.0.1``); nothing else.
    """
    try:
        parsed = parse_url(url)
    except KaizalaRelocationError:
        return False
    return origin_allowed(parsed, allowed_hosts)


def check_endpoint_url(endpoint_url: str, token_root: str, allowed_hosts: tuple[str, ...]) -> str:
    """Vet an ``endpointUrl`` from the token service and return it rebuilt from its vetted parts.

    https on the token service's own host and port is trusted (the user configured it); anything else
    must pass the same rules as a 308 relocation (allowlist; plain http only to a loopback host named
    exactly). Raises :class:`KaizalaRelocationError`: the access token is not sent to a refused URL.
    """
    url = parse_url(endpoint_url, "endpointUrl returned by the token service")
    root = parse_url(token_root, "token service URL")
    same_host = url.scheme == "https" and (url.host, url.effective_port) == (root.host, root.effective_port)
    if not same_host and not origin_allowed(url, allowed_hosts):
        raise KaizalaRelocationError(
            f"Refused the endpointUrl {url.origin} returned by the token service: https to a host in allowed_hosts "
            f"({', '.join(allowed_hosts)}) or to the token service's own host, or plain http to a loopback host "
            "named exactly, is required. The access token was not sent there."
        )
    return f"{url.origin}{_vetted_prefix(url, 'endpointUrl', keep_unversioned=True)}/"


# ------------------------------------------------------------------------------------------- time


def parse_retry_after(value: str | None, now: pendulum.DateTime, cap: float) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or HTTP date), capped; None if absent/bad."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        from email.utils import parsedate_to_datetime

        try:
            when = pendulum.instance(parsedate_to_datetime(text))
        except (TypeError, ValueError, IndexError):
            return None
        seconds = (when - now).total_seconds()
    if seconds != seconds:  # NaN
        return None
    return min(max(seconds, 0.0), cap)


def backoff_delay(attempt: int, base: float, cap: float, rng: random.Random) -> float:
    """Exponential backoff with full jitter for the ``attempt``-th repeat (1-based)."""
    return rng.uniform(0.0, min(cap, base * (2 ** (attempt - 1))))


@dataclass(frozen=True)
class AccessToken:
    """A cached access token with the endpoint-url it belongs to and its expiry."""

    token: str = field(repr=False)
    endpoint_url: str
    expires_at: pendulum.DateTime
    obtained_at: pendulum.DateTime
    #: Epoch seconds after which the token is renewed before use (precomputed: checked on every call).
    renew_after: float = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "renew_after", self.expires_at.timestamp() - self.renewal_margin())

    def renewal_margin(self) -> float:
        """Renew 5 minutes ahead of expiry, or a tenth of the lifetime for short-lived tokens."""
        lifetime = (self.expires_at - self.obtained_at).total_seconds()
        return max(0.0, min(300.0, lifetime / 10))

    def is_fresh(self, now: float) -> bool:
        """Whether the token can still be used at ``now`` (epoch seconds) without renewing it first."""
        return now < self.renew_after

    def relocated(self, endpoint_url: str) -> AccessToken:
        """The same token, for a new endpoint-url (the token stays valid across a 308)."""
        return replace(self, endpoint_url=endpoint_url)


def parse_token_response(body: Any, now: pendulum.DateTime) -> tuple[AccessToken, str | None]:
    """Read an ``accessToken`` response; return the token and a rotated refresh token (None when absent)."""
    if not isinstance(body, Mapping) or not body.get("accessToken") or not body.get("endpointUrl"):
        raise KaizalaAuthError("The token service answered without an accessToken and endpointUrl.")
    expiry: Any = body.get("accessTokenExpiry")
    try:
        expires_at = pendulum.from_timestamp(int(expiry) / 1000.0)
    except (TypeError, ValueError, OverflowError):
        expires_at = now.add(hours=24)
    rotated = body.get("refreshToken") or None
    token = AccessToken(str(body["accessToken"]), str(body["endpointUrl"]), expires_at, now)
    return token, str(rotated) if rotated else None


# ---------------------------------------------------------------------------------------- decisions


class TransportError(StrEnum):
    """What went wrong below HTTP."""

    CONNECT = "connect"  # refused or connect timeout: the request provably never reached the server
    TIMEOUT = "timeout"  # sent, no answer in time: outcome unknown
    DROPPED = "dropped"  # connection closed after sending: outcome unknown
    DEADLINE = "deadline"  # the whole request took longer than its total deadline: outcome unknown


@dataclass(frozen=True)
class Done:
    """The call succeeded; use ``body`` (checked against what the endpoint documents)."""

    body: Any = field(default=None, repr=False)


@dataclass(frozen=True)
class Relocate:
    """Use ``endpoint_url`` from now on and repeat the call there."""

    endpoint_url: str


@dataclass(frozen=True)
class RenewToken:
    """Get a new access token and repeat the call once."""


@dataclass(frozen=True)
class Wait:
    """Sleep ``seconds``, then repeat the call."""

    seconds: float
    reason: str


@dataclass(frozen=True)
class Fail:
    """Give up with ``error``."""

    error: KaizalaException


@dataclass(frozen=True)
class GoneIsDone:
    """A repeated delete found nothing: an earlier attempt took effect. Treat as success."""


Decision = Done | Relocate | RenewToken | Wait | Fail | GoneIsDone


@dataclass(frozen=True)
class PolicySettings:
    """Limits of the policy, read from the connection."""

    max_retries: int = DEFAULT_MAX_RETRIES
    max_throttle_waits: int = 10
    max_relocations: int = 3
    backoff_base: float = 1.0
    backoff_cap: float = 30.0
    retry_after_cap: float = 120.0
    allowed_hosts: tuple[str, ...] = DEFAULT_ALLOWED_HOSTS


#: Control characters (C0, DEL, C1) and the Unicode line, paragraph and bidi controls that forge log lines.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]+")
#: Longest server text copied into an exception or a log line.
MAX_SERVER_TEXT = 300


def clean_text(value: Any, limit: int = MAX_SERVER_TEXT) -> str:
    """Server text made safe for one log line: control characters (newlines included) become a space,
    and the text is cut to ``limit`` characters (``...`` marks the cut)."""
    text = _CONTROL.sub(" ", str(value)).strip()
    return text if len(text) <= limit else text[: max(0, limit - 3)] + "..."


def error_body(body: Any) -> tuple[str | None, str | None, str | None]:
    """``(errorCode, errorCategoryKey, message)`` of a Kaizala error body, cleaned; tolerates anything else."""
    if isinstance(body, Mapping):
        lowered = {str(k).lower(): v for k, v in body.items()}

        def text(key: str) -> str | None:
            value = lowered.get(key)
            return clean_text(value) if value is not None else None

        return text("errorcode"), text("errorcategorykey"), text("message")
    return None, None, None


#: Deepest JSON nesting accepted in an answer (documented answers nest less than 10 levels).
MAX_JSON_DEPTH = 64


@dataclass(frozen=True)
class Undecodable:
    """An answer body that could not be used: not JSON, nested too deeply, too large or too slow."""

    reason: str


def _too_deep(value: Any, limit: int) -> bool:
    """Whether decoded JSON nests deeper than ``limit`` (iterative: never recurses)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            return True
        children = item.values() if isinstance(item, dict) else item
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return False


#: The only content codings the hooks ask for (``Accept-Encoding``) and decode.
ACCEPT_ENCODING = "gzip, deflate"


class BodyTooLarge(Exception):
    """The decoded answer passed ``max_response_bytes``."""


class BodyDecoder:
    """Decodes an answer's ``Content-Encoding`` as its raw bytes arrive, never holding more than ``cap`` decoded
    bytes: a compressed bomb is stopped at the cap, whatever its ratio or its number of layers.

    One coding at most, ``gzip`` or ``deflate`` (what :data:`ACCEPT_ENCODING` asks for); anything else
    (stacked codings, ``br``, unknown names) is refused with :class:`ValueError`, so the answer is reported as
    undecodable instead of being decoded without a bound by the HTTP library.
    """

    def __init__(self, content_encoding: str | None, cap: int) -> None:
        codings = [c.strip().lower() for c in (content_encoding or "").split(",")]
        codings = [c for c in codings if c and c != "identity"]
        if len(codings) > 1 or (codings and codings[0] not in ("gzip", "x-gzip", "deflate")):
            raise ValueError(f"unsupported Content-Encoding {clean_text(content_encoding, 60)!r}")
        # wbits 47 reads a gzip or a zlib header (HTTP "deflate" is zlib-wrapped).
        self._inflater = zlib.decompressobj(47) if codings else None
        self.cap = cap
        self._parts: list[bytes] = []
        self._size = 0

    def _keep(self, data: bytes) -> None:
        self._size += len(data)
        if self._size > self.cap:
            raise BodyTooLarge
        self._parts.append(data)

    def feed(self, data: bytes) -> None:
        """Decode the next raw bytes; raises :class:`BodyTooLarge` past the cap, ``zlib.error`` when corrupt."""
        if self._inflater is None:
            self._keep(data)
            return
        while data:
            self._keep(self._inflater.decompress(data, self.cap - self._size + 1))
            data = self._inflater.unconsumed_tail

    def finish(self) -> bytes:
        """The decoded body."""
        if self._inflater is not None:
            self._keep(self._inflater.flush())  # input all consumed: only what zlib still buffers (< 64 KiB)
        return b"".join(self._parts)


def parse_json(content: bytes, content_type: str | None = None) -> Any:
    """Decode a response body: None when empty, :class:`Undecodable` when not usable JSON."""
    if not content:
        return None
    try:
        value = json.loads(content)
    except RecursionError:
        return Undecodable(f"JSON nested deeper than {MAX_JSON_DEPTH} levels")
    except ValueError:
        kind = "an HTML page" if content.lstrip()[:1] == b"<" else "not JSON"
        shown = f", Content-Type {clean_text(content_type, 60)}" if content_type else ""
        return Undecodable(f"{kind} ({len(content)} bytes{shown})")
    # A body with few brackets cannot nest deeply: only count-heavy bodies are walked.
    if (
        isinstance(value, (dict, list))
        and content.count(b"[") + content.count(b"{") > MAX_JSON_DEPTH
        and _too_deep(value, MAX_JSON_DEPTH)
    ):
        return Undecodable(f"JSON nested deeper than {MAX_JSON_DEPTH} levels")
    return value


# ------------------------------------------------------------------------------------ answer shapes


class ShapeError(Exception):
    """An answer is not shaped as its endpoint documents (message says what was wrong)."""


def _object(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ShapeError(f"{where} is {_kind(value)}, not a JSON object")
    return value


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, Mapping):
        return "an object"
    return type(value).__name__


def _objects(body: Mapping[str, Any], key: str, *, required: bool = True) -> None:
    if key not in body and not required:
        return
    value = body.get(key)
    if not isinstance(value, list):
        raise ShapeError(f'"{key}" is {_kind(value) if key in body else "missing"}, not an array')
    for index, item in enumerate(value):
        if not isinstance(item, Mapping):
            raise ShapeError(f'"{key}"[{index}] is {_kind(item)}, not an object')


def _text(body: Mapping[str, Any], key: str, *, required: bool = False, where: str = "") -> None:
    if key not in body:
        if required:
            raise ShapeError(f'"{where}{key}" is missing')
        return
    value = body[key]
    if not isinstance(value, str) or (required and not value):
        raise ShapeError(
            f'"{where}{key}" is {_kind(value)}, not a non-empty string'
            if required
            else f'"{where}{key}" is {_kind(value)}, not a string'
        )


def _boolean(body: Mapping[str, Any], key: str, where: str = "") -> None:
    value = body.get(key)
    if (
        key in body
        and not isinstance(value, bool)
        and not (isinstance(value, str) and value.strip().lower() in ("true", "false"))
    ):
        raise ShapeError(f'"{where}{key}" is {_kind(value)}, not a boolean')


def _people(body: Mapping[str, Any], key: str) -> None:
    _objects(body, key)
    for index, person in enumerate(body[key]):
        where = f"{key}[{index}]."
        _text(person, "mobileNumber", required=True, where=where)  # what a member or subscriber is keyed by
        for field_name in ("id", "role"):
            _text(person, field_name, where=where)
        _boolean(person, "isProvisioned", where)


def _ticks_cursor(body: Mapping[str, Any]) -> None:
    value = body.get("cursor")
    if value is None or isinstance(value, bool):
        if isinstance(value, bool):
            raise ShapeError('"cursor" is a boolean, not a ticks number')
        return
    if isinstance(value, int) or (isinstance(value, str) and value.isdigit() and len(value) < 30):
        return
    raise ShapeError(f'"cursor" is {_kind(value)}, not a ticks number')


def _check_shape(name: str, body: Any) -> Any:
    """Check an answer against what ``name`` documents; return the body to use (``{}`` for an allowed empty one)."""
    if body is None:
        if name in _EMPTY_OK:
            return {}
        raise ShapeError("the body is empty")
    if isinstance(body, Undecodable):
        raise ShapeError(f"the body is {body.reason}")
    if name == "request":
        return body
    obj = _object(body, "the body")
    if name in _EMPTY_OK:
        _boolean(obj, "result")
    elif name == "access_token":
        _text(obj, "accessToken", required=True)
        _text(obj, "endpointUrl", required=True)
        if obj.get("refreshToken") is not None:
            _text(obj, "refreshToken")
    elif name in ("list_groups",):
        _objects(obj, "groups")
    elif name == "get_group":
        if "groups" in obj:
            _objects(obj, "groups")
            if not obj["groups"]:
                raise ShapeError('"groups" is an empty array, not the group asked for')
        else:
            _text(obj, "groupId", required=True)
    elif name in ("create_group", "create_subgroup"):
        _text(obj, "groupId", required=True)
    elif name == "list_subgroups":
        if "subGroups" in obj:
            _objects(obj, "subGroups")
        else:
            _objects(obj, "groups")
    elif name == "list_members":
        _people(obj, "members")
    elif name == "list_subscribers":
        _people(obj, "subscribers")
        if obj.get("cursor") is not None:
            _text(obj, "cursor")
    elif name in ("add_subscribers", "remove_subscribers"):
        _object(obj.get("result"), '"result"')
    elif name in ("send_message", "post_action"):
        _text(obj, "referenceId", required=True)
    elif name == "upload_media":
        _text(obj, "mediaResource", required=True)
    elif name == "list_actions":
        _objects(obj, "actions")
        _boolean(obj, "hasMore")
    elif name in ("list_group_reactions", "get_reaction_summary"):
        _objects(obj, "summary")
        for index, item in enumerate(obj["summary"]):
            counts = item.get("reactionsCountMap")
            if counts is not None and not (
                isinstance(counts, Mapping)
                and all(isinstance(v, int) and not isinstance(v, bool) for v in counts.values())
            ):
                raise ShapeError(f'"summary"[{index}].reactionsCountMap is not an object of counts')
        _ticks_cursor(obj)
    elif name == "list_reactions":
        _objects(obj, "reactionDetails")
        _ticks_cursor(obj)
    elif name == "create_webhook":
        _text(obj, "webhookId", required=True)
    elif name == "list_webhooks":
        _objects(obj, "webhooks")
    return body


#: Endpoints whose success answer the reference leaves undocumented or gives as ``{"result": ...}``: an
#: empty body is read as success there (``{}``); every other endpoint must answer its documented object.
_EMPTY_OK = frozenset(
    {
        "add_subgroups",
        "remove_subgroup",
        "add_members",
        "set_member_role",
        "remove_member",
        "update_webhook",
        "delete_webhook",
        "request",
    }
)


# -------------------------------------------------------------------------------------------- paging

#: Default hard cap of pages in one walk: 200,000 pages of 50 is 10 million subscribers (33 hours at the
#: documented 100 calls a minute), well above the largest public group the provider is sized for.
DEFAULT_MAX_PAGES = 200_000
#: Pages in a row that bring nothing new but still name a next page before the walk is declared stuck.
MAX_EMPTY_PAGES = 10


class PageGuard:
    """Makes every paged walk end: a repeated cursor, too many pages in a row with nothing new, or more
    than ``max_pages`` pages raise :class:`~airflow_provider_kaizala.exceptions.KaizalaPagingError`.

    Cursors are remembered as 16-byte digests, so a walk at the cap holds a few megabytes at most.
    """

    def __init__(self, endpoint: Endpoint, path: str, max_pages: int = DEFAULT_MAX_PAGES) -> None:
        self.endpoint = endpoint
        self.path = path
        self.max_pages = max_pages
        self.pages = 0
        self.empty_in_a_row = 0
        self._seen: set[bytes] = set()

    def _fail(self, message: str) -> KaizalaPagingError:
        return KaizalaPagingError(
            f"Stopped paging '{self.endpoint.name}' after {self.pages} page(s): {message}.",
            method=self.endpoint.method,
            path=self.path,
        )

    def next_page(self, cursor: Any, new_items: int, *, asked: int | None = None) -> None:
        """Record a page that brought ``new_items`` and names ``cursor`` as the next one (None: last page).

        With ``asked`` (the page size requested), a page holding more items than that is refused: it would let
        a server grow a walk's memory far beyond ``max_pages`` times the page size.
        """
        if asked is not None and new_items > asked:
            raise KaizalaResponseError(
                f"Kaizala answered '{self.endpoint.name}' with {new_items} items for a page of {asked}.",
                method=self.endpoint.method,
                path=self.path,
            )
        self.pages += 1
        if cursor is None:
            return
        if self.pages >= self.max_pages:
            raise self._fail(
                f"the walk reached the cap of {self.max_pages} pages (connection extra max_pages) and the "
                "server still names a next page"
            )
        self.empty_in_a_row = 0 if new_items else self.empty_in_a_row + 1
        if self.empty_in_a_row >= MAX_EMPTY_PAGES:
            raise self._fail(f"{MAX_EMPTY_PAGES} pages in a row brought nothing new")
        digest = hashlib.blake2b(repr(cursor).encode(), digest_size=16).digest()
        if digest in self._seen:
            raise self._fail(f"the server sent cursor {clean_text(repr(cursor), 60)} again (a cursor loop)")
        self._seen.add(digest)

    def no_progress(self, why: str) -> KaizalaPagingError:
        """The error for a walk that cannot go on (``why`` says what the server did)."""
        return self._fail(why)


class CallPolicy:
    """The decisions for one logical API call, across all its attempts.

    :param endpoint: the table entry of the call.
    :param path: the concrete path (for error messages; ids only, never secrets).
    :param settings: limits.
    :param rng: source of jitter.
    :param clock: returns "now" as a pendulum DateTime (Retry-After dates).
    """

    def __init__(
        self,
        endpoint: Endpoint,
        path: str,
        settings: PolicySettings,
        rng: random.Random | None = None,
        clock: Callable[[], pendulum.DateTime] = pendulum.now,
    ) -> None:
        self.endpoint = endpoint
        self.path = path
        self.settings = settings
        self.rng = rng or random.Random()
        self.clock = clock
        self.retries = 0
        self.throttle_waits = 0
        self.renewed = False
        self.visited: list[str] = []
        self.maybe_applied = False  # an earlier attempt may have reached the server and taken effect

    def _error(self, cls: type[KaizalaException], message: str, status: int | None = None, body: Any = None) -> Fail:
        code, category, server_message = error_body(body)
        return Fail(
            cls(
                message,
                method=self.endpoint.method,
                path=self.path,
                status=status,
                error_code=code,
                error_category=category,
                server_message=server_message,
            )
        )

    def _retry(self, reason: str, status: int | None, body: Any) -> Decision:
        self.retries += 1
        if self.retries > self.settings.max_retries:
            return self._error(
                KaizalaServerError, f"Gave up after {self.settings.max_retries} retries ({reason}).", status, body
            )
        delay = backoff_delay(self.retries, self.settings.backoff_base, self.settings.backoff_cap, self.rng)
        return Wait(delay, reason)

    def _unknown(self, reason: str, status: int | None = None, body: Any = None) -> Fail:
        return self._error(
            KaizalaOutcomeUnknownError,
            f"Outcome unknown: {reason}. The request may have taken effect, and repeating "
            f"'{self.endpoint.name}' is not safe, so it was not repeated; check before re-running.",
            status,
            body,
        )

    def on_transport_error(self, kind: TransportError, detail: str = "") -> Decision:
        """Decide after a request got no HTTP answer."""
        reason = f"{kind.value} error{': ' + detail if detail else ''}"
        if kind is TransportError.DEADLINE and self.endpoint.repeatable:
            # A server that drips its answer would drip it again: repeating only multiplies the wait.
            return self._error(KaizalaResponseError, f"The answer was not complete in time ({detail}).")
        if kind is TransportError.CONNECT or self.endpoint.repeatable:
            if kind is not TransportError.CONNECT:
                self.maybe_applied = True
            return self._retry(reason, None, None)
        return self._unknown(reason)

    def on_response(self, status: int, headers: Mapping[str, str], body: Any, request_url: str) -> Decision:
        """Decide after an HTTP answer. ``headers`` must be case-insensitive."""
        if 200 <= status < 300:
            try:
                return Done(_check_shape(self.endpoint.name, body))
            except ShapeError as err:
                return self._error(
                    KaizalaResponseError,
                    f"Kaizala's answer to '{self.endpoint.name}' is not what the endpoint documents: {err}.",
                    status,
                )
        if status == 308 and self.endpoint.name != "access_token":
            return self._relocate(headers.get("Location"), request_url, body)
        if status == 401 and self.endpoint.name != "access_token" and not self.renewed:
            self.renewed = True
            return RenewToken()
        if status == 429:
            self.throttle_waits += 1
            if self.throttle_waits > self.settings.max_throttle_waits:
                return self._error(
                    KaizalaRateLimitError,
                    f"Still throttled after {self.settings.max_throttle_waits} waits.",
                    status,
                    body,
                )
            seconds = parse_retry_after(headers.get("Retry-After"), self.clock(), self.settings.retry_after_cap)
            if seconds is None:
                seconds = backoff_delay(
                    self.throttle_waits, self.settings.backoff_base, self.settings.backoff_cap, self.rng
                )
            return Wait(seconds, "throttled (HTTP 429)")
        if status == 404 and self.endpoint.gone_means_done and self.maybe_applied:
            return GoneIsDone()
        if status == 503:
            return self._retry("service unavailable (HTTP 503)", status, body)
        if status >= 500:
            if self.endpoint.repeatable:
                self.maybe_applied = True
                return self._retry(f"server error (HTTP {status})", status, body)
            return self._unknown(f"the server answered HTTP {status}", status, body)
        return self._client_error(status, body)

    def _client_error(self, status: int, body: Any) -> Fail:
        if status in (401, 403):
            what = "credentials" if self.endpoint.name == "access_token" else "token or permissions"
            return self._error(KaizalaAuthError, f"Kaizala refused the {what}.", status, body)
        if status == 404:
            return self._error(KaizalaNotFoundError, "Not found.", status, body)
        if 300 <= status < 400:
            return self._error(KaizalaException, f"Unexpected redirect (HTTP {status}).", status, body)
        return self._error(KaizalaBadRequestError, "Kaizala rejected the request.", status, body)

    def _relocate(self, location: str | None, request_url: str, body: Any) -> Decision:
        if not location:
            return self._error(KaizalaRelocationError, "HTTP 308 without a Location header.", 308, body)
        try:
            new_base = relocation_base(location, request_url)
        except KaizalaRelocationError as err:
            return self._error(KaizalaRelocationError, f"{err} The access token was not sent there.", 308)
        parsed = parse_url(new_base, "Location")
        host = parsed.netloc
        if not origin_allowed(parsed, self.settings.allowed_hosts):
            return self._error(
                KaizalaRelocationError,
                f"Refused relocation to {parsed.origin}: the host is not in allowed_hosts "
                f"({', '.join(self.settings.allowed_hosts)}) or plain http was offered for a host not named "
                "exactly (loopback hosts only). The access token was not sent there.",
                308,
                body,
            )
        if new_base in self.visited:
            return self._error(KaizalaRelocationError, f"Relocation loop back to {host}.", 308, body)
        if len(self.visited) >= self.settings.max_relocations:
            return self._error(
                KaizalaRelocationError, f"More than {self.settings.max_relocations} relocations in one call.", 308, body
            )
        self.visited.append(new_base)
        return Relocate(new_base)


# ----------------------------------------------------------------------------------- normalisation


def as_bool(value: Any) -> bool:
    """The API sometimes sends booleans as strings (``{"result": "true"}``)."""
    if isinstance(value, str):
        return value.strip().lower() == "true"
    return bool(value)


def subscriber_page_body(cursor: str | None, count: int) -> dict[str, Any]:
    """Request body for one page of subscribers."""
    body: dict[str, Any] = {"count": count}
    if cursor:
        body["cursor"] = cursor
    return body


def validate_cursor(cursor: Any) -> str | None:
    """A saved subscriber cursor to start a walk from: ``None`` (page 1) or a non-blank string (<= 4096 chars)."""
    if cursor is None:
        return None
    if not isinstance(cursor, str) or not cursor.strip() or len(cursor) > 4096:
        shown = f"a string of {len(cursor)} characters" if isinstance(cursor, str) else type(cursor).__name__
        raise KaizalaValidationError(
            f"Invalid cursor ({shown}): expected None (start at page 1) or a non-blank string of at most 4096 "
            "characters that a previous walk returned."
        )
    return cursor


def subscriber_page(body: Any) -> tuple[list[dict[str, Any]], str | None]:
    """Items and next cursor of a subscriber page; a missing or empty cursor ends the walk."""
    if not isinstance(body, Mapping):
        return [], None
    items = [normalise_person(item) for item in body.get("subscribers") or []]
    cursor = body.get("cursor")
    return items, (str(cursor) if cursor else None)


def normalise_person(item: Mapping[str, Any]) -> dict[str, Any]:
    """A member or subscriber with real booleans."""
    result = dict(item)
    if "isProvisioned" in result:
        result["isProvisioned"] = as_bool(result["isProvisioned"])
    return result


def unwrap_group(body: Any) -> dict[str, Any]:
    """``GET /groups/{id}`` is documented as ``{"groups": [group]}``; accept that or a bare object."""
    if isinstance(body, Mapping):
        groups = body.get("groups")
        if isinstance(groups, list) and groups and isinstance(groups[0], Mapping):
            return dict(groups[0])
        return dict(body)
    return {}


def unwrap_subgroups(body: Any, group_id: str) -> list[dict[str, Any]]:
    """Sub-groups from either documented shape: the [D] ``groups`` wrapper or the [S] bare parent."""
    if not isinstance(body, Mapping):
        return []
    if isinstance(body.get("subGroups"), list):
        return [dict(item) for item in body["subGroups"]]
    groups = body.get("groups")
    if isinstance(groups, list):
        if len(groups) == 1 and isinstance(groups[0], Mapping) and groups[0].get("groupId") == group_id:
            return [dict(item) for item in groups[0].get("subGroups") or []]
        return [dict(item) for item in groups if isinstance(item, Mapping)]
    return []


def per_number_results(body: Any, key: str) -> dict[str, dict[str, Any]]:
    """Normalise the subscribers add/remove map ``{"result": {"+91..": {"isAdded": "true"}}}``."""
    result = body.get("result") if isinstance(body, Mapping) else None
    if not isinstance(result, Mapping):
        return {}
    normalised: dict[str, dict[str, Any]] = {}
    for number, outcome in result.items():
        entry = dict(outcome) if isinstance(outcome, Mapping) else {key: outcome}
        entry[key] = as_bool(entry.get(key))
        normalised[str(number)] = entry
    return normalised
