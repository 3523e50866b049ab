"""Operators for the subscribers of public groups (``ConnectGroup``)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from airflow_provider_kaizala.hooks.validation import validate_bool, validate_phone_numbers
from airflow_provider_kaizala.operators.base import KaizalaBaseOperator
from airflow_provider_kaizala.storage import write_json_lines

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


class KaizalaListSubscribersOperator(KaizalaBaseOperator):
    """Walk every subscriber of a public group, page by page (one page in memory at a time).

    Subscriber lists can be huge: by default only counts are returned. Name ``output_path`` to get
    every subscriber as JSON Lines in a file (local or any ``ObjectStoragePath``); ``return_list``
    puts them into XCom, for small groups only.

    :param group_id: the public group (templated).
    :param page_size: subscribers per call, 1 to 50 (templated).
    :param output_path: JSON Lines destination (templated).
    :param return_list: return every subscriber in XCom (templated).
    :return: ``{"groupId", "count", "unprovisioned", "pages"}``, plus ``path`` or ``subscribers``.
    """

    template_fields: Sequence[str] = ("kaizala_conn_id", "group_id", "page_size", "output_path", "return_list")

    def __init__(
        self,
        *,
        group_id: str,
        page_size: int = 50,
        output_path: Any = None,
        return_list: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.group_id = group_id
        self.page_size = page_size
        self.output_path = output_path
        self.return_list = return_list

    def execute(self, context: Any) -> dict[str, Any]:
        """Walk the subscribers."""
        return_list = validate_bool(self.return_list, "return_list")
        stats = {"count": 0, "unprovisioned": 0, "pages": 0}
        kept: list[dict[str, Any]] = []

        def rows() -> Iterator[dict[str, Any]]:
            for page in self.hook.iter_subscriber_pages(self.group_id, page_size=self.page_size):
                stats["pages"] += 1
                for subscriber in page:
                    stats["count"] += 1
                    stats["unprovisioned"] += not subscriber.get("isProvisioned", True)
                    if return_list:
                        kept.append(subscriber)
                    yield subscriber
                if stats["pages"] % 100 == 0:
                    self.log.info("%d subscribers in %d pages so far.", stats["count"], stats["pages"])

        result: dict[str, Any] = {"groupId": self.group_id}
        if self.output_path:
            result["path"], _ = write_json_lines(self.output_path, rows())
        else:
            for _ in rows():
                pass
        result.update(stats)
        if return_list:
            result["subscribers"] = kept
        self.log.info("Group %s has %d subscribers.", self.group_id, stats["count"])
        return result


class _BulkSubscribersOperator(KaizalaBaseOperator):
    """Shared shape of the add and remove operators."""

    template_fields: Sequence[str] = ("kaizala_conn_id", "group_id", "phone_numbers")
    outcome_key = ""

    def __init__(self, *, group_id: str, phone_numbers: list[str], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.group_id = group_id
        self.phone_numbers = phone_numbers

    def _apply(self, numbers: list[str]) -> dict[str, Any]:
        raise NotImplementedError

    def execute(self, context: Any) -> dict[str, Any]:
        """Apply the change in batches and summarise the per-number outcomes."""
        numbers = validate_phone_numbers(self.phone_numbers, "phone_numbers")
        summary = summarise_outcomes(numbers, self._apply(numbers), self.outcome_key)
        self.log.info(
            "%d requested, %d changed, %d already so, %d failed.",
            summary["requested"],
            summary["changed"],
            summary["unchanged"],
            len(summary["failed"]),
        )
        return {"groupId": self.group_id, **summary}


class KaizalaAddSubscribersOperator(_BulkSubscribersOperator):
    """Subscribe phone numbers to a public group; safe to re-run (already subscribed is not a failure).

    :param group_id: the public group (templated).
    :param phone_numbers: E.164 phone numbers, any number of them (sent in batches) (templated).
    :return: ``{"groupId", "requested", "changed", "unchanged", "failed": {number: reason}}``.
    """

    outcome_key = "isAdded"

    def _apply(self, numbers: list[str]) -> dict[str, Any]:
        return self.hook.add_subscribers(self.group_id, numbers)


class KaizalaRemoveSubscribersOperator(_BulkSubscribersOperator):
    """Unsubscribe phone numbers from a public group; safe to re-run (not subscribed is not a failure).

    :param group_id: the public group (templated).
    :param phone_numbers: E.164 phone numbers (templated).
    :return: ``{"groupId", "requested", "changed", "unchanged", "failed": {number: reason}}``.
    """

    outcome_key = "isRemoved"

    def _apply(self, numbers: list[str]) -> dict[str, Any]:
        return self.hook.remove_subscribers(self.group_id, numbers)
