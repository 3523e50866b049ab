"""Progress of a long walk, reported by time: an INFO line at least every 30 s, whatever the page rate.

At the real limit (100 calls a minute, 50 people a page) a walk of a big group runs for hours; a line every
N pages would leave the log silent for minutes. :class:`WalkProgress` is told about every page and logs
when ``interval`` seconds have passed since its last line: pages, people, rate, the share of the call budget
in use and, when the total is known, the time left::

    progress = WalkProgress("subscribers of group abc@1", total=group_size, budget=hook.call_budget)
    for page in hook.iter_subscriber_pages(group_id):
        ...
        progress.page(len(page))
    progress.done()  # a closing line, if the walk lasted long enough to report progress
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any, Protocol

log = logging.getLogger(__name__)


class InfoLogger(Protocol):
    """Anything with ``info(msg, *args)``: a ``logging.Logger``, an adapter, or a task's structlog logger."""

    def info(self, msg: Any, /, *args: Any) -> Any:
        """Log ``msg % args`` at INFO."""


#: Seconds between two progress lines.
DEFAULT_INTERVAL = 30.0


def format_duration(seconds: float) -> str:
    """``1h02m``, ``3m05s`` or ``12s``."""
    whole = max(0, round(seconds))
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    if minutes:
        return f"{minutes}m{secs:02d}s"
    return f"{secs}s"


class WalkProgress:
    """Time-based progress lines for one walk (see the module docstring).

    :param what: what is walked, e.g. ``"subscribers of group X"`` (no secret: it goes to the log).
    :param total: the number of people expected, if known (gives the ETA).
    :param budget: a :class:`~airflow_provider_kaizala.hooks.budget.CallBudget` whose use is reported.
    :param interval: seconds between lines (at most; a line is written on the first page after it).
    :param logger: where lines go (the task's logger, for example).
    :param clock: a monotonic clock.
    """

    def __init__(
        self,
        what: str,
        *,
        total: int | None = None,
        budget: Any = None,
        interval: float = DEFAULT_INTERVAL,
        logger: InfoLogger | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if interval <= 0:
            raise ValueError(f"Invalid interval={interval!r}: expected a number of seconds > 0.")
        self.what = what
        self.total = total if total is not None and total >= 0 else None
        self.budget = budget
        self.interval = interval
        self.log = logger or log
        self.clock = clock
        self.started = clock()
        self.last_line = self.started
        self.pages = 0
        self.people = 0
        self.lines = 0

    def page(self, people: int) -> None:
        """One more page of ``people``; writes a line if ``interval`` has passed since the last one."""
        self.pages += 1
        self.people += people
        now = self.clock()
        if now - self.last_line >= self.interval:
            self._line(now, final=False)

    def done(self, *, always: bool = False) -> None:
        """The walk ended: a closing line if the walk was long enough to report progress (or ``always``)."""
        if always or self.lines or self.clock() - self.started >= self.interval:
            self._line(self.clock(), final=True)

    def budget_text(self) -> str:
        """``budget in use 97% (connector 97/100 per 60s)``, or ``""`` without a tracked budget."""
        if self.budget is None:
            return ""
        usages = self.budget.usage()
        if not usages:
            return ""
        parts = []
        for usage in usages:
            text = f"{usage.name} {usage.used}/{usage.limit} per {usage.window:g}s"
            if usage.factor < 1:
                text += f", lowered to {usage.factor:.0%} after HTTP 429"
            parts.append(text)
        busiest = max(usage.share for usage in usages)
        return f"; budget in use {busiest:.0%} ({'; '.join(parts)}, {self.budget.backend} backend)"

    def _line(self, now: float, *, final: bool) -> None:
        elapsed = max(now - self.started, 1e-9)
        per_minute = self.people / elapsed * 60
        text = (
            f"Kaizala walk of {self.what}: {'done, ' if final else ''}{self.pages:,} pages, {self.people:,} people "
            f"in {format_duration(elapsed)} ({per_minute:,.0f} people/min){self.budget_text()}"
        )
        if self.total is not None and not final:
            left = max(0, self.total - self.people)
            if per_minute > 0:
                text += f"; about {format_duration(left / per_minute * 60)} left for {left:,} of {self.total:,}"
            else:
                text += f"; {left:,} of {self.total:,} left"
        self.log.info("%s.", text)
        self.last_line = now
        self.lines += 1
