"""KaizalaMembershipTrigger: waits on the triggerer for a group's membership to change."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_provider_kaizala.membership import (
    DEFAULT_CHECKPOINT_MAX_AGE,
    DEFAULT_CHECKPOINT_PAGES,
    MembershipSnapshot,
    ResumableBuild,
    SnapshotStore,
    aresumable_snapshot,
)

if TYPE_CHECKING:
    from airflow_provider_kaizala.hooks.async_kaizala import KaizalaAsyncHook


class KaizalaMembershipTrigger(BaseTrigger):
    """Polls a group's members or subscribers with the async hook until they differ from the baseline.

    The trigger only reads: it compares what it sees with the baseline snapshot and, when enough has
    changed, leaves its snapshot as a *candidate* for its run (``<snapshot_path>.d/candidates/``) and
    fires. The worker (``KaizalaMembershipSensor.execute_complete``) writes the diff and records the
    change as pending for the run, so a restarted triggerer only repeats reads. Every kwarg is JSON and
    none is a secret: the connection is resolved inside the trigger.

    :param kaizala_conn_id: the ``kaizala`` connection.
    :param group_id: the group.
    :param kind: ``members`` or ``subscribers``.
    :param snapshot_path: where the baseline snapshot is kept.
    :param only: ``any``, ``added`` or ``removed``: which changes count.
    :param min_changes: how many changes are needed to fire.
    :param poll_interval: seconds between checks.
    :param page_size: subscribers per call.
    :param candidate_key: the run's name for its candidate file (so overlapping runs do not collide).
    :param checkpoint_pages: pages between two checkpoints of a subscriber walk (under
        ``<snapshot_path>.d/partial/``); a restarted triggerer resumes the walk from the last one.
    :param checkpoint_max_age: seconds after which a checkpoint is discarded instead of resumed.
    """

    def __init__(
        self,
        *,
        kaizala_conn_id: str,
        group_id: str,
        kind: str,
        snapshot_path: str,
        only: str = "any",
        min_changes: int = 1,
        poll_interval: float = 60.0,
        page_size: int = 50,
        candidate_key: str | None = None,
        checkpoint_pages: int = DEFAULT_CHECKPOINT_PAGES,
        checkpoint_max_age: float = DEFAULT_CHECKPOINT_MAX_AGE,
    ) -> None:
        super().__init__()
        self.kaizala_conn_id = kaizala_conn_id
        self.group_id = group_id
        self.kind = kind
        self.snapshot_path = snapshot_path
        self.only = only
        self.min_changes = min_changes
        self.poll_interval = poll_interval
        self.page_size = page_size
        self.candidate_key = candidate_key
        self.checkpoint_pages = checkpoint_pages
        self.checkpoint_max_age = checkpoint_max_age

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """The class path and JSON kwargs."""
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "kaizala_conn_id": self.kaizala_conn_id,
                "group_id": self.group_id,
                "kind": self.kind,
                "snapshot_path": self.snapshot_path,
                "only": self.only,
                "min_changes": self.min_changes,
                "poll_interval": self.poll_interval,
                "page_size": self.page_size,
                "candidate_key": self.candidate_key,
                "checkpoint_pages": self.checkpoint_pages,
                "checkpoint_max_age": self.checkpoint_max_age,
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Poll until the membership differs enough from the baseline, then fire once."""
        from airflow_provider_kaizala.exceptions import KaizalaException
        from airflow_provider_kaizala.hooks.async_kaizala import KaizalaAsyncHook

        store = SnapshotStore(self.snapshot_path)
        async with KaizalaAsyncHook(self.kaizala_conn_id) as hook:
            while True:
                try:
                    baseline = await asyncio.to_thread(store.load)
                    current = await self._snapshot(hook, store, None if baseline is None else len(baseline))
                except KaizalaException as err:
                    yield TriggerEvent({"status": "error", "message": str(err)})
                    return
                if baseline is None:
                    await asyncio.to_thread(store.save_candidate, current, self.candidate_key)
                    yield TriggerEvent({"status": "baseline", "count": len(current)})
                    return
                diff = await asyncio.to_thread(baseline.diff, current)
                changes = diff.count(self.only)
                if changes >= self.min_changes:
                    await asyncio.to_thread(store.save_candidate, current, self.candidate_key)
                    yield TriggerEvent({"status": "changed", "changes": changes, "count": len(current)})
                    return
                self.log.info("%d relevant change(s) in %s of %s; waiting.", changes, self.kind, self.group_id)
                await asyncio.sleep(self.poll_interval)

    async def _snapshot(self, hook: KaizalaAsyncHook, store: SnapshotStore, total: int | None) -> MembershipSnapshot:
        """The list as it is now; a subscriber walk checkpoints under the snapshot folder and resumes there."""
        if self.kind == "members":
            people = await hook.list_members(self.group_id)
            return await asyncio.to_thread(MembershipSnapshot.from_people, people)

        def walk(cursor: str | None) -> AsyncIterator[tuple[list[dict[str, Any]], str | None]]:
            return hook.iter_subscriber_pages(
                self.group_id, page_size=self.page_size, cursor=cursor, with_cursor=True, total=build.remaining(total)
            )

        build = ResumableBuild(
            store,
            self.group_id,
            self.kind,
            checkpoint_pages=self.checkpoint_pages,
            max_age=self.checkpoint_max_age,
            log=self.log,
        )
        return await aresumable_snapshot(walk, build)
