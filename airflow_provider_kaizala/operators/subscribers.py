"""Operators for the subscribers of public groups (``ConnectGroup``)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

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

    :param group_id: the public group (templated).
    :param page_size: subscribers per call, 1 to 50 (templated).
    :return: ``{"groupId", "count", "unprovisioned", "pages"}``, plus ``path`` or ``subscribers``.
    """

    group_id: str
    page_size: int = 50

    def call(self, context: Any) -> dict[str, Any]:
        """Walk the subscribers."""
        stats = {"unprovisioned": 0, "pages": 0}

        def rows() -> Iterator[dict[str, Any]]:
            for page in self.hook.iter_subscriber_pages(self.group_id, page_size=self.page_size):
                stats["pages"] += 1
                stats["unprovisioned"] += sum(not subscriber.get("isProvisioned", True) for subscriber in page)
                yield from page
                if stats["pages"] % 100 == 0:
                    self.log.info("%d pages of subscribers so far.", stats["pages"])

        result = {"groupId": self.group_id, **self.listing(rows(), "subscribers"), **stats}
        self.log.info("Group %s has %d subscribers.", self.group_id, result["count"])
        return result


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
