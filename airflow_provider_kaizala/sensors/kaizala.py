"""KaizalaMembershipSensor: succeeds when a group's members or subscribers change."""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import BaseSensorOperator, PokeReturnValue, conf

from airflow_provider_kaizala.exceptions import KaizalaException, KaizalaValidationError
from airflow_provider_kaizala.hooks.kaizala import KaizalaHook
from airflow_provider_kaizala.hooks.mixin import KaizalaHookMixin
from airflow_provider_kaizala.membership import (
    DEFAULT_CHECKPOINT_MAX_AGE,
    DEFAULT_CHECKPOINT_PAGES,
    MembershipSnapshot,
    ResumableBuild,
    Retention,
    RunRef,
    SnapshotStore,
    check_options,
    default_snapshot_path,
    legacy_snapshot_path,
    resumable_snapshot,
    write_diff,
)

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import ObjectStoragePath

#: Task states that acknowledge a change: the consumer ran to the end, or had nothing to do.
ACKNOWLEDGING_STATES = frozenset({"success", "skipped"})
#: Task instances that no longer take part in the run (a mapped index beyond the list, a removed task).
IGNORED_STATES = frozenset({"removed"})


class KaizalaMembershipSensor(KaizalaHookMixin, BaseSensorOperator):
    """Wait until a group's members, or a public group's subscribers, differ from the last baseline.

    Each check lists the whole membership (members in one call; subscribers page by page) into a compact
    snapshot and compares it with the **baseline**. The first check ever only records the baseline. When
    at least ``min_changes`` relevant changes are seen, the sensor writes the full diff as JSON Lines
    and returns a compact summary: counts of added, removed and changed (role, provisioning) people, a
    bounded sample of phone numbers, and ``diffPath``. Until then the baseline is left alone, so changes
    add up across checks.

    **At-least-once delivery.** The change is not acknowledged when the sensor succeeds: its snapshot is
    kept *pending*, tied to the DAG run, and becomes the baseline only once every task downstream of the
    sensor in that run (its consumers) has succeeded or been skipped. The sensor of a later run checks
    this first (through the Task SDK) and promotes acknowledged changes; a change whose consumers failed
    stays unacknowledged, so a new run delivers it again, and clearing the failed tasks delivers it in the
    same run (the diff file is kept while its change is pending). Outside a DAG run (``poke({})`` in a
    script) there is nothing to wait for and the baseline moves on at once.

    The default ``snapshot_path`` belongs to one consuming task: it is derived from the DAG id, task id,
    connection, group and kind. Two sensors given the same ``snapshot_path`` fail unless both pass
    ``share_baseline=True`` (with a shared baseline, one consumer's acknowledgement moves it for all).

    Snapshots are one 64-bit integer per person (8 MB per million subscribers) at an
    ``ObjectStoragePath``; the default is a local file under ``$AIRFLOW_HOME/kaizala/snapshots``, so use
    an object store path (``s3://...``) when several workers run the sensor.

    With ``deferrable=True`` the wait runs on the triggerer in :class:`KaizalaMembershipTrigger` (the
    same comparison, through the async hook); the worker then writes the diff and the pending snapshot.

    :param group_id: the group (templated).
    :param kind: ``members`` or ``subscribers`` (templated).
    :param only: ``any`` (default), ``added`` or ``removed``: which changes count (templated).
    :param min_changes: how many relevant changes are needed (templated).
    :param snapshot_path: the baseline's location (templated); default: one per DAG, task, connection,
        group and kind under ``$AIRFLOW_HOME/kaizala/snapshots``.
    :param diff_path: where the full diff goes; default ``<snapshot_path>.d/diffs/``, timestamped
        (templated). A diff file you name is never deleted by the sensor.
    :param share_baseline: allow other tasks to use the same ``snapshot_path`` (default False).
    :param retention_count: diff files and superseded snapshots kept (newest first); None: no count limit.
    :param retention_days: diff files and superseded snapshots older than this many days are deleted;
        None (default): no age limit.
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
        share_baseline: bool = False,
        retention_count: int | None = 20,
        retention_days: float | None = None,
        sample_size: int = 10,
        page_size: int = 50,
        checkpoint_pages: int = DEFAULT_CHECKPOINT_PAGES,
        checkpoint_max_age: float = DEFAULT_CHECKPOINT_MAX_AGE,
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
        self.share_baseline = share_baseline
        self.retention_count = retention_count
        self.retention_days = retention_days
        self.sample_size = sample_size
        self.page_size = page_size
        self.checkpoint_pages = checkpoint_pages
        self.checkpoint_max_age = checkpoint_max_age
        self.kaizala_conn_id = kaizala_conn_id
        self.deferrable = deferrable

    def _options(self) -> tuple[str, str, int, str]:
        from airflow_provider_kaizala.hooks.validation import validate_bool, validate_id, validate_page_size

        kind, only, min_changes = check_options(self.kind, self.only, self.min_changes)
        validate_id(self.group_id, "group_id")
        validate_page_size(self.page_size)
        validate_bool(self.share_baseline, "share_baseline")
        pages, age = self.checkpoint_pages, self.checkpoint_max_age
        if isinstance(pages, bool) or not isinstance(pages, int) or pages < 1:
            raise KaizalaValidationError(f"Invalid checkpoint_pages={pages!r}: expected an integer >= 1.")
        if isinstance(age, bool) or not isinstance(age, int | float) or not age > 0:
            raise KaizalaValidationError(f"Invalid checkpoint_max_age={age!r}: expected a number of seconds > 0.")
        self._retention()
        path = self.snapshot_path or default_snapshot_path(
            self.kaizala_conn_id, self.group_id, kind, self.dag_id, self.task_id
        )
        return kind, only, min_changes, str(path)

    def _retention(self) -> Retention:
        count, days = self.retention_count, self.retention_days
        if count is not None and (isinstance(count, bool) or not isinstance(count, int) or count < 0):
            raise KaizalaValidationError(f"Invalid retention_count={count!r}: expected an integer >= 0 or None.")
        if days is not None and (isinstance(days, bool) or not isinstance(days, int | float) or days < 0):
            raise KaizalaValidationError(f"Invalid retention_days={days!r}: expected a number >= 0 or None.")
        return Retention(count, days)

    # -- runs and acknowledgements -------------------------------------------------------------------

    def _run(self, context: Mapping[str, Any] | None) -> RunRef | None:
        """The DAG run this check delivers to, or None outside a run."""
        ti = (context or {}).get("ti")
        run_id = getattr(ti, "run_id", None)
        if ti is None or not run_id:
            return None
        consumers = sorted(self.get_flat_relative_ids(upstream=False)) if self.has_dag() else []
        return RunRef(str(ti.dag_id), str(ti.task_id), str(run_id), tuple(consumers))

    def _acknowledged(
        self, context: Mapping[str, Any] | None, entries: list[tuple[ObjectStoragePath, MembershipSnapshot]]
    ) -> list[ObjectStoragePath]:
        """The pending changes whose run's sensor and consumers all succeeded (or were skipped)."""
        ti = (context or {}).get("ti")
        lookup = getattr(ti, "get_task_states", None)
        if lookup is None or not entries:
            return []
        runs = [(path, RunRef.from_meta(snapshot.meta)) for path, snapshot in entries]
        done: list[ObjectStoragePath] = []
        for dag_id in sorted({run.dag_id for _, run in runs if run is not None}):
            mine = [(path, run) for path, run in runs if run is not None and run.dag_id == dag_id]
            task_ids = sorted({t for _, run in mine for t in (run.task_id, *run.consumers)})
            try:
                states = lookup(dag_id=dag_id, task_ids=task_ids, run_ids=sorted({run.run_id for _, run in mine}))
            except Exception as err:  # the change stays pending: delivered again rather than lost
                self.log.warning("Could not read the task states of DAG %s (%s); changes stay pending.", dag_id, err)
                continue
            for path, run in mine:
                if _consumed(run, states.get(run.run_id) or {}):
                    done.append(path)
        return done

    def _adopt_legacy_baseline(self, store: SnapshotStore) -> None:
        """Start a default baseline from the one earlier releases shared at the old default path, if any.

        It is copied, not moved: every sensor that used it starts from it, so no change made while the
        provider was upgraded is missed.
        """
        if self.snapshot_path or store.path.exists():
            return
        legacy = legacy_snapshot_path(self.kaizala_conn_id, self.group_id, self.kind.lower())
        if legacy is None:
            return
        old = SnapshotStore(legacy).load()
        if old is not None:
            store.save(old.with_meta(takenAt=old.taken_at, owner=self._owner()))
            self.log.info("Started this task's baseline from the shared one of an earlier release at %s.", legacy)

    def _settle(self, store: SnapshotStore, context: Mapping[str, Any] | None) -> None:
        """Check ownership, promote acknowledged changes, prune old files."""
        self._adopt_legacy_baseline(store)
        baseline = store.load()
        owner = (baseline.meta.get("owner") if baseline is not None else None) or None
        mine = (owner or {}).get("dagId") == self.dag_id and (owner or {}).get("taskId") == self.task_id
        if owner and not mine and not (self.share_baseline and owner.get("shared")):
            raise KaizalaValidationError(
                f"Invalid snapshot_path={str(store.path)!r}: it is the baseline of task {owner.get('taskId')!r} "
                f"in DAG {owner.get('dagId')!r}. Two sensors on one baseline acknowledge away each other's "
                "changes: leave snapshot_path unset (the default is one per DAG and task), or pass "
                "share_baseline=True to every sensor that shares it. After renaming the DAG or the task, delete "
                "that file to start a new baseline (changes made in between are then not reported)."
            )
        entries = store.pending()
        acknowledged = self._acknowledged(context, entries)
        if len(entries) > len(acknowledged):
            self.log.info(
                "%d earlier change(s) not acknowledged (a task downstream of the sensor did not succeed, or its run "
                "is still going): this check delivers them again.",
                len(entries) - len(acknowledged),
            )
        promoted = store.settle(acknowledged)
        if promoted is not None:
            self.log.info(
                "Run %s acknowledged its change (its consumers succeeded); baseline now %d people.",
                promoted.meta.get("runId"),
                len(promoted),
            )
        deleted = store.prune(self._retention())
        if deleted:
            self.log.info("Retention deleted %d old diff file(s) and snapshot(s).", len(deleted))

    def _owner(self) -> dict[str, Any]:
        return {"dagId": self.dag_id, "taskId": self.task_id, "shared": bool(self.share_baseline)}

    def _first_baseline(self, store: SnapshotStore, current: MembershipSnapshot, kind: str) -> None:
        store.save(current.with_meta(takenAt=current.meta.get("takenAt") or time.time(), owner=self._owner()))
        self.log.info("Recorded the first baseline of %s: %d people; waiting for changes.", kind, len(current))

    # -- checks --------------------------------------------------------------------------------------

    def _snapshot(self, store: SnapshotStore, kind: str, total: int | None) -> MembershipSnapshot:
        """The list as it is now; a subscriber walk checkpoints under the snapshot folder and resumes there."""
        if kind == "members":
            return MembershipSnapshot.from_people(self.hook.list_members(self.group_id))

        def walk(cursor: str | None) -> Iterable[tuple[list[dict[str, Any]], str | None]]:
            return self.hook.iter_subscriber_pages(
                self.group_id, page_size=self.page_size, cursor=cursor, with_cursor=True, total=build.remaining(total)
            )

        build = ResumableBuild(
            store,
            self.group_id,
            kind,
            checkpoint_pages=self.checkpoint_pages,
            max_age=float(self.checkpoint_max_age),
            log=self.log,
        )
        return resumable_snapshot(walk, build)

    def poke(self, context: Any) -> bool | PokeReturnValue:
        """Promote acknowledged changes, then compare the current membership with the baseline."""
        kind, only, min_changes, path = self._options()
        store = SnapshotStore(path)
        self._settle(store, context)
        baseline = store.load()
        total = len(baseline) if baseline is not None else None
        current = self._snapshot(store, kind, total).with_meta(takenAt=time.time())
        if baseline is None:
            self._first_baseline(store, current, kind)
            return False
        return self._conclude(store, baseline, current, only, min_changes, self._run(context))

    def _conclude(
        self,
        store: SnapshotStore,
        baseline: MembershipSnapshot,
        current: MembershipSnapshot,
        only: str,
        min_changes: int,
        run: RunRef | None,
    ) -> bool | PokeReturnValue:
        diff = baseline.diff(current)
        changes = diff.count(only)
        if changes < min_changes:
            self.log.info("%d relevant change(s) of %d needed; waiting.", changes, min_changes)
            return False
        diff_path = self.diff_path or store.default_diff_path(run)
        summary = {"groupId": self.group_id, "kind": self.kind, **write_diff(diff, diff_path, self.sample_size)}
        snapshot = current.with_meta(owner=baseline.meta.get("owner") or self._owner(), diffPath=summary["diffPath"])
        if run is None:
            store.save(snapshot)
            summary["delivery"] = "acknowledged"
        else:
            store.save_pending(run, snapshot.with_meta(**run.to_meta()))
            summary["delivery"] = "pending"
        store.prune(self._retention())
        self.log.info(
            "Membership changed: %d added, %d removed, %d changed; diff written to %s; %s.",
            summary["added"],
            summary["removed"],
            summary["changed"],
            summary["diffPath"],
            "the baseline moves on once this run's downstream tasks succeed" if run else "baseline updated",
        )
        return PokeReturnValue(is_done=True, xcom_value=summary)

    def execute(self, context: Any) -> Any:
        """Poke on the worker, or defer to the triggerer."""
        if not self.deferrable:
            return super().execute(context)
        path = self._options()[3]
        self._settle(SnapshotStore(path), context)
        self._defer(context)
        return None

    def _defer(self, context: Any) -> None:
        from airflow_provider_kaizala.triggers.kaizala import KaizalaMembershipTrigger

        kind, only, min_changes, path = self._options()
        run = self._run(context)
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
                checkpoint_pages=int(self.checkpoint_pages),
                checkpoint_max_age=float(self.checkpoint_max_age),
                candidate_key=run.key if run else None,
            ),
            method_name="execute_complete",
            timeout=timedelta(seconds=float(self.timeout)) if self.timeout else None,
        )

    def execute_complete(self, context: Any, event: dict[str, Any]) -> Any:
        """Back on the worker: conclude from the trigger's snapshot, or wait again."""
        if event.get("status") == "error":
            raise KaizalaException(f"The membership trigger failed: {event.get('message')}")
        kind, only, min_changes, path = self._options()
        store = SnapshotStore(path)
        run = self._run(context)
        key = run.key if run else None
        current = store.load_candidate(key)
        if current is None and key is not None:  # a trigger serialised before candidates were per run
            key = None
            current = store.load_candidate(key)
        if current is None:
            raise KaizalaException(f"The trigger's snapshot is missing at {store.candidate_path(key)}.")
        self._settle(store, context)
        baseline = store.load()
        if baseline is None:
            self._first_baseline(store, current, kind)
            store.drop_candidate(key)
            self._defer(context)
            return None
        outcome = self._conclude(store, baseline, current, only, min_changes, run)
        store.drop_candidate(key)
        if isinstance(outcome, PokeReturnValue):
            return outcome.xcom_value
        self._defer(context)
        return None


def _consumed(run: RunRef, states: Mapping[str, Any]) -> bool:
    """Whether the sensor and every consumer task instance of ``run`` ended in an acknowledging state.

    ``states`` holds the states of the sensor and its consumers in that run, keyed ``task_id`` (or
    ``task_id_<map index>`` for mapped tasks), as the Task SDK's ``get_task_states`` returns them.
    """
    text = {key: str(getattr(state, "value", state)) for key, state in states.items()}
    if text.get(run.task_id) != "success":
        return False
    return all(state in ACKNOWLEDGING_STATES | IGNORED_STATES for state in text.values())
