"""KaizalaHook: the one place where the provider talks HTTP to Kaizala (synchronously).

The hook owns the transport (one ``requests.Session`` per hook) and follows
:mod:`airflow_provider_kaizala.hooks.policy` for every decision: token renewal, 308 relocation,
throttling, which calls may be repeated, pagination. ``requests`` is imported when the first call is
made, not when a DAG file imports the hook.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Iterable, Iterator
from functools import cached_property
from typing import TYPE_CHECKING, Any

import pendulum
from airflow.providers.common.compat.sdk import BaseHook

from airflow_provider_kaizala.exceptions import KaizalaValidationError
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
    Relocate,
    RenewToken,
    SlidingWindowLimiter,
    TransportError,
    Wait,
    api_url,
    as_bool,
    check_endpoint_url,
    endpoint_for,
    normalise_person,
    parse_json,
    parse_token_response,
    per_number_results,
    shared_limiter,
    subscriber_page,
    subscriber_page_body,
    token_url,
    unwrap_group,
    unwrap_subgroups,
)
from airflow_provider_kaizala.hooks.token_store import RefreshTokenStore, VariableRefreshTokenStore
from airflow_provider_kaizala.hooks.validation import (
    GROUP_TYPES,
    MAX_MEMBERS_AT_CREATION,
    ROLES,
    validate_bool,
    validate_choice,
    validate_id,
    validate_ids,
    validate_message,
    validate_page_size,
    validate_phone_numbers,
    validate_text,
)

if TYPE_CHECKING:
    import requests

log = logging.getLogger(__name__)

#: Numbers per call for bulk member and subscriber changes (the API documents no limit; 100 is
#: the documented limit for members at group creation, so it is the conservative choice).
BULK_BATCH_SIZE = 100
USER_AGENT = "airflow-provider-kaizala/0.1.0"


def _mask(value: str) -> None:
    from airflow.providers.common.compat.sdk import mask_secret

    mask_secret(value)


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


class KaizalaHook(BaseHook):
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

    conn_name_attr = "kaizala_conn_id"
    default_conn_name = "kaizala_default"
    conn_type = "kaizala"
    hook_name = "Microsoft Kaizala"

    def __init__(
        self,
        kaizala_conn_id: str = default_conn_name,
        *,
        refresh_token_store: RefreshTokenStore | None = None,
        retry_backoff: float = 1.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.kaizala_conn_id = kaizala_conn_id
        self.refresh_token_store: RefreshTokenStore = refresh_token_store or VariableRefreshTokenStore()
        self.retry_backoff = retry_backoff
        self._rng = random.Random()
        self._refresh_token: str | None = None

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
        """The hook's HTTP session (redirects are never followed automatically)."""
        import requests

        session = requests.Session()
        session.headers["User-Agent"] = USER_AGENT
        session.verify = self.config.verify
        if self.config.proxies:
            session.proxies.update(self.config.proxies)
        return session

    def get_conn(self) -> requests.Session:
        """Return the hook's ``requests.Session``."""
        return self.session

    @cached_property
    def limiter(self) -> SlidingWindowLimiter:
        """The process-wide limiter of this connector."""
        return shared_limiter(
            self.config.token_root,
            self.config.application_id,
            self.config.rate_limit_per_minute,
            self.config.rate_limit_window,
        )

    def _policy(self, endpoint: Endpoint, path: str) -> CallPolicy:
        return CallPolicy(endpoint, path, self.config.policy_settings(self.retry_backoff), self._rng)

    # ---------------------------------------------------------------------------------- tokens

    @property
    def refresh_token(self) -> str:
        """The refresh token in use: a rotated one from the store wins over the connection's."""
        if self._refresh_token is None:
            stored = self.refresh_token_store.get(self.kaizala_conn_id)
            if stored:
                _mask(stored)
            self._refresh_token = stored or self.config.refresh_token
        return self._refresh_token

    def get_access_token(self, *, force: bool = False) -> AccessToken:
        """A fresh access token for this connector, from the process cache or the token service."""
        key = self.config.token_cache_key(self.refresh_token)
        cached = TOKEN_CACHE.get(key)
        if cached is not None and not force and cached.is_fresh(pendulum.now("UTC")):
            return cached
        token, rotated = self._exchange_token()
        if rotated and rotated != self.refresh_token:
            self._keep_rotated_refresh_token(rotated)
            key = self.config.token_cache_key(self.refresh_token)
        TOKEN_CACHE.put(key, token)
        return token

    def _exchange_token(self) -> tuple[AccessToken, str | None]:
        endpoint = ENDPOINTS["access_token"]
        policy = self._policy(endpoint, endpoint.path)
        url = token_url(self.config.token_root)
        headers = {
            "applicationId": self.config.application_id,
            "applicationSecret": self.config.application_secret,
            "refreshToken": self.refresh_token,
        }
        while True:
            decision, body = self._send(policy, "GET", url, headers)
            if isinstance(decision, Done):
                token, rotated = parse_token_response(body, pendulum.now("UTC"))
                _mask(token.token)
                check_endpoint_url(token.endpoint_url, self.config.token_root, self.config.allowed_hosts)
                if rotated:
                    _mask(rotated)
                log.debug("Got a Kaizala access token valid until %s.", token.expires_at)
                return token, rotated
            self._follow(decision)

    def _keep_rotated_refresh_token(self, rotated: str) -> None:
        where = self.refresh_token_store.describe(self.kaizala_conn_id)
        try:
            self.refresh_token_store.set(self.kaizala_conn_id, rotated)
        except Exception as err:
            log.error(
                "Kaizala rotated the refresh token of connection %s but it could not be stored in %s (%s). "
                "Update the connection's refresh_token before the old token expires.",
                self.kaizala_conn_id,
                where,
                type(err).__name__,
            )
        else:
            log.warning(
                "Kaizala rotated the refresh token of connection %s; the new token was stored in %s and "
                "will be used from now on (the connection's own value is now stale).",
                self.kaizala_conn_id,
                where,
            )
        self._refresh_token = rotated

    # ------------------------------------------------------------------------------- transport

    def _send(
        self,
        policy: CallPolicy,
        method: str,
        url: str,
        headers: dict[str, str],
        json: Any = None,
        params: dict[str, Any] | None = None,
        files: Any = None,
    ) -> tuple[Decision, Any]:
        import requests

        try:
            response = self.session.request(
                method,
                url,
                headers=headers,
                json=json,
                params=params,
                files=files,
                timeout=self.config.timeout,
                allow_redirects=False,
            )
        except requests.exceptions.RequestException as err:
            kind = classify_requests_error(err)
            log.info("Kaizala %s %s: %s error (%s).", method, policy.path, kind.value, type(err).__name__)
            return policy.on_transport_error(kind, type(err).__name__), None
        body = parse_json(response.content)
        return policy.on_response(response.status_code, response.headers, body, url), body

    def _follow(self, decision: Decision) -> None:
        """Carry out a decision that does not end the call."""
        if isinstance(decision, Fail):
            raise decision.error
        if isinstance(decision, Wait):
            log.info("Kaizala: %s; waiting %.2f s before repeating.", decision.reason, decision.seconds)
            time.sleep(decision.seconds)

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
        return self._execute(endpoint, endpoint.format_path(**ids), json=json, params=params, files=files)

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
        known = endpoint_for(method, path)
        endpoint = Endpoint(
            name=known.name if known else "request",
            method=method.upper(),
            path=path.lstrip("/"),
            repeatable=known.repeatable if repeatable is None and known else bool(repeatable),
            gone_means_done=known.gone_means_done if known else False,
        )
        return self._execute(endpoint, endpoint.path, json=json, params=params, files=None)

    def _execute(self, endpoint: Endpoint, path: str, *, json: Any, params: dict[str, Any] | None, files: Any) -> Any:
        policy = self._policy(endpoint, path)
        token = self.get_access_token()
        while True:
            url = api_url(token.endpoint_url, path)
            delay = self.limiter.reserve()
            if delay > 0:
                log.debug("Kaizala rate limit: pausing %.2f s.", delay)
                time.sleep(delay)
            decision, body = self._send(
                policy, endpoint.method, url, {"accessToken": token.token}, json=json, params=params, files=files
            )
            if isinstance(decision, Done):
                return body if body is not None else {}
            if isinstance(decision, GoneIsDone):
                log.info("Kaizala %s %s: already done by an earlier attempt.", endpoint.method, path)
                return {"result": True}
            if isinstance(decision, Relocate):
                log.warning("Kaizala relocated the endpoint of this connector (HTTP 308); following it.")
                key = self.config.token_cache_key(self.refresh_token)
                token = TOKEN_CACHE.relocate(key, decision.endpoint_url) or token.relocated(decision.endpoint_url)
            elif isinstance(decision, RenewToken):
                log.info("Kaizala refused the access token (HTTP 401); renewing it once.")
                token = self.get_access_token(force=True)
            else:
                self._follow(decision)

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
        welcome_message: str | None = None,
        members: Iterable[str] | None = None,
        add_caller: bool = True,
    ) -> dict[str, Any]:
        """Create a sub-group under ``group_id``; not repeated on doubt."""
        group_id = validate_id(group_id, "group_id")
        body: dict[str, Any] = {
            "groupName": validate_text(name, "name", 256),
            "addUserToGroup": validate_bool(add_caller, "add_caller"),
        }
        if welcome_message is not None:
            body["welcomeMessage"] = validate_text(welcome_message, "welcome_message", 4000)
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

    def iter_subscriber_pages(self, group_id: str, *, page_size: int = 50) -> Iterator[list[dict[str, Any]]]:
        """Pages of a public group's subscribers, fetched lazily by following ``cursor``."""
        group_id = validate_id(group_id, "group_id")
        page_size = validate_page_size(page_size)
        cursor: str | None = None
        while True:
            body = self.call("list_subscribers", json=subscriber_page_body(cursor, page_size), group_id=group_id)
            items, cursor = subscriber_page(body)
            yield items
            if cursor is None:
                return

    def iter_subscribers(self, group_id: str, *, page_size: int = 50) -> Iterator[dict[str, Any]]:
        """Every subscriber of a public group, one at a time; one page is in memory at a time."""
        for page in self.iter_subscriber_pages(group_id, page_size=page_size):
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
        body: dict[str, Any] = {"message": validate_message(message)}
        if validate_bool(send_to_all_subscribers, "send_to_all_subscribers"):
            if subscribers is not None:
                raise KaizalaValidationError(
                    "Invalid subscribers: pass either subscribers or send_to_all_subscribers=True, not both."
                )
            body["sendToAllSubscribers"] = True
        elif subscribers is not None:
            body["subscribers"] = validate_phone_numbers(subscribers, "subscribers")
        return dict(self.call("send_message", json=body, group_id=validate_id(group_id, "group_id")))

    # ------------------------------------------------------------------------------------- test

    def test_connection(self) -> tuple[bool, str]:
        """Exchange a token and list groups; never raises (used by the UI's Test button)."""
        try:
            groups = self.list_groups()
        except Exception as err:
            return False, f"{type(err).__name__}: {err}"
        return True, f"Connected to Kaizala: {len(groups)} group(s) visible to this connector."
