"""KaizalaHook: the one place where the provider talks HTTP to Kaizala (synchronously).

The hook owns the transport (one ``requests.Session`` per hook) and follows
:mod:`airflow_provider_kaizala.hooks.policy` for every decision: token renewal, 308 relocation,
throttling, which calls may be repeated, pagination. ``requests`` is imported when the first call is
made, not when a DAG file imports the hook.
"""

from __future__ import annotations

import logging
import os
import time
import zlib
from collections.abc import Iterable, Iterator
from functools import cached_property
from typing import TYPE_CHECKING, Any, Literal, overload

from airflow_provider_kaizala.exceptions import KaizalaException, KaizalaValidationError
from airflow_provider_kaizala.hooks.actions import (
    ACTION_TYPES,
    LISTABLE_ACTION_TYPES,
    MAX_ACTIONS_PAGE,
    REACTION_TYPES,
    RESPONSE_ACTION_TYPES,
    WEBHOOK_OBJECT_TYPES,
    action_key,
    action_target,
    action_time_ms,
    media_parts,
    webhook_body,
)
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
    AccessToken,
    BodyDecoder,
    BodyTooLarge,
    Endpoint,
    TransportError,
    Undecodable,
    as_bool,
    clean_text,
    normalise_person,
    parse_json,
    per_number_results,
    raw_endpoint,
    unwrap_group,
    unwrap_subgroups,
)
from airflow_provider_kaizala.hooks.progress import DEFAULT_INTERVAL as PROGRESS_INTERVAL
from airflow_provider_kaizala.hooks.progress import WalkProgress
from airflow_provider_kaizala.hooks.token_store import (
    persist_rotated_refresh_token,
)
from airflow_provider_kaizala.hooks.validation import (
    GROUP_TYPES,
    MAX_MEMBERS_AT_CREATION,
    ROLES,
    audience,
    message_body,
    validate_bool,
    validate_choice,
    validate_id,
    validate_ids,
    validate_message,
    validate_phone_numbers,
    validate_text,
)

if TYPE_CHECKING:
    import requests

log = logging.getLogger(__name__)

#: Numbers per call for bulk member and subscriber changes (the API documents no limit; 100 is
#: the documented limit for members at group creation, so it is the conservative choice).
BULK_BATCH_SIZE = 100


def _mask(value: str) -> None:
    from airflow.providers.common.compat.sdk import mask_secret

    mask_secret(value)


class _DeadlineExceeded(Exception):
    """The total deadline of a request passed while its answer was still arriving."""


def read_capped_body(response: requests.Response, deadline: float, cap: int, read_timeout: float) -> bytes | None:
    """Read a streamed ``requests`` answer: at most ``cap`` decoded bytes, finished by ``deadline`` (monotonic).

    Returns the body, or None when it is larger than ``cap`` (the rest is not read). The raw bytes are
    decoded by the policy's :class:`~airflow_provider_kaizala.hooks.policy.BodyDecoder`, so a compressed
    answer is bounded by its decoded size. Each socket read waits at most ``min(read_timeout, time left)``,
    so a server that drips its answer a byte at a time is cut off at the deadline (raises
    :class:`_DeadlineExceeded`). An encoding the decoder refuses, or a corrupt one, raises ``ValueError``.
    """
    length = response.headers.get("Content-Length")
    if length is not None and length.strip().isdigit() and int(length) > cap:
        return None
    decoder = BodyDecoder(response.headers.get("Content-Encoding"), cap)
    raw = response.raw
    sock = getattr(getattr(raw, "connection", None), "sock", None)
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise _DeadlineExceeded
            if sock is not None:
                sock.settimeout(min(read_timeout, left))
            chunk = raw.read1(65536, decode_content=False)
            if not chunk:
                return decoder.finish()
            decoder.feed(chunk)
    except BodyTooLarge:
        return None
    except zlib.error as err:
        raise ValueError(f"a corrupt {response.headers.get('Content-Encoding')} body") from err


def classify_requests_error(error: Exception) -> TransportError:
    """Map a ``requests`` exception to the policy's transport error kinds."""
    import requests
    import urllib3.exceptions

    if isinstance(error, requests.exceptions.ConnectTimeout):
        return TransportError.CONNECT
    if isinstance(error, requests.exceptions.Timeout):
        return TransportError.TIMEOUT
    if isinstance(error, requests.exceptions.ConnectionError):
        seen: set[int] = set()
        pending: list[Any] = [error]
        while pending:
            item = pending.pop()
            if id(item) in seen or item is None:
                continue
            seen.add(id(item))
            if isinstance(item, (urllib3.exceptions.NewConnectionError, urllib3.exceptions.NameResolutionError)):
                return TransportError.CONNECT
            if isinstance(item, BaseException):
                pending.extend([item.__cause__, item.__context__, getattr(item, "reason", None), *item.args])
        return TransportError.DROPPED
    return TransportError.DROPPED


def source_group(group_id: str, source_group_id: str | None) -> str:
    """The ``sourceGroupId`` of a reaction call: the named one, checked, or the (already checked) ``group_id``."""
    return group_id if source_group_id is None else validate_id(source_group_id, "source_group_id")


def check_action_body(action_body: Any) -> None:
    """An action body must be a mapping; a string usually is a Jinja template rendered as text."""
    if not isinstance(action_body, dict):
        hint = (
            " A Jinja template renders to a string unless the DAG sets render_template_as_native_obj=True; "
            "pass a dict, or render it natively."
            if isinstance(action_body, str)
            else ""
        )
        shown = repr(action_body) if len(repr(action_body)) <= 80 else repr(action_body)[:77] + "..."
        raise KaizalaValidationError(
            f"Invalid action_body={shown} (a {type(action_body).__name__}): expected a mapping (a dict).{hint}"
        )


#: How much earlier than a millisecond ``fromDate`` a listed action's ``sentAt`` may be (whole seconds).
SENT_AT_SLACK_MS = 999


class KaizalaHook(KaizalaBaseHook):
    """Calls the Microsoft Kaizala connector API through a ``kaizala`` connection.

    Gets access tokens from applicationId, applicationSecret and refresh token and renews them ahead of
    expiry and once on HTTP 401; follows HTTP 308 endpoint relocation only to allowed https hosts;
    paces calls under the connector's rate limit and waits out HTTP 429; retries with exponential
    backoff only calls that are safe to repeat; pages lazily through cursors.

    :param kaizala_conn_id: the ``kaizala`` connection to use.
    :param refresh_token_store: where rotated refresh tokens are persisted (default: an Airflow Variable
        ``kaizala_refresh_token_<conn_id>``, preferred over the connection's own value).
    :param retry_backoff: base of the exponential backoff between retries, in seconds.
    """

    #: Seconds between two progress lines of a long walk (see
    #: :class:`~airflow_provider_kaizala.hooks.progress.WalkProgress`).
    progress_interval: float = PROGRESS_INTERVAL

    # ------------------------------------------------------------------------------ connection

    @cached_property
    def config(self) -> KaizalaConnectionConfig:
        """The connection, read and checked once."""
        conn = self.get_connection(self.kaizala_conn_id)
        config = KaizalaConnectionConfig.from_connection(
            self.kaizala_conn_id, conn.host, conn.login, conn.password, conn.extra_dejson
        )
        _mask(config.application_secret)
        _mask(config.refresh_token)
        return config

    @cached_property
    def session(self) -> requests.Session:
        """The hook's HTTP session (redirects are never followed automatically).

        For the hook's own calls, proxy and CA settings are resolved once per session instead of on every
        request (``Session.request`` re-reads the whole environment each time): the connection's ``proxies``
        extra when set, else the environment's ``HTTPS_PROXY``/``HTTP_PROXY``/``ALL_PROXY`` with ``NO_PROXY``
        honoured per host; ``REQUESTS_CA_BUNDLE`` (or ``CURL_CA_BUNDLE``) when ``verify`` is on. The hook's
        calls never read ``~/.netrc``: they send the hook's own credentials only. Code that uses this session
        directly (``get_conn()``) keeps the usual ``requests`` behaviour.
        """
        import requests

        session = requests.Session()
        session.headers["User-Agent"] = USER_AGENT
        session.headers["Accept-Encoding"] = ACCEPT_ENCODING  # only what the policy's BodyDecoder decodes
        verify: bool | str = self.config.verify
        if verify is True:
            verify = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True
        session.verify = verify
        return session

    def _proxies_for(self, url: str) -> dict[str, str]:
        """The proxies for ``url``'s origin, resolved from the connection or the environment once per origin."""
        end = url.find("/", url.find("://") + 3)
        origin = url if end < 0 else url[:end]
        proxies = self._proxies_by_origin.get(origin)
        if proxies is None:
            if self.config.proxies:
                proxies = dict(self.config.proxies)
            else:
                from requests.utils import get_environ_proxies

                proxies = {key: value for key, value in get_environ_proxies(url).items() if key != "no"}
            self._proxies_by_origin[origin] = proxies
        return proxies

    @cached_property
    def _proxies_by_origin(self) -> dict[str, dict[str, str]]:
        return {}

    def get_conn(self) -> requests.Session:
        """Return the hook's ``requests.Session``."""
        return self.session

    @cached_property
    def kaizala_session(self) -> KaizalaSession:
        """Token, limiter and retry state of this hook (shared flows with the async hook)."""
        stored = self.refresh_token_store.get(self.kaizala_conn_id)
        if stored:
            _mask(stored)
        return KaizalaSession(
            self.config, stored or self.config.refresh_token, retry_backoff=self.retry_backoff, on_token=_mask
        )

    @property
    def refresh_token(self) -> str:
        """The refresh token in use: a rotated one from the store wins over the connection's."""
        return self.kaizala_session.refresh_token

    # ------------------------------------------------------------------------------- transport

    def _run(self, flow: Flow) -> Any:
        """Drive a flow: send its requests with ``requests``, sleep its pauses, persist rotated tokens."""
        result: Any = None
        try:
            while True:
                step = flow.send(result)
                if isinstance(step, Send):
                    result = self._send(step)
                elif isinstance(step, Pause):
                    time.sleep(step.seconds)
                    result = None
                else:
                    persist_rotated_refresh_token(self.refresh_token_store, self.kaizala_conn_id, step.refresh_token)
                    result = None
        except StopIteration as stop:
            return stop.value

    def _send(self, step: Send) -> Received | TransportFailure:
        import requests
        import urllib3.exceptions
        from requests.structures import CaseInsensitiveDict

        config = self.config
        deadline = time.monotonic() + config.request_deadline
        read_timeout = min(config.timeout, config.request_deadline)
        session = self.session
        try:
            # The request is prepared here and the transport adapter called directly: Session.send would parse
            # a 3xx Location with its own URL parser and read the whole 3xx body to prepare a redirect the hook
            # never follows, and Session.request would re-read the environment (proxies, CA, ~/.netrc) each time.
            headers = CaseInsensitiveDict(session.headers)
            headers.update(step.headers)
            prepared = requests.PreparedRequest()
            prepared.prepare(
                method=step.method,
                url=step.url,
                headers=headers,
                files=step.files,
                json=step.json,
                params=step.params,
            )
            response = session.get_adapter(step.url).send(
                prepared,
                stream=True,
                timeout=(config.timeout, read_timeout),
                verify=True if session.verify is None else session.verify,
                cert=None,
                proxies=self._proxies_for(step.url),
            )
        except requests.exceptions.RequestException as err:
            return TransportFailure(classify_requests_error(err), type(err).__name__)
        complete = False
        try:
            content = read_capped_body(response, deadline, config.max_response_bytes, read_timeout)
            complete = content is not None
        except _DeadlineExceeded:
            return TransportFailure(TransportError.DEADLINE, f"request_deadline of {config.request_deadline:g} s")
        except ValueError as err:  # an encoding the decoder refuses, or a corrupt one (the connection is closed)
            return Received(response.status_code, response.headers, Undecodable(clean_text(str(err), 120)))
        except (OSError, urllib3.exceptions.HTTPError, requests.exceptions.RequestException) as err:
            if time.monotonic() >= deadline:
                return TransportFailure(TransportError.DEADLINE, f"request_deadline of {config.request_deadline:g} s")
            kind = TransportError.TIMEOUT if "timed out" in str(err).lower() else TransportError.DROPPED
            return TransportFailure(kind, type(err).__name__)
        finally:
            if complete:
                response.raw.release_conn()
            else:
                response.close()
        if content is None:
            body: Any = Undecodable(f"larger than max_response_bytes ({config.max_response_bytes} bytes)")
        else:
            body = parse_json(content, response.headers.get("Content-Type"))
        return Received(response.status_code, response.headers, body)

    def get_access_token(self, *, force: bool = False) -> AccessToken:
        """A fresh access token for this connector, from the process cache or the token service."""
        return self._run(self.kaizala_session.access_token(force=force))

    def call(
        self,
        endpoint: Endpoint | str,
        *,
        json: Any = None,
        params: dict[str, Any] | None = None,
        files: Any = None,
        **ids: str,
    ) -> Any:
        """Make one API call named in the endpoint table; returns the decoded JSON body."""
        endpoint = ENDPOINTS[endpoint] if isinstance(endpoint, str) else endpoint
        flow = self.kaizala_session.call(endpoint, endpoint.format_path(**ids), json=json, params=params, files=files)
        return self._run(flow)

    def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: dict[str, Any] | None = None,
        repeatable: bool | None = None,
    ) -> Any:
        """Low-level call of any API path below ``/v1/``, with the hook's tokens, relocation and throttling.

        Whether the call may be repeated comes from the endpoint table; a path the table does not know is
        treated as not repeatable unless ``repeatable=True`` is passed.
        """
        endpoint = raw_endpoint(method, path, repeatable)
        return self._run(self.kaizala_session.call(endpoint, endpoint.path, json=json, params=params))

    # --------------------------------------------------------------------------------- groups

    def list_groups(self, *, show_details: bool = False, fetch_all_groups: bool = False) -> list[dict[str, Any]]:
        """Groups visible to the token (with sub-groups and parents when ``fetch_all_groups``)."""
        params = {
            "showDetail": str(validate_bool(show_details, "show_details")).lower(),
            "fetchAllGroups": str(validate_bool(fetch_all_groups, "fetch_all_groups")).lower(),
        }
        body = self.call("list_groups", params=params)
        return [dict(group) for group in body.get("groups") or []]

    def get_group(self, group_id: str) -> dict[str, Any]:
        """Details of one group."""
        return unwrap_group(self.call("get_group", group_id=validate_id(group_id, "group_id")))

    def create_group(
        self,
        name: str,
        welcome_message: str,
        *,
        members: Iterable[str] | None = None,
        group_type: str = "Group",
    ) -> dict[str, Any]:
        """Create a group (``ConnectGroup`` for a public group with subscribers); not repeated on doubt."""
        body: dict[str, Any] = {
            "name": validate_text(name, "name", 256),
            "welcomeMessage": validate_text(welcome_message, "welcome_message", 4000),
            "groupType": validate_choice(group_type, "group_type", GROUP_TYPES),
        }
        if members is not None:
            body["members"] = validate_phone_numbers(members, "members", max_items=MAX_MEMBERS_AT_CREATION)
        result = self.call("create_group", json=body)
        if "membersAdded" in result:
            result["membersAdded"] = as_bool(result["membersAdded"])
        return dict(result)

    # ------------------------------------------------------------------------------- sub-groups

    def list_subgroups(self, group_id: str, *, fetch_all_groups: bool = False) -> list[dict[str, Any]]:
        """Sub-groups of a group (all levels, nested under ``subGroups``, when ``fetch_all_groups``)."""
        group_id = validate_id(group_id, "group_id")
        params = {"fetchAllGroups": str(validate_bool(fetch_all_groups, "fetch_all_groups")).lower()}
        return unwrap_subgroups(self.call("list_subgroups", params=params, group_id=group_id), group_id)

    def create_subgroup(
        self,
        group_id: str,
        name: str,
        *,
        welcome_message: str | None = "",
        members: Iterable[str] | None = None,
        add_caller: bool = True,
    ) -> dict[str, Any]:
        """Create a sub-group under ``group_id``; not repeated on doubt.

        ``welcomeMessage`` is always sent (the API requires it; an empty one, the default, is allowed; ``None``
        counts as empty).
        """
        group_id = validate_id(group_id, "group_id")
        body: dict[str, Any] = {
            "groupName": validate_text(name, "name", 256),
            "addUserToGroup": validate_bool(add_caller, "add_caller"),
            "welcomeMessage": validate_text(
                "" if welcome_message is None else welcome_message, "welcome_message", 4000, allow_empty=True
            ),
        }
        if members is not None:
            body["members"] = validate_phone_numbers(members, "members", max_items=MAX_MEMBERS_AT_CREATION)
        return dict(self.call("create_subgroup", json=body, group_id=group_id))

    def add_subgroup(self, group_id: str, subgroup_ids: Iterable[str]) -> bool:
        """Attach existing groups as sub-groups of ``group_id`` (idempotent)."""
        group_id = validate_id(group_id, "group_id")
        ids = validate_ids(subgroup_ids, "subgroup_ids")
        return as_bool(self.call("add_subgroups", json={"subGroups": ids}, group_id=group_id).get("result", True))

    def remove_subgroup(self, group_id: str, subgroup_id: str) -> bool:
        """Detach a sub-group from ``group_id`` (idempotent)."""
        body = self.call(
            "remove_subgroup",
            group_id=validate_id(group_id, "group_id"),
            subgroup_id=validate_id(subgroup_id, "subgroup_id"),
        )
        return as_bool(body.get("result", True))

    # ---------------------------------------------------------------------------------- members

    def list_members(self, group_id: str) -> list[dict[str, Any]]:
        """All members of a group (the API does not page members)."""
        body = self.call("list_members", group_id=validate_id(group_id, "group_id"))
        return [normalise_person(member) for member in body.get("members") or []]

    def add_members(self, group_id: str, phone_numbers: Iterable[str]) -> bool:
        """Add members in batches of 100; True when every number was added. Safe to repeat."""
        group_id = validate_id(group_id, "group_id")
        numbers = validate_phone_numbers(phone_numbers, "phone_numbers")
        all_added = True
        for start in range(0, len(numbers), BULK_BATCH_SIZE):
            batch = numbers[start : start + BULK_BATCH_SIZE]
            body = self.call("add_members", json={"members": batch}, group_id=group_id)
            all_added = as_bool(body.get("result", True)) and all_added
        return all_added

    def set_member_role(self, group_id: str, member_id: str, role: str) -> bool:
        """Make a member an ``Admin`` or a ``Member``."""
        body = self.call(
            "set_member_role",
            json={"role": validate_choice(role, "role", ROLES)},
            group_id=validate_id(group_id, "group_id"),
            member_id=validate_id(member_id, "member_id"),
        )
        return as_bool(body.get("result", True))

    def remove_member(self, group_id: str, member_id: str) -> bool:
        """Remove one member by id (safe to repeat: a member already gone after a retry counts as removed)."""
        body = self.call(
            "remove_member", group_id=validate_id(group_id, "group_id"), member_id=validate_id(member_id, "member_id")
        )
        return as_bool(body.get("result", True))

    # ------------------------------------------------------------------------------ subscribers

    @overload
    def iter_subscriber_pages(
        self,
        group_id: str,
        *,
        page_size: int = 50,
        cursor: str | None = None,
        with_cursor: Literal[False] = False,
        total: int | None = None,
    ) -> Iterator[list[dict[str, Any]]]: ...

    @overload
    def iter_subscriber_pages(
        self,
        group_id: str,
        *,
        page_size: int = 50,
        cursor: str | None = None,
        with_cursor: Literal[True],
        total: int | None = None,
    ) -> Iterator[tuple[list[dict[str, Any]], str | None]]: ...

    def iter_subscriber_pages(
        self,
        group_id: str,
        *,
        page_size: int = 50,
        cursor: str | None = None,
        with_cursor: bool = False,
        total: int | None = None,
    ) -> Iterator[Any]:
        """Pages of a public group's subscribers, fetched lazily by following ``cursor``.

        :param cursor: start from this cursor (one a previous walk returned with ``with_cursor``) instead of
            page 1; a cursor the server no longer accepts raises
            :class:`~airflow_provider_kaizala.exceptions.KaizalaBadRequestError` at the first page.
        :param with_cursor: yield ``(items, next_cursor)`` (``None`` after the last page) instead of items,
            so a caller can checkpoint the walk and resume it later.
        :param total: the number of subscribers expected, if known: progress lines then carry an ETA.
        """
        walk = SubscriberWalk(group_id, page_size=page_size, cursor=cursor, total=total)
        walk.begin(self.kaizala_session, self.progress_interval, self.log)
        while True:
            items, next_cursor = walk.page(self.call("list_subscribers", json=walk.body(), group_id=walk.group_id))
            yield (items, next_cursor) if with_cursor else items
            if next_cursor is None:
                return

    def _progress(self, what: str, total: int | None = None) -> WalkProgress:
        """Time-based progress lines of one walk, with the session's call budget, to the hook's logger."""
        return WalkProgress(
            what,
            total=total,
            budget=self.kaizala_session.budget,
            interval=self.progress_interval,
            logger=self.log,
        )

    def iter_subscribers(
        self, group_id: str, *, page_size: int = 50, total: int | None = None
    ) -> Iterator[dict[str, Any]]:
        """Every subscriber of a public group, one at a time; one page is in memory at a time. ``total``: the
        number expected, if known (progress lines then carry an ETA)."""
        for page in self.iter_subscriber_pages(group_id, page_size=page_size, total=total):
            yield from page

    def _bulk_subscribers(self, endpoint: str, key: str, group_id: str, phone_numbers: Iterable[str]) -> dict[str, Any]:
        group_id = validate_id(group_id, "group_id")
        numbers = validate_phone_numbers(phone_numbers, "phone_numbers")
        outcomes: dict[str, Any] = {}
        for start in range(0, len(numbers), BULK_BATCH_SIZE):
            batch = numbers[start : start + BULK_BATCH_SIZE]
            outcomes.update(
                per_number_results(self.call(endpoint, json={"subscribers": batch}, group_id=group_id), key)
            )
        return outcomes

    def add_subscribers(self, group_id: str, phone_numbers: Iterable[str]) -> dict[str, Any]:
        """Subscribe numbers to a public group; returns ``{number: {"isAdded": bool, ...}}``. Safe to repeat."""
        return self._bulk_subscribers("add_subscribers", "isAdded", group_id, phone_numbers)

    def remove_subscribers(self, group_id: str, phone_numbers: Iterable[str]) -> dict[str, Any]:
        """Unsubscribe numbers; returns ``{number: {"isRemoved": bool, ...}}``. Safe to repeat."""
        return self._bulk_subscribers("remove_subscribers", "isRemoved", group_id, phone_numbers)

    # --------------------------------------------------------------------------------- messages

    def send_message(
        self,
        group_id: str,
        message: str,
        *,
        subscribers: Iterable[str] | None = None,
        send_to_all_subscribers: bool = False,
    ) -> dict[str, Any]:
        """Send a text message to a group, to chosen subscribers, or to all subscribers of a public group.

        Never repeated when the outcome is unknown (a timeout after sending raises
        :class:`~airflow_provider_kaizala.exceptions.KaizalaOutcomeUnknownError`), so a message is not
        delivered twice. Returns ``{"referenceId": ...}``.
        """
        body = message_body(message, subscribers, send_to_all_subscribers)
        return dict(self.call("send_message", json=body, group_id=validate_id(group_id, "group_id")))

    # ------------------------------------------------------------------------------------ media

    def upload_media(self, files: Iterable[Any]) -> str:
        """Upload files (local paths, ``ObjectStoragePath`` objects or ``(name, bytes)``); returns the mediaResource.

        Several files are allowed only when all are images (an Album). Types and sizes are checked before
        any call; the upload may be repeated safely (an orphaned upload has no visible effect).
        """
        parts = media_parts(files)
        body = self.call("upload_media", files=parts)
        resource = body.get("mediaResource") if isinstance(body, dict) else None
        if not resource:
            raise KaizalaException("Kaizala answered the media upload without a mediaResource.")
        return str(resource)

    # ---------------------------------------------------------------------------------- actions

    def post_action(
        self,
        group_id: str,
        action_body: dict[str, Any],
        *,
        action_type: str | None = None,
        package_id: str | None = None,
        subscribers: Iterable[str] | None = None,
        send_to_all_subscribers: bool = False,
    ) -> dict[str, Any]:
        """Post an action (``action_type``) or a custom package instance (``package_id``); never repeated on doubt.

        Build ``action_body`` with :mod:`airflow_provider_kaizala.hooks.actions`. Returns
        ``{"referenceId", "actionId"}``.
        """
        check_action_body(action_body)
        body: dict[str, Any] = {**action_target(action_type, package_id, ACTION_TYPES), "actionBody": action_body}
        body.update(audience(subscribers, send_to_all_subscribers))
        return dict(self.call("post_action", json=body, group_id=validate_id(group_id, "group_id")))

    def iter_actions(
        self, group_id: str, action_type: str, *, from_date_ms: int | None = None, page_size: int = 30
    ) -> Iterator[dict[str, Any]]:
        """Actions of one type in a group, oldest first, fetched lazily page by page (``hasMore`` + ``fromDate``)."""
        group_id = validate_id(group_id, "group_id")
        params: dict[str, Any] = {"actionType": validate_choice(action_type, "action_type", LISTABLE_ACTION_TYPES)}
        if isinstance(page_size, bool) or not isinstance(page_size, int) or not 1 <= page_size <= MAX_ACTIONS_PAGE:
            raise KaizalaValidationError(
                f"Invalid page_size={page_size!r}: expected an integer from 1 to {MAX_ACTIONS_PAGE}."
            )
        count = page_size
        next_from = from_date_ms
        boundary: set[str] = set()  # ids already yielded that carry the newest timestamp seen so far
        guard = self.kaizala_session.page_guard("list_actions", f"groups/{group_id}/actions")
        progress = self._progress(f"{params['actionType']} actions of group {group_id}")
        while True:
            if next_from is not None:
                params["fromDate"] = next_from
            body = self.call("list_actions", params={**params, "count": count}, group_id=group_id)
            items = [dict(item) for item in body["actions"]]
            fresh = [item for item in items if action_key(item) not in boundary]
            raw = [t for t in (action_time_ms(item) for item in items) if t is not None]
            # sentAt may have whole seconds: an action at or after a millisecond fromDate can show up to 999 ms
            # before it. Such a time counts as fromDate itself; more than that is the server going back.
            if next_from is not None and raw and min(raw) < next_from - SENT_AT_SLACK_MS:
                raise guard.no_progress(f"the server went back in time (from {next_from} ms to {min(raw)} ms)")
            floor = next_from if next_from is not None else 0
            times = [max(t, floor) for t in raw]
            more = as_bool(body.get("hasMore", False)) and bool(items) and bool(times)
            guard.next_page((next_from, count, len(boundary)) if more else None, len(fresh))
            progress.page(len(fresh))
            if not more:
                progress.done()
            yield from fresh
            if not more:
                return
            if not fresh:
                # Every item shares the timestamp we continue from (the API's sentAt has whole seconds):
                # ask for bigger pages rather than skip any action.
                if count >= MAX_ACTIONS_PAGE:
                    raise guard.no_progress(
                        f"cannot page past the actions of group {group_id} sent at {max(times)} ms: more than "
                        f"{MAX_ACTIONS_PAGE} share one timestamp, or the server repeats its page"
                    )
                count = min(MAX_ACTIONS_PAGE, count * 2)
                continue
            newest = max(times)
            if newest != next_from:
                boundary = set()
            boundary |= {action_key(item) for item in items if max(action_time_ms(item) or 0, floor) == newest}
            next_from, count = newest, page_size

    def get_action(self, group_id: str, action_id: str, *, get_details: bool = False) -> dict[str, Any]:
        """An action's details; with ``get_details`` also its responses."""
        params = {"getDetails": str(validate_bool(get_details, "get_details")).lower()}
        return dict(
            self.call(
                "get_action",
                params=params,
                group_id=validate_id(group_id, "group_id"),
                action_id=validate_id(action_id, "action_id"),
            )
        )

    def post_action_response(
        self,
        group_id: str,
        action_id: str,
        action_body: dict[str, Any],
        *,
        action_type: str | None = None,
        package_id: str | None = None,
        response_id: str | None = None,
    ) -> dict[str, Any]:
        """Respond to a job, survey, poll or custom action (``response_id`` updates a response); not repeated."""
        check_action_body(action_body)
        body: dict[str, Any] = {
            **action_target(action_type, package_id, RESPONSE_ACTION_TYPES),
            "actionBody": action_body,
        }
        if response_id is not None:
            body["responseId"] = validate_id(response_id, "response_id")
        return dict(
            self.call(
                "post_action_response",
                json=body,
                group_id=validate_id(group_id, "group_id"),
                action_id=validate_id(action_id, "action_id"),
            )
        )

    # -------------------------------------------------------------------------------- reactions

    def add_reaction(
        self,
        group_id: str,
        reference_id: str,
        *,
        reaction_type: str = "Like",
        comment: str | None = None,
        source_group_id: str | None = None,
    ) -> dict[str, Any]:
        """Like or comment on a message or action (its ``referenceId``); returns ``{"reactionId"}``."""
        group_id = validate_id(group_id, "group_id")
        kind = validate_choice(reaction_type, "reaction_type", REACTION_TYPES)
        body: dict[str, Any] = {"referenceId": validate_id(reference_id, "reference_id"), "reactionType": kind}
        body["sourceGroupId"] = source_group(group_id, source_group_id)
        if kind == "Comment":
            body["comment"] = validate_message(comment, "comment")
        elif comment is not None:
            raise KaizalaValidationError("Invalid comment: only a Comment reaction carries a comment.")
        return dict(self.call("add_reaction", json=body, group_id=group_id))

    def get_reaction_summary(
        self, group_id: str, reference_id: str, *, source_group_id: str | None = None
    ) -> dict[str, int]:
        """Counts of reactions on one message or action: ``{"like": n, "comment": n}``."""
        group_id = validate_id(group_id, "group_id")
        body = self.call(
            "get_reaction_summary",
            params={"sourceGroupId": source_group(group_id, source_group_id)},
            group_id=group_id,
            reference_id=validate_id(reference_id, "reference_id"),
        )
        for item in body.get("summary") or []:
            counts = item.get("reactionsCountMap") or {}
            return {str(key).lower(): int(value) for key, value in counts.items()}
        return {"like": 0, "comment": 0}

    def iter_reactions(
        self,
        group_id: str,
        reference_id: str,
        *,
        reaction_type: str | None = None,
        source_group_id: str | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Every reaction on a message or action, following the ticks cursor until a page comes back empty."""
        group_id = validate_id(group_id, "group_id")
        params: dict[str, Any] = {"sourceGroupId": source_group(group_id, source_group_id)}
        if reaction_type is not None:
            params["reactionType"] = validate_choice(reaction_type, "reaction_type", REACTION_TYPES)
        yield from self._walk_ticks(
            "list_reactions",
            "reactionDetails",
            params,
            group_id=group_id,
            reference_id=validate_id(reference_id, "reference_id"),
        )

    def _walk_ticks(self, endpoint: str, key: str, params: dict[str, Any], **ids: str) -> Iterator[dict[str, Any]]:
        """Follow a reactions cursor (.NET ticks) until a page comes back empty or the cursor stops moving.

        A cursor seen before (``1, 2, 1, 2``) or one that goes back raises
        :class:`~airflow_provider_kaizala.exceptions.KaizalaPagingError`.
        """
        entry = ENDPOINTS[endpoint]
        path = entry.format_path(**ids)
        guard = self.kaizala_session.page_guard(entry, path)
        progress = self._progress(f"{key} of {path}")
        cursor = 0
        while True:
            body = self.call(endpoint, params={**params, "cursor": cursor}, **ids)
            items = body[key]
            raw_next = body.get("cursor")
            next_cursor = None if raw_next is None else int(raw_next)
            done = not items or next_cursor in (None, cursor)
            if not done and next_cursor is not None and next_cursor < cursor:
                raise guard.no_progress(f"the ticks cursor went back from {cursor} to {next_cursor}")
            guard.next_page(None if done else next_cursor, len(items))
            progress.page(len(items))
            if done:
                progress.done()
            yield from (dict(item) for item in items)
            if done or next_cursor is None:
                return
            cursor = next_cursor

    def iter_group_reactions(self, group_id: str, *, source_group_id: str | None = None) -> Iterator[dict[str, Any]]:
        """Reaction summaries of every message and action of a group, oldest change first (ticks cursor).

        The API pages this as a change feed: a reference that gets a new reaction later comes back again.
        """
        group_id = validate_id(group_id, "group_id")
        params = {"sourceGroupId": source_group(group_id, source_group_id)}
        yield from self._walk_ticks("list_group_reactions", "summary", params, group_id=group_id)

    # --------------------------------------------------------------------------------- webhooks

    def create_webhook(
        self,
        object_id: str,
        event_types: Iterable[str],
        callback_url: str,
        *,
        object_type: str = "Group",
        callback_token: str | None = None,
        callback_context: str | None = None,
        validity_ms: int | None = None,
    ) -> str:
        """Register a webhook (Kaizala validates ``callback_url`` first); returns its id. Not repeated on doubt."""
        body = webhook_body(
            object_id=object_id,
            object_type=object_type,
            event_types=event_types,
            callback_url=callback_url,
            callback_token=callback_token,
            callback_context=callback_context,
            validity_ms=validity_ms,
        )
        return str(self.call("create_webhook", json=body)["webhookId"])

    def list_webhooks(self, object_id: str, *, object_type: str = "Group") -> list[dict[str, Any]]:
        """Webhooks registered on a group, action or action package."""
        params = {
            "objectId": validate_id(object_id, "object_id"),
            "objectType": validate_choice(object_type, "object_type", WEBHOOK_OBJECT_TYPES),
        }
        return [dict(item) for item in self.call("list_webhooks", params=params).get("webhooks") or []]

    def update_webhook(self, webhook_id: str, **changes: Any) -> bool:
        """Change a webhook (``event_types``, ``callback_url``, ``callback_token``, ``callback_context``,
        ``validity_ms``, ``active``); ``active=True`` re-enables one Kaizala disabled."""
        body = webhook_body(partial=True, **changes)
        if not body:
            raise KaizalaValidationError("Invalid changes: name at least one webhook field to update.")
        result = self.call("update_webhook", json=body, webhook_id=validate_id(webhook_id, "webhook_id"))
        return as_bool(result.get("result", True))

    def delete_webhook(self, webhook_id: str) -> bool:
        """Delete a webhook (safe to repeat)."""
        return as_bool(
            self.call("delete_webhook", webhook_id=validate_id(webhook_id, "webhook_id")).get("result", True)
        )

    # ------------------------------------------------------------------------------------- test

    def test_connection(self) -> tuple[bool, str]:
        """Exchange a token and list groups; never raises (used by the UI's Test button)."""
        try:
            groups = self.list_groups()
        except Exception as err:
            return False, f"{type(err).__name__}: {err}"
        return True, f"Connected to Kaizala: {len(groups)} group(s) visible to this connector."
