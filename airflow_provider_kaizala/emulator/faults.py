"""Switchable faults of the Kaizala emulator: throttling, injected errors, drops, slowness, relocation, expiry.

Every switch lives in :class:`FaultConfig`; it is set from CLI flags at start-up and merged at run time by
``POST /_emulator/faults``. Random decisions use one ``random.Random(fault_seed)`` so runs are reproducible.
"""

from __future__ import annotations

import math
import random
import re
from collections import deque
from collections.abc import Callable
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

PHASES = ("before", "after")


class FaultConfigError(ValueError):
    """Raised for an unknown key or an invalid value in a fault update."""


def _refusing(check: Callable[[Any], Any]) -> Any:
    """``check`` as a before-validator: a value of the wrong type (``TypeError``) or a bad pattern (``re.error``)
    is a validation error like any other, not a crash."""

    def validate(value: Any) -> Any:
        try:
            return check(value)
        except (TypeError, OverflowError, re.error) as exc:
            raise ValueError(str(exc)) from None

    return BeforeValidator(validate)


def _count(value: Any) -> int:
    """A whole number >= 0 (digits in a string too; ``None`` is 0); booleans and fractions are refused."""
    if value is None:
        return 0
    if isinstance(value, bool) or int(value) != float(value) or int(value) < 0:
        raise ValueError("must be a whole number >= 0")
    return int(value)


def _positive_count(value: Any) -> int:
    if isinstance(value, bool) or int(value) != float(value) or int(value) <= 0:
        raise ValueError("must be a whole number > 0")
    return int(value)


#: The longest duration a switch takes (a year): beyond it a window or a delay means nothing but overflow.
MAX_SECONDS = 365 * 86400.0


def _seconds(value: Any) -> float:
    number = float(value)
    if isinstance(value, bool) or not math.isfinite(number) or not 0 < number <= MAX_SECONDS:
        raise ValueError("must be a number of seconds > 0 and at most a year (31536000)")
    return number


def _seconds_or_zero(value: Any) -> float:
    number = float(value)
    if isinstance(value, bool) or not math.isfinite(number) or not 0 <= number <= MAX_SECONDS:
        raise ValueError("must be a number of seconds >= 0 and at most a year (31536000)")
    return number


def _rate(value: Any) -> float:
    number = float(value)
    if isinstance(value, bool) or not 0.0 <= number <= 1.0:
        raise ValueError("must be a probability between 0 and 1")
    return number


def _flag(value: Any) -> bool:
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    if not isinstance(value, bool):
        raise ValueError("must be true or false")
    return value


def _statuses(value: Any) -> list[int]:
    """A non-empty list of 5xx statuses (or the comma-separated text of one, as on the command line)."""
    items = [s for s in value.split(",") if s.strip()] if isinstance(value, str) else list(value)
    statuses = [int(s) for s in items]
    if not statuses or any(not 500 <= s <= 599 for s in statuses):
        raise ValueError("must be a non-empty list of 5xx statuses")
    return statuses


def _regex(value: Any) -> str | None:
    if value in (None, ""):
        return None
    re.compile(value)
    return str(value)


def _switch(group: str, help_text: str, metavar: str | None = None) -> Any:
    """Field metadata of a switch: its command-line group, help text and metavar (see ``__main__``)."""
    extra: dict[str, Any] = {"group": group}
    if metavar:
        extra["metavar"] = metavar
    return Field(description=help_text, json_schema_extra=extra)


Count = Annotated[int, _refusing(_count)]
PositiveCount = Annotated[int, _refusing(_positive_count)]
Seconds = Annotated[float, _refusing(_seconds)]
SecondsOrZero = Annotated[float, _refusing(_seconds_or_zero)]
Rate = Annotated[float, _refusing(_rate)]
Flag = Annotated[bool, _refusing(_flag)]
Phase = Literal["before", "after"]

TOKENS = "tokens and throttling"
FAULTS = "injected faults (API calls only, never /_emulator)"
HOOKS = "webhook delivery"
DATA = "data"


def flag_text(value: object) -> str | None:
    """A switch's value as it is written on the command line (``500,502,503``, ``false``; ``None``: not given)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, list):
        return ",".join(map(str, value))
    return str(value)


class FaultConfig(BaseModel):
    """Every switch of the emulator, declared once: the admin API keys (``POST /_emulator/faults``), the harness
    keyword names and (with dashes) the command-line flags, with their defaults, checks and help."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    extensions: Annotated[
        Flag,
        _switch(DATA, "add undocumented convenience fields to answers (sentAtMs and actionId in action lists, ...)"),
    ] = False
    access_token_lifetime: Annotated[Seconds, _switch(TOKENS, "access token lifetime, seconds", "S")] = 86400.0
    token_expire_every: Annotated[
        Count, _switch(TOKENS, "expire a connector's access tokens after every N of its API calls (0 = never)", "N")
    ] = 0
    cursor_lifetime: Annotated[
        SecondsOrZero,
        _switch(
            TOKENS,
            "seconds a subscriber-list cursor stays valid on the emulator clock; older ones get 400 'Cursor expired' "
            "(0 = cursors never expire)",
            "S",
        ),
    ] = 0.0
    throttle_limit: Annotated[Count, _switch(TOKENS, "calls per window per connector (0 = off)", "N")] = 100
    throttle_window: Annotated[Seconds, _switch(TOKENS, "sliding throttle window, seconds", "S")] = 60.0
    tenant_throttle_limit: Annotated[
        Count, _switch(TOKENS, "calls per window per tenant, all connectors together (0 = off)", "N")
    ] = 300
    throttle_auth: Annotated[Flag, _switch(TOKENS, "count /v1/accessToken calls in the throttle windows")] = False
    error_rate: Annotated[Rate, _switch(FAULTS, "probability (0-1) of an injected 5xx", "F")] = 0.0
    error_statuses: Annotated[
        list[int], _refusing(_statuses), _switch(FAULTS, "comma-separated 5xx statuses to inject", "LIST")
    ] = [500, 502, 503]
    drop_rate: Annotated[
        Rate, _switch(FAULTS, "probability (0-1) that the TCP connection is reset without an answer", "F")
    ] = 0.0
    drop_phase: Annotated[
        Phase, _switch(FAULTS, "drop before the call is processed, or after (the change is made, the answer lost)")
    ] = "before"
    slow_rate: Annotated[Rate, _switch(FAULTS, "probability (0-1) that a call is delayed", "F")] = 0.0
    slow_seconds: Annotated[Seconds, _switch(FAULTS, "delay of a slow call, seconds", "S")] = 2.0
    slow_phase: Annotated[
        Phase, _switch(FAULTS, "delay before processing the call, or after processing it (before answering)")
    ] = "before"
    relocate_after: Annotated[
        Count,
        _switch(FAULTS, "move a connector to the other endpoint (308) after every N of its API calls (0 = never)", "N"),
    ] = 0
    fault_paths: Annotated[
        str | None,
        _refusing(_regex),
        _switch(
            FAULTS, "only paths matching this regular expression get error/drop/slow faults (default: all)", "REGEX"
        ),
    ] = None
    fault_seed: Annotated[Count, _switch(FAULTS, "seed of the fault dice (runs are reproducible)", "N")] = 0
    media_max_bytes: Annotated[
        PositiveCount, _switch(FAULTS, "largest POST /v1/media body; bigger ones get 413", "N")
    ] = 50 * 1024 * 1024
    webhook_validation_timeout: Annotated[
        Seconds, _switch(HOOKS, "seconds a callback has to echo the validationToken at registration", "S")
    ] = 5.0
    webhook_delivery_timeout: Annotated[Seconds, _switch(HOOKS, "seconds per delivery attempt", "S")] = 5.0
    webhook_retries: Annotated[
        Count, _switch(HOOKS, "retries after a failed delivery; then the webhook is disabled (active: false)", "N")
    ] = 6
    webhook_retry_base: Annotated[
        Seconds,
        _switch(HOOKS, "first retry delay in seconds, doubled at each retry (real service: ~2 days in all)", "S"),
    ] = 0.2
    webhook_duplicate_rate: Annotated[
        Rate, _switch(HOOKS, "probability (0-1) that a delivered event is delivered once more (same eventId)", "F")
    ] = 0.0

    def to_json(self) -> dict[str, Any]:
        return self.model_dump()

    def command_line(self) -> list[str]:
        """These switches as ``kaizala-emulator`` flags (``--error-statuses 500,502``); unset ones are left out."""
        out: list[str] = []
        for name, value in self.model_dump().items():
            text = flag_text(value)
            if text is not None:
                out += [f"--{name.replace('_', '-')}", text]
        return out

    def merge(self, changes: dict[str, Any]) -> None:
        """Apply a partial update, validating every key and value first (all or nothing)."""
        for key in changes:
            if key not in type(self).model_fields:
                raise FaultConfigError(f"unknown fault setting {key!r}")
        try:
            staged = type(self).model_validate({**self.model_dump(), **changes})
        except ValidationError as exc:
            first = exc.errors()[0]
            key = str(first["loc"][0]) if first["loc"] else "?"
            reason = str(first.get("msg", "")).removeprefix("Value error, ")
            raise FaultConfigError(f"invalid value for {key}: {changes.get(key)!r} ({reason})") from None
        for key in changes:
            setattr(self, key, getattr(staged, key))


class SlidingWindow:
    """Sliding-window call counter per key (connector or tenant)."""

    def __init__(self) -> None:
        self.calls: dict[str, deque[float]] = {}

    def check(self, key: str, now: float, limit: int, window: float) -> float | None:
        """Seconds to wait if ``key`` is at its limit, else ``None`` (does not record)."""
        if limit <= 0:
            return None
        q = self.calls.get(key)
        if q is None:
            return None
        edge = now - window
        while q and q[0] <= edge:
            q.popleft()
        if len(q) < limit:
            return None
        return q[0] + window - now

    def record(self, key: str, now: float) -> None:
        q = self.calls.get(key)
        if q is None:
            q = self.calls[key] = deque()
        q.append(now)

    def clear(self) -> None:
        self.calls.clear()


class FaultEngine:
    """Holds the fault config, the seeded RNG and the per-connector counters."""

    def __init__(self, config: FaultConfig) -> None:
        self.initial = config.model_copy(deep=True)
        self.config = config
        self.rng = random.Random(config.fault_seed)
        self.webhook_rng = random.Random(config.fault_seed + 104729)  # duplicate deliveries
        self.connector_window = SlidingWindow()
        self.tenant_window = SlidingWindow()
        self.resource_calls: dict[str, int] = {}  # since last relocation, per connector
        self.expiry_calls: dict[str, int] = {}  # since last forced expiry, per connector
        self._path_re: re.Pattern[str] | None = None
        self._compile()

    def _compile(self) -> None:
        self._path_re = re.compile(self.config.fault_paths) if self.config.fault_paths else None

    def reset(self) -> None:
        self.config = self.initial.model_copy(deep=True)
        self.rng = random.Random(self.config.fault_seed)
        self.webhook_rng = random.Random(self.config.fault_seed + 104729)
        self.connector_window.clear()
        self.tenant_window.clear()
        self.resource_calls.clear()
        self.expiry_calls.clear()
        self._compile()

    def update(self, changes: dict[str, Any]) -> dict[str, Any]:
        self.config.merge(changes)
        if "fault_seed" in changes:
            self.rng = random.Random(self.config.fault_seed)
            self.webhook_rng = random.Random(self.config.fault_seed + 104729)
        if "throttle_window" in changes or "throttle_limit" in changes or "tenant_throttle_limit" in changes:
            self.connector_window.clear()
            self.tenant_window.clear()
        self._compile()
        return self.config.to_json()

    def applies(self, path: str) -> bool:
        return self._path_re is None or self._path_re.search(path) is not None

    def roll(self, rate: float) -> bool:
        return rate > 0 and self.rng.random() < rate

    def pick_error_status(self) -> int:
        return self.rng.choice(self.config.error_statuses)

    def throttle(self, app_id: str, tenant_id: str, now: float) -> int | None:
        """Retry-After seconds if this call must be throttled; otherwise record it and return ``None``."""
        cfg = self.config
        waits = [
            self.connector_window.check(app_id, now, cfg.throttle_limit, cfg.throttle_window),
            self.tenant_window.check(tenant_id, now, cfg.tenant_throttle_limit, cfg.throttle_window),
        ]
        worst = max((w for w in waits if w is not None), default=None)
        if worst is not None:
            return max(1, math.ceil(worst))
        if cfg.throttle_limit > 0:
            self.connector_window.record(app_id, now)
        if cfg.tenant_throttle_limit > 0:
            self.tenant_window.record(tenant_id, now)
        return None
