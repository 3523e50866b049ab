"""One call budget per connector and per tenant, shared by every process that uses the connection.

Kaizala allows 100 calls a minute per connector and 300 per tenant. A :class:`CallBudget` draws every call
of a hook from those budgets, wherever the hook runs:

* backend ``local``: the budgets live in this process (the per-process limiter of earlier releases);
* backend ``host``: the budgets live in small files under a directory, locked with ``fcntl``, so every
  process of one host (parallel tasks of a worker, the triggerer) shares them;
* backend ``redis``: the budgets live in Redis (sorted sets updated atomically by Lua scripts on the
  Redis server's clock), so every host of a deployment shares them.

Every backend runs the same rules (see ``docs/budget.rst``):

* a call is *admitted* when each of its budgets has a free slot in the sliding window; the slot is stamped
  again when the answer arrives, so the client's window can only be later than the server's;
* **priorities**: interactive calls (messages, single operations) may use the whole budget; bulk walks (paged
  endpoints) leave a reserve free: twice the interactive calls of the last window, at least 2 %, at most
  ``1 - bulk_share`` of the budget. Beyond a first burst, bulk calls are spaced evenly (one every
  ``window / cap``) so that slots free up one by one, and they stand back while an interactive call waits;
* **feedback**: an HTTP 429 holds every process sharing the connector budget off until its ``Retry-After``
  has passed, and lowers the budget's rate (multiplicative decrease, additive recovery per window), so that
  budgets which cannot see each other (``local``, or ``host`` on several hosts) converge on the real limit.

A wait longer than :data:`WAIT_LOG_SECONDS` is logged at INFO with its reason.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import math
import os
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Generator, Mapping
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any

from airflow_provider_kaizala.exceptions import KaizalaValidationError

log = logging.getLogger(__name__)

BACKENDS = ("auto", "local", "host", "redis")
DEFAULT_BULK_SHARE = 0.8
DEFAULT_TENANT_RATE_LIMIT_PER_MINUTE = 300
#: Share of a budget bulk walks always leave free (the reserve is twice the recent interactive calls, at least this).
IDLE_RESERVE = 0.02
#: Bulk calls may start in a burst of this share of their cap; beyond it they are spaced evenly (so a short
#: walk is not slowed down, and from the second window of a long one on, slots free up one by one).
BULK_BURST = 0.5
#: Multiplicative decrease of a budget's rate on HTTP 429, its floor, and the additive recovery per window.
DECREASE = 0.5
MIN_FACTOR = 0.05
RECOVERY_PER_WINDOW = 0.05
#: Waits longer than this are logged at INFO with their reason.
WAIT_LOG_SECONDS = 5.0
#: Budgets above this many calls per window are not tracked (emulator benchmarks use "unlimited" budgets).
MAX_TRACKED_LIMIT = 5000
#: Endpoints whose calls are bulk walks; every other call is interactive.
BULK_ENDPOINTS = frozenset({"list_subscribers", "list_actions", "list_reactions", "list_group_reactions"})
#: Names of the settings, as connection extras and as options of the ``[kaizala]`` Airflow config section.
SETTING_NAMES = (
    "budget_backend",
    "budget_dir",
    "budget_redis_url",
    "bulk_share",
    "tenant",
    "tenant_rate_limit_per_minute",
)


def default_budget_dir() -> str:
    """Where the ``host`` backend keeps its files unless told otherwise (one directory per OS user)."""
    return os.path.join(tempfile.gettempdir(), f"airflow-kaizala-budget-{os.getuid()}")


@dataclass(frozen=True)
class BudgetSettings:
    """How a connection shares its call budget.

    :param backend: ``auto`` (``host`` when the budget directory is usable, else ``local``), ``local``,
        ``host`` or ``redis``.
    :param directory: the ``host`` backend's directory (default: :func:`default_budget_dir`).
    :param redis_url: the ``redis`` backend's server, e.g. ``redis://redis:6379/2`` (may carry a password,
        so it is kept out of ``repr`` and logs).
    :param bulk_share: the most of a budget that bulk walks may use while interactive calls are made.
    :param tenant: a name shared by the connections of one Kaizala tenant; they then share a tenant budget.
    :param tenant_rate_limit_per_minute: the tenant budget (calls per window).
    """

    backend: str = "auto"
    directory: str | None = None
    redis_url: str | None = field(default=None, repr=False)
    bulk_share: float = DEFAULT_BULK_SHARE
    tenant: str | None = None
    tenant_rate_limit_per_minute: int = DEFAULT_TENANT_RATE_LIMIT_PER_MINUTE

    @classmethod
    def from_values(cls, where: str | Callable[[str], str], get: Callable[[str], Any]) -> BudgetSettings:
        """Read and check the settings; ``get(name)`` returns a value or ``None``; ``where`` (or ``where(name)``)
        names the source of a value in an error message."""

        def source(name: str) -> str:
            return where(name) if callable(where) else where

        def text(name: str) -> str | None:
            value = get(name)
            return None if value is None or str(value).strip() == "" else str(value).strip()

        backend = (text("budget_backend") or "auto").lower()
        if backend not in BACKENDS:
            raise KaizalaValidationError(
                f"Invalid {source('budget_backend')} budget_backend={backend!r}: expected one of {', '.join(BACKENDS)}."
            )
        share_text = text("bulk_share")
        try:
            share = DEFAULT_BULK_SHARE if share_text is None else float(share_text)
        except ValueError:
            share = -1.0
        if not 0.05 <= share <= 1.0:
            raise KaizalaValidationError(
                f"Invalid {source('bulk_share')} bulk_share={share_text!r}: expected a number from 0.05 to 1 "
                "(the most of the call budget bulk walks may use)."
            )
        tenant_limit_text = text("tenant_rate_limit_per_minute")
        try:
            tenant_limit = DEFAULT_TENANT_RATE_LIMIT_PER_MINUTE if tenant_limit_text is None else int(tenant_limit_text)
        except ValueError:
            tenant_limit = 0
        if tenant_limit < 1:
            raise KaizalaValidationError(
                f"Invalid {source('tenant_rate_limit_per_minute')} "
                f"tenant_rate_limit_per_minute={tenant_limit_text!r}: expected an integer >= 1."
            )
        redis_url = text("budget_redis_url")
        if backend == "redis" and not redis_url:
            raise KaizalaValidationError(
                f"Invalid {source('budget_backend')}: budget_backend='redis' needs budget_redis_url (e.g. redis://host:6379/0)."
            )
        if redis_url and not redis_url.startswith(("redis://", "rediss://", "unix://")):
            raise KaizalaValidationError(
                f"Invalid {source('budget_redis_url')} budget_redis_url: expected a redis://, rediss:// or unix:// URL."
            )
        return cls(
            backend=backend,
            directory=text("budget_dir"),
            redis_url=redis_url,
            bulk_share=share,
            tenant=text("tenant"),
            tenant_rate_limit_per_minute=tenant_limit,
        )

    @classmethod
    def from_extras(cls, conn_id: str, extras: Mapping[str, Any]) -> BudgetSettings:
        """Connection extras first, then the ``[kaizala]`` section of the Airflow config, then the defaults."""
        deployment = _airflow_config_values()

        def own(name: str) -> Any:
            value = extras.get(name)
            return extras.get(f"extra__kaizala__{name}") if value in (None, "") else value

        def get(name: str) -> Any:
            value = own(name)
            return deployment.get(name) if value in (None, "") else value

        def where(name: str) -> str:
            return "[kaizala] setting" if own(name) in (None, "") else f"connection {conn_id!r} extra"

        return cls.from_values(where, get)

    @classmethod
    def from_airflow_config(cls) -> BudgetSettings:
        """The ``[kaizala]`` section of the Airflow config (``AIRFLOW__KAIZALA__BUDGET_BACKEND`` etc.)."""
        return cls.from_values("[kaizala] setting", _airflow_config_values().get)


def _airflow_config_values() -> dict[str, Any]:
    try:
        from airflow.configuration import conf
    except ImportError:  # pragma: no cover - the provider always runs inside Airflow
        return {}
    values: dict[str, Any] = {}
    for name in SETTING_NAMES:
        value = conf.get("kaizala", name, fallback=None)
        if value not in (None, ""):
            values[name] = value
    return values


# ------------------------------------------------------------------------------------------- rules


@dataclass(frozen=True)
class Limit:
    """One budget: ``limit`` calls per ``window`` seconds; ``name`` is ``connector`` or ``tenant``."""

    key: str
    name: str
    limit: int
    window: float
    bulk_share: float


@dataclass
class BudgetState:
    """What a backend stores for one budget (times in the backend's clock, seconds)."""

    calls: dict[str, float] = field(default_factory=dict)  # ticket -> stamp, calls in the window
    interactive: dict[str, float] = field(default_factory=dict)  # the interactive ones among them
    waiting: dict[str, float] = field(default_factory=dict)  # interactive tickets waiting -> expiry
    next_bulk: float = 0.0
    hold_until: float = 0.0
    factor: float = 1.0
    since: float = 0.0

    def to_json(self) -> str:
        """Serialise (``host`` backend)."""
        return json.dumps(
            {
                "c": self.calls,
                "i": self.interactive,
                "w": self.waiting,
                "b": self.next_bulk,
                "h": self.hold_until,
                "f": self.factor,
                "s": self.since,
            },
            separators=(",", ":"),
        )

    @classmethod
    def from_json(cls, text: str) -> BudgetState:
        """Deserialise; an empty or damaged file gives a fresh state."""
        try:
            raw = json.loads(text) if text.strip() else {}
            return cls(
                calls={str(k): float(v) for k, v in raw.get("c", {}).items()},
                interactive={str(k): float(v) for k, v in raw.get("i", {}).items()},
                waiting={str(k): float(v) for k, v in raw.get("w", {}).items()},
                next_bulk=float(raw.get("b", 0.0)),
                hold_until=float(raw.get("h", 0.0)),
                factor=float(raw.get("f", 1.0)),
                since=float(raw.get("s", 0.0)),
            )
        except (ValueError, TypeError, AttributeError):
            log.warning("Kaizala call budget: a damaged budget file was reset.")
            return cls()

    def prune(self, now: float, window: float) -> None:
        """Forget calls that left the window and waiters that gave up; drop stamps from a clock jump."""
        edge = now - window
        for book in (self.calls, self.interactive):
            for ticket in [t for t, stamp in book.items() if stamp <= edge or stamp > now + window]:
                del book[ticket]
        for ticket in [t for t, expiry in self.waiting.items() if expiry <= now]:
            del self.waiting[ticket]
        if self.hold_until > now + 3600 or self.next_bulk > now + window:
            self.hold_until, self.next_bulk = min(self.hold_until, now), min(self.next_bulk, now)

    def rate_factor(self, now: float, window: float) -> float:
        """The share of the limit in force: lowered by 429s, recovering additively per window."""
        if self.factor >= 1.0:
            return 1.0
        return min(1.0, self.factor + RECOVERY_PER_WINDOW * max(0.0, now - self.since) / window)


def _floor(value: float) -> int:
    return math.floor(value + 1e-9)


def caps(state: BudgetState, limit: Limit, now: float) -> tuple[int, int]:
    """The budget's limit in force (after 429s) and the bulk walks' cap below it (the reserve left free)."""
    effective = max(1, _floor(limit.limit * state.rate_factor(now, limit.window)))
    reserve = min(1.0 - limit.bulk_share, max(IDLE_RESERVE, 2 * len(state.interactive) / limit.limit))
    return effective, max(1, _floor(effective * (1.0 - reserve)))


def check(state: BudgetState, limit: Limit, ticket: str, bulk: bool, now: float) -> tuple[float, bool]:
    """Seconds this call must wait on this budget (0: a slot is free now) and whether it is a 429 hold."""
    if now < state.hold_until:
        return state.hold_until - now, True
    effective, bulk_cap = caps(state, limit, now)
    cap = bulk_cap if bulk else effective
    wait = 0.0
    count = len(state.calls)
    if count >= cap:
        wait = sorted(state.calls.values())[count - cap] + limit.window - now
    if bulk:
        if count >= max(1, _floor(bulk_cap * BULK_BURST)):
            wait = max(wait, state.next_bulk - now)
        if any(other != ticket for other in state.waiting):
            wait = max(wait, limit.window / effective)
    return max(0.0, wait), False


def admit(state: BudgetState, limit: Limit, ticket: str, bulk: bool, now: float) -> None:
    """Book a slot for an admitted call."""
    before = len(state.calls)
    state.calls[ticket] = now
    state.waiting.pop(ticket, None)
    if bulk:
        bulk_cap = caps(state, limit, now)[1]
        spacing = limit.window / bulk_cap
        if before < max(1, _floor(bulk_cap * BULK_BURST)):  # a burst does not put later calls back
            state.next_bulk = now + spacing
        else:  # even spacing; a call woken a little late does not shift the ones after it
            state.next_bulk = max(state.next_bulk, now - spacing) + spacing
    else:
        state.interactive[ticket] = now


def decide(
    states: list[BudgetState], limits: tuple[Limit, ...], ticket: str, bulk: bool, now: float
) -> tuple[float, str]:
    """Admit the call on every budget at once, or say how long to wait and why (nothing is booked then)."""
    worst, reason = 0.0, ""
    for state, limit in zip(states, limits, strict=True):
        state.prune(now, limit.window)
        wait, held = check(state, limit, ticket, bulk, now)
        if wait > worst:
            worst = wait
            reason = "server 429 (Retry-After)" if held else f"{limit.name} budget"
    if worst > 0:
        if not bulk:
            for state in states:
                state.waiting[ticket] = now + worst + 1.0
        return worst, reason
    for state, limit in zip(states, limits, strict=True):
        admit(state, limit, ticket, bulk, now)
    return 0.0, ""


def settle(
    states: list[BudgetState], limits: tuple[Limit, ...], ticket: str, retry_after: float | None, now: float
) -> None:
    """The call was answered: stamp its slot at the answer's time; on HTTP 429 free it and hold off."""
    for index, (state, limit) in enumerate(zip(states, limits, strict=True)):
        if retry_after is None:
            state.calls[ticket] = now
            if ticket in state.interactive:
                state.interactive[ticket] = now
            continue
        state.calls.pop(ticket, None)  # a throttled call is not counted by the server
        state.interactive.pop(ticket, None)
        if index == 0:  # the connector budget; a tenant's 429 reaches every connector of it this way too
            state.hold_until = max(state.hold_until, now + retry_after)
            state.factor = max(MIN_FACTOR, state.rate_factor(now, limit.window) * DECREASE)
            state.since = state.hold_until


# ---------------------------------------------------------------------------------------- backends


@dataclass(frozen=True)
class Usage:
    """Calls in a budget's current window."""

    name: str
    used: int
    limit: int
    window: float
    factor: float

    @property
    def share(self) -> float:
        """``used / limit``."""
        return self.used / self.limit


class Store:
    """Where budgets live. Subclasses run :func:`decide`/:func:`settle` atomically over several budgets."""

    name = "local"

    def clock(self) -> float:
        """The store's clock."""
        return time.monotonic()

    def transact(self, limits: tuple[Limit, ...], action: Callable[[list[BudgetState], float], Any]) -> Any:
        """Run ``action(states, now)`` atomically on the states of ``limits``."""
        raise NotImplementedError

    def try_acquire(self, limits: tuple[Limit, ...], ticket: str, bulk: bool) -> tuple[float, str]:
        """Admit the call or return ``(seconds, reason)``."""
        return self.transact(limits, lambda states, now: decide(states, limits, ticket, bulk, now))

    def settle(self, limits: tuple[Limit, ...], ticket: str, retry_after: float | None) -> None:
        """Record the answer of an admitted call."""
        self.transact(limits, lambda states, now: settle(states, limits, ticket, retry_after, now))

    def usage(self, limits: tuple[Limit, ...]) -> list[Usage]:
        """Calls in each budget's window."""

        def read(states: list[BudgetState], now: float) -> list[Usage]:
            result = []
            for state, limit in zip(states, limits, strict=True):
                state.prune(now, limit.window)
                result.append(
                    Usage(limit.name, len(state.calls), limit.limit, limit.window, state.rate_factor(now, limit.window))
                )
            return result

        return self.transact(limits, read)


class LocalStore(Store):
    """Budgets of this process only (every hook of the process shares them)."""

    name = "local"

    def __init__(self) -> None:
        self._states: dict[str, BudgetState] = {}
        self._lock = threading.Lock()

    def transact(self, limits: tuple[Limit, ...], action: Callable[[list[BudgetState], float], Any]) -> Any:
        """Run ``action`` under the process lock."""
        with self._lock:
            states = [self._states.setdefault(limit.key, BudgetState()) for limit in limits]
            return action(states, self.clock())


class HostStore(Store):
    """Budgets in one small JSON file each under ``directory``, locked with ``fcntl.flock``.

    Every process of the host that uses the same directory shares them. Files are locked in key order, so
    two processes locking a connector and a tenant budget cannot deadlock. The clock is ``CLOCK_REALTIME``
    (shared by every process of the host); stamps from a clock jump are dropped.
    """

    name = "host"

    def __init__(self, directory: str) -> None:
        self.directory = directory

    def clock(self) -> float:
        """Wall-clock time, the one clock every process of the host reads alike."""
        return time.time()

    def transact(self, limits: tuple[Limit, ...], action: Callable[[list[BudgetState], float], Any]) -> Any:
        """Lock the files of ``limits``, load, run ``action``, write back."""
        order = sorted(range(len(limits)), key=lambda i: limits[i].key)
        with ExitStack() as stack:
            fds: dict[int, int] = {}
            for index in order:
                path = os.path.join(self.directory, f"{limits[index].key}.json")
                fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
                stack.callback(os.close, fd)
                fcntl.flock(fd, fcntl.LOCK_EX)
                fds[index] = fd
            states = []
            for index in range(len(limits)):
                size = os.fstat(fds[index]).st_size
                states.append(BudgetState.from_json(os.pread(fds[index], size, 0).decode() if size else ""))
            result = action(states, self.clock())
            for index, state in enumerate(states):
                data = state.to_json().encode()
                os.pwrite(fds[index], data, 0)
                os.ftruncate(fds[index], len(data))
            return result


_ACQUIRE_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local ticket, bulk, n = ARGV[1], ARGV[2] == '1', tonumber(ARGV[3])
local idle, burst = tonumber(ARGV[4]), tonumber(ARGV[5])
local recovery = tonumber(ARGV[6])
local worst, reason = 0, 0
local params = {}
for i = 1, n do
  local k, a = (i - 1) * 4, 6 + (i - 1) * 3
  local calls, inter, waiting, meta = KEYS[k + 1], KEYS[k + 2], KEYS[k + 3], KEYS[k + 4]
  local limit, window, share = tonumber(ARGV[a + 1]), tonumber(ARGV[a + 2]), tonumber(ARGV[a + 3])
  redis.call('ZREMRANGEBYSCORE', calls, '-inf', now - window)
  redis.call('ZREMRANGEBYSCORE', inter, '-inf', now - window)
  redis.call('ZREMRANGEBYSCORE', waiting, '-inf', now)
  local m = redis.call('HMGET', meta, 'next_bulk', 'hold_until', 'factor', 'since')
  local next_bulk, hold = tonumber(m[1]) or 0, tonumber(m[2]) or 0
  local factor, since = tonumber(m[3]) or 1, tonumber(m[4]) or 0
  if factor < 1 then factor = math.min(1, factor + recovery * math.max(0, now - since) / window) end
  local effective = math.max(1, math.floor(limit * factor + 1e-9))
  local reserve = math.min(1 - share, math.max(idle, 2 * redis.call('ZCARD', inter) / limit))
  local bulk_cap = math.max(1, math.floor(effective * (1 - reserve) + 1e-9))
  local wait, held, count = 0, 0, redis.call('ZCARD', calls)
  if now < hold then
    wait, held = hold - now, 1
  else
    local cap = effective
    if bulk then cap = bulk_cap end
    if count >= cap then
      local oldest = redis.call('ZRANGE', calls, count - cap, count - cap, 'WITHSCORES')
      wait = tonumber(oldest[2]) + window - now
    end
    if bulk then
      if count >= math.max(1, math.floor(bulk_cap * burst + 1e-9)) then wait = math.max(wait, next_bulk - now) end
      local others = redis.call('ZCARD', waiting) - (redis.call('ZSCORE', waiting, ticket) and 1 or 0)
      if others > 0 then wait = math.max(wait, window / effective) end
    end
  end
  params[i] = {calls, inter, waiting, meta, window, bulk_cap, next_bulk, count}
  if wait > worst then worst, reason = wait, i * 2 + held end
end
if worst > 0 then
  if not bulk then
    for i = 1, n do
      redis.call('ZADD', params[i][3], now + worst + 1, ticket)
      redis.call('PEXPIRE', params[i][3], math.ceil(params[i][5] * 2000) + 3600000)
    end
  end
  return {tostring(worst), reason}
end
for i = 1, n do
  local p = params[i]
  local ttl = math.ceil(p[5] * 2000) + 3600000
  redis.call('ZADD', p[1], now, ticket)
  redis.call('ZREM', p[3], ticket)
  if bulk then
    local spacing = p[5] / p[6]
    local next_bulk = math.max(p[7], now - spacing) + spacing
    if p[8] < math.max(1, math.floor(p[6] * burst + 1e-9)) then next_bulk = now + spacing end
    redis.call('HSET', p[4], 'next_bulk', tostring(next_bulk))
  else
    redis.call('ZADD', p[2], now, ticket)
    redis.call('PEXPIRE', p[2], ttl)
  end
  redis.call('PEXPIRE', p[1], ttl)
  redis.call('PEXPIRE', p[4], ttl)
end
return {'0', 0}
"""

_SETTLE_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local ticket, retry_after, n = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local decrease, floor, recovery = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
for i = 1, n do
  local k = (i - 1) * 4
  local calls, inter, meta = KEYS[k + 1], KEYS[k + 2], KEYS[k + 4]
  local window = tonumber(ARGV[6 + i])
  if retry_after < 0 then
    redis.call('ZADD', calls, now, ticket)
    if redis.call('ZSCORE', inter, ticket) then redis.call('ZADD', inter, now, ticket) end
  else
    redis.call('ZREM', calls, ticket)
    redis.call('ZREM', inter, ticket)
    if i == 1 then
      local m = redis.call('HMGET', meta, 'hold_until', 'factor', 'since')
      local hold, factor, since = tonumber(m[1]) or 0, tonumber(m[2]) or 1, tonumber(m[3]) or 0
      if factor < 1 then factor = math.min(1, factor + recovery * math.max(0, now - since) / window) end
      hold = math.max(hold, now + retry_after)
      redis.call('HSET', meta, 'hold_until', tostring(hold), 'factor', tostring(math.max(floor, factor * decrease)),
        'since', tostring(hold))
      redis.call('PEXPIRE', meta, math.ceil(window * 2000) + 3600000)
    end
  end
end
return 0
"""

_USAGE_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local recovery, out = tonumber(ARGV[1]), {}
for i = 1, #KEYS / 4 do
  local k = (i - 1) * 4
  local window = tonumber(ARGV[1 + i])
  local used = redis.call('ZCOUNT', KEYS[k + 1], '(' .. tostring(now - window), '+inf')
  local m = redis.call('HMGET', KEYS[k + 4], 'factor', 'since')
  local factor, since = tonumber(m[1]) or 1, tonumber(m[2]) or 0
  if factor < 1 then factor = math.min(1, factor + recovery * math.max(0, now - since) / window) end
  out[i] = {used, tostring(factor)}
end
return out
"""


class RedisStore(Store):
    """Budgets in Redis: per budget a sorted set of the calls in the window (scored by the Redis server's
    clock), one of the interactive calls, one of the interactive calls waiting, and a hash with the bulk
    pacing, the 429 hold-off and the rate factor. Every decision is one Lua script, so it is atomic across
    every process and host that uses the server.
    """

    name = "redis"

    def __init__(self, url: str, prefix: str = "kaizala:budget:") -> None:
        try:
            import redis
        except ImportError:
            raise KaizalaValidationError(
                "budget_backend='redis' needs the redis package: pip install 'airflow-provider-kaizala[redis]'."
            ) from None
        self.prefix = prefix
        self.client = redis.Redis.from_url(url, socket_timeout=2.0, socket_connect_timeout=2.0)
        self._acquire = self.client.register_script(_ACQUIRE_LUA)
        self._settle = self.client.register_script(_SETTLE_LUA)
        self._usage = self.client.register_script(_USAGE_LUA)

    def _keys(self, limits: tuple[Limit, ...]) -> list[str]:
        return [f"{self.prefix}{limit.key}:{part}" for limit in limits for part in ("calls", "inter", "wait", "meta")]

    def try_acquire(self, limits: tuple[Limit, ...], ticket: str, bulk: bool) -> tuple[float, str]:
        """One atomic decision on the Redis server."""
        args: list[Any] = [ticket, "1" if bulk else "0", len(limits), IDLE_RESERVE, BULK_BURST, RECOVERY_PER_WINDOW]
        for limit in limits:
            args += [limit.limit, limit.window, limit.bulk_share]
        wait_text, code = self._acquire(keys=self._keys(limits), args=args)
        wait = float(wait_text)
        if wait <= 0:
            return 0.0, ""
        index, held = divmod(int(code), 2)
        return wait, "server 429 (Retry-After)" if held else f"{limits[index - 1].name} budget"

    def settle(self, limits: tuple[Limit, ...], ticket: str, retry_after: float | None) -> None:
        """Stamp the slot at the answer (or free it and hold off on a 429), on the Redis server."""
        args: list[Any] = [
            ticket,
            -1 if retry_after is None else retry_after,
            len(limits),
            DECREASE,
            MIN_FACTOR,
            RECOVERY_PER_WINDOW,
        ]
        args += [limit.window for limit in limits]
        self._settle(keys=self._keys(limits), args=args)

    def usage(self, limits: tuple[Limit, ...]) -> list[Usage]:
        """Calls in each budget's window, read on the Redis server."""
        args: list[Any] = [RECOVERY_PER_WINDOW, *(limit.window for limit in limits)]
        rows = self._usage(keys=self._keys(limits), args=args)
        return [
            Usage(limit.name, int(used), limit.limit, limit.window, float(factor))
            for limit, (used, factor) in zip(limits, rows, strict=True)
        ]


_LOCAL = LocalStore()
_STORES: dict[tuple[str, str], Store] = {}
_STORES_LOCK = threading.Lock()


def usable_directory(directory: str) -> bool:
    """Whether ``directory`` exists or can be made, belongs to this user, and is writable."""
    try:
        os.makedirs(directory, mode=0o700, exist_ok=True)
        info = os.stat(directory)
    except OSError:
        return False
    return info.st_uid == os.getuid() and os.access(directory, os.W_OK | os.X_OK)


def store_for(settings: BudgetSettings) -> Store:
    """The process-wide store of ``settings`` (``auto`` resolves to ``host`` or ``local``)."""
    backend = settings.backend
    if backend == "local":
        return _LOCAL
    key = (backend, settings.redis_url or "") if backend == "redis" else ("host", settings.directory or "")
    with _STORES_LOCK:
        store = _STORES.get(key)
        if store is not None:
            return store
        if backend == "redis":
            store = RedisStore(str(settings.redis_url))
        else:
            directory = settings.directory or default_budget_dir()
            if usable_directory(directory):
                store = HostStore(directory)
            elif backend == "host":
                raise KaizalaValidationError(
                    f"Invalid budget_dir={directory!r}: the host budget needs a directory this user owns and can write."
                )
            else:
                log.warning(
                    "Kaizala call budget: %s is not usable, so the budget is per process (budget_backend=local).",
                    directory,
                )
                store = _LOCAL
        _STORES[key] = store
        return store


# ------------------------------------------------------------------------------------- the budget


@dataclass(frozen=True)
class Ticket:
    """An admitted call: settle it with :meth:`CallBudget.settle` when the answer arrives."""

    id: str
    bulk: bool


class CallBudget:
    """The budgets one connector's calls draw from: its own and, when a tenant is named, the tenant's.

    A hook's flow asks :meth:`acquire` before each request and hands the answer to :meth:`settle`.
    A backend that fails is replaced, with a warning: Redis (unreachable) by this host's budget, the host budget
    by the per-process one.
    """

    def __init__(self, store: Store, limits: tuple[Limit, ...]) -> None:
        self.store = store
        self.limits = limits

    @property
    def backend(self) -> str:
        """``local``, ``host`` or ``redis``."""
        return self.store.name

    def _fallback(self, err: Exception) -> None:
        """Replace a failed backend: Redis by this host's budget (still shared by every process here), the host
        budget by this process's own."""
        failed = self.store.name
        self.store = _LOCAL
        if failed == "redis" and usable_directory(default_budget_dir()):
            self.store = store_for(BudgetSettings(backend="host"))
        log.warning(
            "Kaizala call budget: the %s backend failed (%s); this hook now uses the %s budget (%s).",
            failed,
            type(err).__name__,
            self.store.name,
            "shared by the processes of this host" if self.store.name == "host" else "of this process only",
        )

    def try_acquire(self, ticket: Ticket) -> tuple[float, str]:
        """``(0, "")`` when admitted, else ``(seconds to wait, reason)``."""
        if not self.limits:
            return 0.0, ""
        try:
            return self.store.try_acquire(self.limits, ticket.id, ticket.bulk)
        except (OSError, ConnectionError, TimeoutError) as err:
            self._fallback(err)
            return self.store.try_acquire(self.limits, ticket.id, ticket.bulk)
        except Exception as err:
            if type(err).__module__.startswith("redis"):
                self._fallback(err)
                return self.store.try_acquire(self.limits, ticket.id, ticket.bulk)
            raise

    def acquire(self, endpoint: str, pause: Callable[[float, str], Any]) -> Generator[Any, Any, Ticket]:
        """Flow step: yield ``pause(seconds, reason)`` until the call is admitted; return its ticket."""
        if not self.limits:  # nothing tracked: no pause, no ticket id to draw
            return Ticket("", False)
        ticket = Ticket(uuid.uuid4().hex, endpoint in BULK_ENDPOINTS)
        waited, logged = 0.0, False
        while True:
            seconds, reason = self.try_acquire(ticket)
            if seconds <= 0:
                break
            if seconds > WAIT_LOG_SECONDS and not logged:
                log.info("Kaizala %s: waiting %.1f s for the %s.", endpoint, seconds, reason)
                logged = True
            waited += seconds
            yield pause(seconds, reason)
        if waited > WAIT_LOG_SECONDS and not logged:
            log.info("Kaizala %s: waited %.1f s for the call budget.", endpoint, waited)
        return ticket

    def settle(self, ticket: Ticket, status: int | None, headers: Mapping[str, str] | None = None) -> None:
        """Record the answer to an admitted call (``status`` None: no HTTP answer)."""
        if not self.limits:
            return
        retry_after: float | None = None
        if status == 429:
            retry_after = parse_retry_after_seconds((headers or {}).get("Retry-After"))
            log.info("Kaizala answered HTTP 429: every process of this connector holds off %.1f s.", retry_after)
        try:
            self.store.settle(self.limits, ticket.id, retry_after)
        except Exception as err:
            if isinstance(err, (OSError, ConnectionError, TimeoutError)) or type(err).__module__.startswith("redis"):
                self._fallback(err)
            else:
                raise

    def settle_outcome(self, ticket: Ticket, outcome: Any) -> None:
        """:meth:`settle` from a flow's ``Received`` (``status``, ``headers``) or ``TransportFailure``."""
        self.settle(ticket, getattr(outcome, "status", None), getattr(outcome, "headers", None))

    def usage(self) -> list[Usage]:
        """Calls in each budget's window (empty when nothing is tracked)."""
        if not self.limits:
            return []
        try:
            return self.store.usage(self.limits)
        except Exception as err:
            if isinstance(err, OSError) or type(err).__module__.startswith("redis"):
                return []
            raise


def parse_retry_after_seconds(value: str | None, cap: float = 600.0) -> float:
    """Seconds of a ``Retry-After`` header (delta-seconds or HTTP date); 1 s when absent or unreadable."""
    import pendulum

    from airflow_provider_kaizala.hooks.policy import parse_retry_after

    seconds = parse_retry_after(value, pendulum.now("UTC"), cap)
    return 1.0 if seconds is None else seconds


def budget_key(*parts: str) -> str:
    """A file- and key-safe digest naming one budget (no secret goes into it)."""
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:32]


def connector_budget(
    token_root: str, application_id: str, limit: int, window: float, settings: BudgetSettings | None = None
) -> CallBudget:
    """The budget of one connector (and of its tenant, if named), from ``settings``.

    Without ``settings`` the ``[kaizala]`` section of the Airflow config (or the defaults) applies.
    """
    settings = settings if settings is not None else BudgetSettings.from_airflow_config()
    limits: list[Limit] = []
    if limit <= MAX_TRACKED_LIMIT:
        limits.append(
            Limit(budget_key("connector", token_root, application_id), "connector", limit, window, settings.bulk_share)
        )
    if settings.tenant and settings.tenant_rate_limit_per_minute <= MAX_TRACKED_LIMIT:
        limits.append(
            Limit(
                budget_key("tenant", token_root, settings.tenant),
                "tenant",
                settings.tenant_rate_limit_per_minute,
                window,
                settings.bulk_share,
            )
        )
    store = store_for(settings) if limits else _LOCAL
    return CallBudget(store, tuple(limits))


__all__ = [
    "BULK_ENDPOINTS",
    "BudgetSettings",
    "CallBudget",
    "Limit",
    "Ticket",
    "Usage",
    "connector_budget",
    "default_budget_dir",
]
