"""Operators for the subscribers of public groups (``ConnectGroup``)."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterator
from typing import Any

from airflow_provider_kaizala.exceptions import KaizalaValidationError
from airflow_provider_kaizala.membership import DEFAULT_CHECKPOINT_MAX_AGE, DEFAULT_CHECKPOINT_PAGES
from airflow_provider_kaizala.operators.base import KaizalaBaseOperator, KaizalaListOperator

#: Per-number reasons that mean "already in the wanted state": not failures, so re-runs are safe.
BENIGN_REASONS = {"isAdded": "AlreadySubscribed", "isRemoved": "NotSubscribed"}


def summarise_outcomes(requested: list[str], outcomes: dict[str, Any], key: str) -> dict[str, Any]:
    """Counts of a bulk add/remove and the numbers that failed, with their reasons."""
    done = unchanged = 0
    failed: dict[str, str] = {}
    for number in requested:
        outcome = outcomes.get(number)
        if outcome is None:
            failed[number] = "NoResult"
        elif outcome.get(key):
            done += 1
        elif outcome.get("reason") == BENIGN_REASONS[key]:
            unchanged += 1
        else:
            failed[number] = str(outcome.get("reason") or "Unknown")
    return {"requested": len(requested), "changed": done, "unchanged": unchanged, "failed": failed}


class KaizalaListSubscribersOperator(KaizalaListOperator):
    """Walk every subscriber of a public group, page by page (one page in memory at a time).

    Subscriber lists can be huge: by default only counts are returned (no ids). Name ``output_path`` to get
    every subscriber as JSON Lines in a file; ``return_list`` puts them into XCom, for small groups only.

    With ``output_path``, the walk is **resumable**: every ``checkpoint_pages`` pages the people walked since the
    last checkpoint are written to a part file and the cursor of the next page to ``checkpoint.json``, both in
    ``<output_path>.partial/``. A retry of a task that was killed, lost or timed out resumes from there instead
    of page 1; a checkpoint older than ``checkpoint_max_age`` seconds is discarded, and one whose cursor the
    server refuses restarts the walk from page 1 (both logged). The file at ``output_path`` is written whole
    at the end, and the ``.partial`` folder removed.

    :param group_id: the public group (templated).
    :param page_size: subscribers per call, 1 to 50 (templated).
    :param checkpoint_pages: pages between two checkpoints of a walk to ``output_path`` (templated).
    :param checkpoint_max_age: seconds after which a checkpoint is discarded instead of resumed (templated).
    :return: ``{"groupId", "count", "unprovisioned", "pages"}``, plus ``path`` or ``subscribers``.
    """

    group_id: str
    page_size: int = 50
    checkpoint_pages: int = DEFAULT_CHECKPOINT_PAGES
    checkpoint_max_age: float = DEFAULT_CHECKPOINT_MAX_AGE

    def call(self, context: Any) -> dict[str, Any]:
        """Walk the subscribers."""
        if self.output_path and not self.return_list:
            return self._to_file()
        stats = {"unprovisioned": 0, "pages": 0}

        def rows() -> Iterator[dict[str, Any]]:
            for page in self.hook.iter_subscriber_pages(self.group_id, page_size=self.page_size):
                stats["pages"] += 1
                stats["unprovisioned"] += sum(not subscriber.get("isProvisioned", True) for subscriber in page)
                yield from page

        result = {"groupId": self.group_id, **self.listing(rows(), "subscribers"), **stats}
        self.log.info("Group %s has %d subscribers.", self.group_id, result["count"])
        return result

    # -- resumable walk to a file --------------------------------------------------------------------

    def _check_settings(self) -> tuple[int, float]:
        pages, age = self.checkpoint_pages, self.checkpoint_max_age
        if isinstance(pages, bool) or not isinstance(pages, int) or pages < 1:
            raise KaizalaValidationError(f"Invalid checkpoint_pages={pages!r}: expected an integer >= 1.")
        try:
            seconds = float(age)
        except (TypeError, ValueError):
            seconds = -1.0
        if isinstance(age, bool) or not seconds > 0:
            raise KaizalaValidationError(f"Invalid checkpoint_max_age={age!r}: expected a number of seconds > 0.")
        return pages, seconds

    def _to_file(self) -> dict[str, Any]:
        from airflow_provider_kaizala.exceptions import KaizalaBadRequestError
        from airflow_provider_kaizala.hooks.validation import validate_id, validate_page_size
        from airflow_provider_kaizala.storage import storage_path

        group_id = validate_id(self.group_id, "group_id")
        page_size = validate_page_size(self.page_size)
        every, max_age = self._check_settings()
        target = storage_path(self.output_path)
        folder = target.with_name(target.name + ".partial")
        state = self._load_checkpoint(folder, group_id, max_age)
        if state is not None:
            self.log.info(
                "Resuming the walk of the subscribers of %s from its checkpoint: %d pages and %d people already "
                "written to %s.",
                group_id,
                state["pages"],
                state["count"],
                folder,
            )
        received = [0]
        try:
            state = self._walk_to_parts(folder, group_id, page_size, every, state, received)
        except KaizalaBadRequestError:
            if state is None or received[0]:
                raise
            self.log.warning(
                "Kaizala no longer accepts the saved cursor of the walk of the subscribers of %s (HTTP 400): "
                "restarting it from page 1; the %d people written before are discarded.",
                group_id,
                state["count"],
            )
            _drop_parts(folder)
            state = self._walk_to_parts(folder, group_id, page_size, every, None, received)
        target.parent.mkdir(parents=True, exist_ok=True)
        with target.open("w") as out:
            for number in range(1, state["parts"] + 1):
                out.write((folder / _part_name(number)).read_text())
            out.write("".join(state["tail"]))
        _drop_parts(folder)
        result = {
            "groupId": group_id,
            "path": str(target),
            "count": state["count"],
            "unprovisioned": state["unprovisioned"],
            "pages": state["pages"],
        }
        self.log.info("Group %s has %d subscribers.", group_id, result["count"])
        return result

    def _load_checkpoint(self, folder: Any, group_id: str, max_age: float) -> dict[str, Any] | None:
        path = folder / "checkpoint.json"
        if not path.exists():
            return None
        try:
            state = json.loads(path.read_text())
            fields = (state["groupId"], state["cursor"], state["parts"], state["pages"], state["count"])
            age = time.time() - float(state["savedAt"])
            for number in range(1, int(state["parts"]) + 1):
                if not (folder / _part_name(number)).exists():
                    raise ValueError(f"part {number} is missing")
        except (OSError, ValueError, KeyError, TypeError) as err:
            why = f"it is unreadable ({err})"
        else:
            if fields[0] != group_id:
                why = f"it belongs to group {fields[0]}"
            elif not 0 <= age <= max_age:
                why = f"it is {age:.0f} s old (checkpoint_max_age {max_age:g} s)"
            else:
                return dict(state)
        self.log.warning("Discarding the checkpoint of an interrupted walk in %s: %s.", folder, why)
        _drop_parts(folder)
        return None

    def _walk_to_parts(
        self,
        folder: Any,
        group_id: str,
        page_size: int,
        every: int,
        state: dict[str, Any] | None,
        received: list[int],
    ) -> dict[str, Any]:
        """Walk from the state's cursor; every ``every`` pages a part file, then the checkpoint naming it."""
        state = dict(state) if state else {"groupId": group_id, "parts": 0, "pages": 0, "count": 0, "unprovisioned": 0}
        cursor = state.get("cursor")
        lines: list[str] = []
        since = 0
        pages = self.hook.iter_subscriber_pages(group_id, page_size=page_size, cursor=cursor, with_cursor=True)
        for page, next_cursor in pages:
            received[0] += 1
            state["pages"] += 1
            state["count"] += len(page)
            state["unprovisioned"] += sum(not subscriber.get("isProvisioned", True) for subscriber in page)
            lines.extend(json.dumps(row, separators=(",", ":"), sort_keys=True) + "\n" for row in page)
            since += 1
            if next_cursor is not None and since >= every:
                folder.mkdir(parents=True, exist_ok=True)
                state["parts"] += 1
                (folder / _part_name(state["parts"])).write_text("".join(lines))
                state["cursor"], state["savedAt"] = next_cursor, time.time()
                saved = {key: state[key] for key in ("groupId", "cursor", "parts", "pages", "count", "unprovisioned")}
                (folder / "checkpoint.json").write_text(json.dumps({**saved, "savedAt": state["savedAt"]}))
                lines, since = [], 0
        state["tail"] = lines
        return state


def _part_name(number: int) -> str:
    return f"part-{number:06d}.jsonl"


def _drop_parts(folder: Any) -> None:
    """Remove a walk's checkpoint and part files (the folder itself may stay on object storage)."""
    if not folder.exists():
        return
    for path in list(folder.iterdir()):
        if path.name == "checkpoint.json" or (path.name.startswith("part-") and path.name.endswith(".jsonl")):
            path.unlink()
    with contextlib.suppress(OSError):
        folder.rmdir()


class _SubscribersChangeOperator(KaizalaBaseOperator):
    """Shared shape of the add and remove operators."""

    group_id: str
    phone_numbers: list[str]
    outcome_key = ""

    def apply(self, numbers: list[str]) -> dict[str, Any]:
        """Make the change; the per-number outcomes."""
        raise NotImplementedError

    def call(self, context: Any) -> dict[str, Any]:
        """Apply the change in batches (checked first: they are several calls) and summarise the outcomes."""
        from airflow_provider_kaizala.hooks.validation import validate_phone_numbers

        numbers = validate_phone_numbers(self.phone_numbers, "phone_numbers")
        summary = summarise_outcomes(numbers, self.apply(numbers), self.outcome_key)
        self.log.info(
            "%d requested, %d changed, %d already so, %d failed.",
            summary["requested"],
            summary["changed"],
            summary["unchanged"],
            len(summary["failed"]),
        )
        return {"groupId": self.group_id, **summary}


class KaizalaAddSubscribersOperator(_SubscribersChangeOperator):
    """Subscribe phone numbers to a public group; safe to re-run (already subscribed is not a failure).

    :param group_id: the public group (templated).
    :param phone_numbers: E.164 phone numbers, any number of them (sent in batches) (templated).
    :return: ``{"groupId", "requested", "changed", "unchanged", "failed": {number: reason}}``.
    """

    outcome_key = "isAdded"

    def apply(self, numbers: list[str]) -> dict[str, Any]:
        """Subscribe the numbers."""
        return self.hook.add_subscribers(self.group_id, numbers)


class KaizalaRemoveSubscribersOperator(_SubscribersChangeOperator):
    """Unsubscribe phone numbers from a public group; safe to re-run (not subscribed is not a failure).

    :param group_id: the public group (templated).
    :param phone_numbers: E.164 phone numbers (templated).
    :return: ``{"groupId", "requested", "changed", "unchanged", "failed": {number: reason}}``.
    """

    outcome_key = "isRemoved"

    def apply(self, numbers: list[str]) -> dict[str, Any]:
        """Unsubscribe the numbers."""
        return self.hook.remove_subscribers(self.group_id, numbers)
