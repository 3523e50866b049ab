"""Switchable faults of the Kaizala emulator: throttling, injected errors, drops, slowness, relocation, expiry.

Every switch lives in :class:`FaultConfig`; it is set from CLI flags at start-up and merged at run time by
``POST /_emulator/faults``. Random decisions use one ``random.Random(fault_seed)`` so runs are reproducible.
"""

from __future__ import annotations

import math
import random
import re
from collections import deque
from dataclasses import asdict, dataclass, field, fields
from typing import Any

PHASES = ("before", "after")


class FaultConfigError(ValueError):
    """Raised for an unknown key or an invalid value in a fault update."""


@dataclass
class FaultConfig:
    """The complete set of fault switches (names are the admin API / harness keyword names)."""

    throttle_limit: int = 100  # calls per window per connector; 0 disables
    throttle_window: float = 60.0  # seconds
    tenant_throttle_limit: int = 300  # calls per window per tenant; 0 disables
    throttle_auth: bool = False  # count /v1/accessToken calls too (default no)
    access_token_lifetime: float = 86400.0
    error_rate: float = 0.0
    error_statuses: list[int] = field(default_factory=lambda: [500, 502, 503])
    drop_rate: float = 0.0
    drop_phase: str = "before"
    slow_rate: float = 0.0
    slow_seconds: float = 2.0
    slow_phase: str = "before"
    relocate_after: int = 0  # relocate a connector after every N of its resource calls; 0 disables
    token_expire_every: int = 0  # expire a connector's access tokens after every N resource calls; 0 disables
    fault_paths: str | None = None  # regex (re.search on the path) restricting error/drop/slow faults
    fault_seed: int = 0
    media_max_bytes: int = 50 * 1024 * 1024  # POST /v1/media bodies above this get 413
    webhook_validation_timeout: float = 5.0  # seconds the callback has to echo the validationToken
    webhook_delivery_timeout: float = 5.0  # seconds per delivery attempt
    webhook_retries: int = 6  # retries after the first failed attempt, then the webhook is disabled
    webhook_retry_base: float = 0.2  # first retry delay in seconds; doubles each retry (real: ~2 days in total)
    webhook_duplicate_rate: float = 0.0  # probability that a delivered event is delivered once more (same eventId)
    cursor_lifetime: float = 0.0  # seconds a subscriber cursor stays valid (emulator clock); 0 = never expires
    extensions: bool = False  # add the emulator's undocumented convenience fields (sentAtMs, ...) to answers

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def merge(self, changes: dict[str, Any]) -> None:
        """Apply a partial update, validating every key and value first (all or nothing)."""
        known = {f.name: f for f in fields(self)}
        staged: dict[str, Any] = {}
        for key, value in changes.items():
            if key not in known:
                raise FaultConfigError(f"unknown fault setting {key!r}")
            staged[key] = _coerce(key, value)
        for key, value in staged.items():
            setattr(self, key, value)


_INT_KEYS = {
    "throttle_limit",
    "tenant_throttle_limit",
    "relocate_after",
    "token_expire_every",
    "fault_seed",
    "webhook_retries",
}
_POSITIVE_INT_KEYS = {"media_max_bytes"}
_FLOAT_KEYS = {
    "throttle_window",
    "access_token_lifetime",
    "slow_seconds",
    "webhook_validation_timeout",
    "webhook_delivery_timeout",
    "webhook_retry_base",
}
_NON_NEGATIVE_FLOAT_KEYS = {"cursor_lifetime"}
_RATE_KEYS = {"error_rate", "drop_rate", "slow_rate", "webhook_duplicate_rate"}


def _coerce(key: str, value: Any) -> Any:
    try:
        if key in _INT_KEYS:
            if value is None:
                return 0
            if isinstance(value, bool) or int(value) != float(value) or int(value) < 0:
                raise ValueError
            return int(value)
        if key in _POSITIVE_INT_KEYS:
            if isinstance(value, bool) or int(value) != float(value) or int(value) <= 0:
                raise ValueError
            return int(value)
        if key in _FLOAT_KEYS:
            v = float(value)
            if not math.isfinite(v) or v <= 0:
                raise ValueError
            return v
        if key in _NON_NEGATIVE_FLOAT_KEYS:
            v = float(value)
            if isinstance(value, bool) or not math.isfinite(v) or v < 0:
                raise ValueError
            return v
        if key in _RATE_KEYS:
            v = float(value)
            if not 0.0 <= v <= 1.0:
                raise ValueError
            return v
        if key in ("throttle_auth", "extensions"):
            if isinstance(value, str):
                if value.lower() not in ("true", "false"):
                    raise ValueError
                return value.lower() == "true"
            if not isinstance(value, bool):
                raise ValueError
            return value
        if key == "error_statuses":
            statuses = [int(s) for s in value]
            if not statuses or any(not 500 <= s <= 599 for s in statuses):
                raise ValueError
            return statuses
        if key in ("drop_phase", "slow_phase"):
            if value not in PHASES:
                raise ValueError
            return value
        if key == "fault_paths":
            if value in (None, ""):
                return None
            re.compile(value)
            return str(value)
    except (TypeError, ValueError, re.error) as exc:
        raise FaultConfigError(f"invalid value for {key}: {value!r}") from exc
    raise FaultConfigError(f"unknown fault setting {key!r}")  # pragma: no cover


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
        self.initial = FaultConfig(**asdict(config))
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
        self.config = FaultConfig(**asdict(self.initial))
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
