"""KaizalaMembershipSensor: succeeds when a group's members or subscribers change."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import timedelta
from functools import cached_property
from typing import Any

from airflow.providers.common.compat.sdk import BaseSensorOperator, PokeReturnValue, conf

from airflow_provider_kaizala.exceptions import KaizalaException
from airflow_provider_kaizala.hooks.kaizala import KaizalaHook
from airflow_provider_kaizala.membership import (
    MembershipSnapshot,
    SnapshotStore,
    check_options,
    commit_diff,
    default_snapshot_path,
)


class KaizalaMembershipSensor(BaseSensorOperator):
    """Wait until a group's members, or a public group's subscribers, differ from the last baseline.

    Each check lists the whole membership (members in one call; subscribers page by page) into a compact
    snapshot and compares it with the **baseline**: the snapshot kept at ``snapshot_path`` by the
    previous successful check. The first check ever only records the baseline. When at least
    ``min_changes`` relevant changes are seen, the sensor writes the full diff as JSON Lines to
    ``diff_path``, makes the current snapshot the new baseline, and returns a compact summary: counts of
    added, removed and changed (role, provisioning) people, a bounded sample of phone numbers, and
    ``diffPath``. Until then the baseline is left alone, so changes add up across checks.

    Snapshots are one 64-bit integer per person (8 MB per million subscribers) at an
    ``ObjectStoragePath``; the default is a local file under ``$AIRFLOW_HOME/kaizala/snapshots``, so use
    an object store path (``s3://...``) when several workers run the sensor.

    With ``deferrable=True`` the wait runs on the triggerer in :class:`KaizalaMembershipTrigger` (the
    same comparison, through the async hook); the worker then writes the diff and the baseline.

    :param group_id: the group (templated).
    :param kind: ``members`` or ``subscribers`` (templated).
    :param only: ``any`` (default), ``added`` or ``removed``: which changes count (templated).
    :param min_changes: how many relevant changes are needed (templated).
    :param snapshot_path: the baseline's location (templated).
    :param diff_path: where the full diff goes; default next to the baseline, timestamped (templated).
    :param sample_size: phone numbers per change type in the returned sample.
    :param page_size: subscribers per call, 1 to 50.
    :param kaizala_conn_id: the ``kaizala`` connection (templated).
    :param deferrable: wait on the triggerer (default: ``[operators] default_deferrable``).
    """

    template_fields: Sequence[str] = (
        "kaizala_conn_id",
        "group_id",
        "kind",
        "only",
        "min_changes",
        "snapshot_path",
        "diff_path",
    )

    def __init__(
        self,
        *,
        group_id: str,
        kind: str = "subscribers",
        only: str = "any",
        min_changes: int = 1,
        snapshot_path: str | None = None,
        diff_path: str | None = None,
        sample_size: int = 10,
        page_size: int = 50,
        kaizala_conn_id: str = KaizalaHook.default_conn_name,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.group_id = group_id
        self.kind = kind
        self.only = only
        self.min_changes = min_changes
        self.snapshot_path = snapshot_path
        self.diff_path = diff_path
        self.sample_size = sample_size
        self.page_size = page_size
        self.kaizala_conn_id = kaizala_conn_id
        self.deferrable = deferrable

    @cached_property
    def hook(self) -> KaizalaHook:
        """The sync hook (poke mode)."""
        return KaizalaHook(kaizala_conn_id=self.kaizala_conn_id)

    def _options(self) -> tuple[str, str, int, str]:
        from airflow_provider_kaizala.hooks.validation import validate_id, validate_page_size

        kind, only, min_changes = check_options(self.kind, self.only, self.min_changes)
        validate_id(self.group_id, "group_id")
        validate_page_size(self.page_size)
        path = self.snapshot_path or default_snapshot_path(self.kaizala_conn_id, self.group_id, kind)
        return kind, only, min_changes, str(path)

    def _people(self, kind: str) -> Iterable[dict[str, Any]]:
        if kind == "members":
            return self.hook.list_members(self.group_id)
        return self.hook.iter_subscribers(self.group_id, page_size=self.page_size)

    def poke(self, context: Any) -> bool | PokeReturnValue:
        """Compare the current membership with the baseline."""
        kind, only, min_changes, path = self._options()
        store = SnapshotStore(path)
        baseline = store.load()
        current = MembershipSnapshot.from_people(self._people(kind))
        if baseline is None:
            store.save(current)
            self.log.info("Recorded the first baseline of %s: %d people; waiting for changes.", kind, len(current))
            return False
        return self._conclude(store, baseline, current, only, min_changes)

    def _conclude(
        self,
        store: SnapshotStore,
        baseline: MembershipSnapshot,
        current: MembershipSnapshot,
        only: str,
        min_changes: int,
    ) -> bool | PokeReturnValue:
        diff = baseline.diff(current)
        changes = diff.count(only)
        if changes < min_changes:
            self.log.info("%d relevant change(s) of %d needed; waiting.", changes, min_changes)
            return False
        summary = {
            "groupId": self.group_id,
            "kind": self.kind,
            **commit_diff(store, diff, self.diff_path, self.sample_size),
        }
        self.log.info(
            "Membership changed: %d added, %d removed, %d changed; diff written to %s.",
            summary["added"],
            summary["removed"],
            summary["changed"],
            summary["diffPath"],
        )
        return PokeReturnValue(is_done=True, xcom_value=summary)

    def execute(self, context: Any) -> Any:
        """Poke on the worker, or defer to the triggerer."""
        if not self.deferrable:
            return super().execute(context)
        self._defer()
        return None

    def _defer(self) -> None:
        from airflow_provider_kaizala.triggers.kaizala import KaizalaMembershipTrigger

        kind, only, min_changes, path = self._options()
        self.defer(
            trigger=KaizalaMembershipTrigger(
                kaizala_conn_id=self.kaizala_conn_id,
                group_id=self.group_id,
                kind=kind,
                snapshot_path=path,
                only=only,
                min_changes=min_changes,
                poll_interval=float(self.poke_interval),
                page_size=int(self.page_size),
            ),
            method_name="execute_complete",
            timeout=timedelta(seconds=float(self.timeout)) if self.timeout else None,
        )

    def execute_complete(self, context: Any, event: dict[str, Any]) -> Any:
        """Back on the worker: commit the trigger's snapshot, or wait again."""
        if event.get("status") == "error":
            raise KaizalaException(f"The membership trigger failed: {event.get('message')}")
        kind, only, min_changes, path = self._options()
        store = SnapshotStore(path)
        current = store.load_pending()
        if current is None:
            raise KaizalaException(f"The trigger's snapshot is missing at {store.pending_path}.")
        baseline = store.load()
        if baseline is None:
            store.save(current)
            store.drop_pending()
            self.log.info("Recorded the first baseline of %s: %d people; waiting for changes.", kind, len(current))
            self._defer()
            return None
        outcome = self._conclude(store, baseline, current, only, min_changes)
        store.drop_pending()
        if isinstance(outcome, PokeReturnValue):
            return outcome.xcom_value
        self._defer()
        return None
