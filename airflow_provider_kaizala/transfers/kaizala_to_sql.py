"""KaizalaToSqlOperator: load Kaizala membership into any SQL warehouse, with history."""

from __future__ import annotations

import re
import time
from collections.abc import Iterable, Iterator, Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

from airflow_provider_kaizala.exceptions import KaizalaValidationError
from airflow_provider_kaizala.hooks.kaizala import KaizalaHook
from airflow_provider_kaizala.hooks.validation import validate_choice, validate_id
from airflow_provider_kaizala.membership import KINDS

if TYPE_CHECKING:
    from airflow.providers.common.sql.hooks.sql import DbApiHook

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}(\.[A-Za-z_][A-Za-z0-9_]{0,62})?$")
PERSON_COLUMNS = ("group_id", "kind", "mobile_number", "person_id", "role", "is_provisioned")
#: Per-connection temporary table the pages stream into before the merge (never written to disk tables).
STAGE = "kaizala_stage"
#: Pages fetched ahead while the previous ones are written (bounds memory to a few pages).
PREFETCH_PAGES = 8


def prefetched(pages: Iterator[list[dict[str, Any]]], depth: int = PREFETCH_PAGES) -> Iterator[list[dict[str, Any]]]:
    """Fetch pages in a background thread while the caller writes the previous ones (bounded queue).

    Paging waits on the network and the database driver releases the GIL while writing, so the two overlap.
    An error in the producer is raised in the caller; stopping early stops the producer.
    """
    import queue
    import threading

    buffer: queue.Queue[Any] = queue.Queue(maxsize=depth)
    done = object()
    stop = threading.Event()

    def produce() -> None:
        try:
            for page in pages:
                while not stop.is_set():
                    try:
                        buffer.put(page, timeout=0.2)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            buffer.put(done)
        except BaseException as err:
            buffer.put(err)

    worker = threading.Thread(target=produce, name="kaizala-page-prefetch", daemon=True)
    worker.start()
    try:
        while True:
            item = buffer.get()
            if item is done:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        worker.join(timeout=5)


def table_ddl(table: str, dialect: str) -> list[str]:
    """CREATE statements for the membership table, the load log and the groups table.

    Times are ISO-8601 UTC strings: they sort and compare correctly in every database, and a view can
    cast them. Membership rows are *spells*: one row per continuous period a person belongs to a group.
    """
    text = "TEXT"
    flag = "BOOLEAN" if dialect == "postgresql" else "INTEGER"
    return [
        f"CREATE TABLE IF NOT EXISTS {table} (group_id {text} NOT NULL, kind {text} NOT NULL, "
        f"mobile_number {text} NOT NULL, person_id {text}, role {text}, is_provisioned {flag}, "
        f"first_seen {text} NOT NULL, last_seen {text} NOT NULL, left_at {text}, "
        "PRIMARY KEY (group_id, kind, mobile_number, first_seen))",
        f"CREATE INDEX IF NOT EXISTS {table.replace('.', '_')}_open ON {table} (group_id, kind, left_at)",
        f"CREATE TABLE IF NOT EXISTS {table}_loads (group_id {text} NOT NULL, kind {text} NOT NULL, "
        f"observed_at {text} NOT NULL, present INTEGER NOT NULL, joined INTEGER NOT NULL, "
        f"left_count INTEGER NOT NULL, changed INTEGER NOT NULL, loaded_at {text} NOT NULL, "
        "PRIMARY KEY (group_id, kind, observed_at))",
        f"CREATE TABLE IF NOT EXISTS {table}_groups (group_id {text} NOT NULL, observed_at {text} NOT NULL, "
        f"group_name {text}, group_type {text}, members INTEGER, subscribers INTEGER, "
        "PRIMARY KEY (group_id, observed_at))",
    ]


class _Progress:
    """Logs pages, rows, rate and elapsed time of a long load every ``every`` pages."""

    def __init__(self, log: Any, label: str, every: int = 200) -> None:
        self.log, self.label, self.every = log, label, every
        self.pages = self.rows = 0
        self.started = time.monotonic()

    def page(self, rows: int) -> None:
        self.pages += 1
        self.rows += rows
        if self.pages % self.every == 0:
            elapsed = time.monotonic() - self.started
            self.log.info(
                "%s: %d pages, %d rows, %.0f rows/s, %.1f s elapsed.",
                self.label,
                self.pages,
                self.rows,
                self.rows / elapsed if elapsed else 0.0,
                elapsed,
            )


class KaizalaToSqlOperator(BaseOperator):
    """Load Kaizala membership into a SQL table through any Airflow ``DbApiHook`` connection, with history.

    Sources: one group's ``members``, one public group's ``subscribers``, or, with ``group_id=None``, every
    group the connector sees (members of each, and subscribers of public groups). Pages stream into a
    temporary staging table in batches as they arrive (the next pages are fetched while the previous ones are
    written), so memory does not grow with the group's size; one transaction per group then merges them into
    ``table``.

    The table keeps history as *spells*: a row per continuous membership with ``first_seen``,
    ``last_seen`` and ``left_at`` (ISO-8601 UTC), so "who was a member on date D" is
    ``first_seen <= D AND (left_at IS NULL OR left_at > D)``. The observation time is the run's logical
    date. A re-run of the same logical date first undoes that date's load, so rows are never duplicated;
    loading a date older than the newest already loaded for a group is refused (history only moves
    forward). ``<table>_loads`` logs every load (present, joined, left, changed) and ``<table>_groups``
    the groups seen with their counts.

    :param sql_conn_id: the SQL connection (SQLite, PostgreSQL, any ``DbApiHook``) (templated).
    :param table: target table, optionally schema-qualified (templated).
    :param group_id: the group to load, or None for every group of the connector (templated).
    :param kind: ``members`` or ``subscribers`` when ``group_id`` is set (templated).
    :param include_subscribers: with ``group_id=None``, also load subscribers of public groups (templated).
    :param observed_at: observation time override (ISO-8601); default the logical date (templated).
    :param create_table: create the tables when missing.
    :param batch_size: rows per staging insert.
    :param kaizala_conn_id: the ``kaizala`` connection (templated).
    :return: ``{"table", "observedAt", "groups", "present", "joined", "left", "changed", "rowsPerSecond"}``.
    """

    template_fields: Sequence[str] = (
        "kaizala_conn_id",
        "sql_conn_id",
        "table",
        "group_id",
        "kind",
        "include_subscribers",
        "observed_at",
    )

    def __init__(
        self,
        *,
        sql_conn_id: str = "kaizala_warehouse",
        table: str = "kaizala_membership",
        group_id: str | None = None,
        kind: str = "members",
        include_subscribers: bool = True,
        observed_at: str | None = None,
        create_table: bool = True,
        batch_size: int = 2000,
        kaizala_conn_id: str = KaizalaHook.default_conn_name,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.sql_conn_id = sql_conn_id
        self.table = table
        self.group_id = group_id
        self.kind = kind
        self.include_subscribers = include_subscribers
        self.observed_at = observed_at
        self.create_table = create_table
        self.batch_size = batch_size
        self.kaizala_conn_id = kaizala_conn_id

    @cached_property
    def hook(self) -> KaizalaHook:
        """The Kaizala hook."""
        return KaizalaHook(kaizala_conn_id=self.kaizala_conn_id)

    @cached_property
    def sql_hook(self) -> DbApiHook:
        """The SQL hook of ``sql_conn_id``."""
        from airflow.providers.common.compat.sdk import BaseHook
        from airflow.providers.common.sql.hooks.sql import DbApiHook

        hook = BaseHook.get_hook(self.sql_conn_id)
        if not isinstance(hook, DbApiHook):
            raise KaizalaValidationError(
                f"Invalid sql_conn_id={self.sql_conn_id!r}: its hook {type(hook).__name__} is not a "
                "common.sql DbApiHook."
            )
        return hook

    def _observed_at(self, context: Any) -> str:
        import datetime

        import pendulum

        moment: Any
        if self.observed_at:
            try:
                moment = pendulum.parse(str(self.observed_at))
            except (ValueError, TypeError):
                moment = None
            if not isinstance(moment, datetime.datetime):
                raise KaizalaValidationError(
                    f"Invalid observed_at={self.observed_at!r}: expected an ISO-8601 date and time."
                )
        else:
            moment = context.get("logical_date") or context.get("data_interval_end") or pendulum.now("UTC")
        return str(pendulum.instance(moment).in_timezone("UTC").isoformat())

    def _check(self) -> tuple[str, list[tuple[str, str]] | None]:
        if not isinstance(self.table, str) or not _IDENTIFIER.match(self.table):
            raise KaizalaValidationError(
                f"Invalid table={self.table!r}: expected an SQL identifier such as 'kaizala_membership' or "
                "'warehouse.kaizala_membership'."
            )
        if self.group_id is None:
            return self.table, None
        kind = validate_choice(self.kind, "kind", KINDS)
        return self.table, [(validate_id(self.group_id, "group_id"), kind)]

    def execute(self, context: Any) -> dict[str, Any]:
        """Load the membership."""
        from airflow_provider_kaizala.hooks.validation import validate_bool

        table, targets = self._check()
        include_subscribers = validate_bool(self.include_subscribers, "include_subscribers")
        observed_at = self._observed_at(context)
        started = time.monotonic()
        groups: list[dict[str, Any]] = []
        if targets is None:
            groups = self.hook.list_groups(fetch_all_groups=True)
            targets = [(str(g["groupId"]), "members") for g in groups]
            if include_subscribers:
                targets += [(str(g["groupId"]), "subscribers") for g in groups if g.get("groupType") == "ConnectGroup"]
        sql = self.sql_hook
        placeholder = sql.placeholder
        conn = sql.get_conn()
        totals = {"present": 0, "joined": 0, "left": 0, "changed": 0}
        counts: dict[tuple[str, str], int] = {}
        try:
            cursor = conn.cursor()
            if self.create_table:
                for statement in table_ddl(table, sql.dialect_name):
                    cursor.execute(statement)
                conn.commit()
            for group_id, kind in targets:
                result = self._load_one(cursor, placeholder, table, group_id, kind, observed_at)
                counts[(group_id, kind)] = result["present"]
                for key in totals:
                    totals[key] += result[key]
                conn.commit()
            if groups:
                self._record_groups(cursor, placeholder, table, groups, counts, observed_at)
                conn.commit()
        except BaseException:
            conn.rollback()
            raise
        finally:
            conn.close()
        elapsed = time.monotonic() - started
        self.log.info(
            "Loaded %d groups/lists into %s at %s: %d present, %d joined, %d left, %d changed in %.1f s.",
            len(targets),
            table,
            observed_at,
            totals["present"],
            totals["joined"],
            totals["left"],
            totals["changed"],
            elapsed,
        )
        return {
            "table": table,
            "observedAt": observed_at,
            "groups": len({g for g, _ in targets}),
            **totals,
            "rowsPerSecond": round(totals["present"] / elapsed, 1) if elapsed else None,
        }

    def _people(self, group_id: str, kind: str) -> Iterator[list[dict[str, Any]]]:
        if kind == "members":
            yield self.hook.list_members(group_id)
        else:
            yield from self.hook.iter_subscriber_pages(group_id)

    def _load_one(self, cursor: Any, p: str, table: str, group_id: str, kind: str, observed_at: str) -> dict[str, int]:
        """Stage, undo a previous load of the same date, merge and log one group's list."""
        scope = f"group_id = {p} AND kind = {p}"
        cursor.execute(f"SELECT MAX(observed_at) FROM {table}_loads WHERE {scope}", (group_id, kind))
        latest = cursor.fetchone()[0]
        if latest is not None and latest > observed_at:
            raise KaizalaValidationError(
                f"Refusing to load {kind} of {group_id} as of {observed_at}: {latest} is already loaded and history "
                "only moves forward. Re-run the newest date, or clear the newer loads first."
            )
        if latest == observed_at:
            self._undo(cursor, p, table, group_id, kind, observed_at)
        flag = "BOOLEAN" if self.sql_hook.dialect_name == "postgresql" else "INTEGER"
        cursor.execute(f"DROP TABLE IF EXISTS {STAGE}")
        cursor.execute(
            f"CREATE TEMPORARY TABLE {STAGE} (mobile_number TEXT PRIMARY KEY, person_id TEXT, role TEXT, "
            f"is_provisioned {flag})"
        )
        progress = _Progress(self.log, f"{kind} of {group_id}")
        insert = (
            f"INSERT INTO {STAGE} (mobile_number, person_id, role, is_provisioned) VALUES ({p}, {p}, {p}, {p}) "
            "ON CONFLICT DO NOTHING"
        )
        default_role = "Subscriber" if kind == "subscribers" else "Member"
        batch: list[tuple[Any, ...]] = []
        for page in prefetched(self._people(group_id, kind)):
            progress.page(len(page))
            batch.extend(
                (
                    person.get("mobileNumber"),
                    person.get("id"),
                    person.get("role") or default_role,
                    bool(person.get("isProvisioned", True)),
                )
                for person in page
            )
            if len(batch) >= self.batch_size:
                cursor.executemany(insert, batch)
                batch.clear()
        if batch:
            cursor.executemany(insert, batch)
        try:
            return self._merge(cursor, p, table, group_id, kind, observed_at)
        finally:
            cursor.execute(f"DROP TABLE IF EXISTS {STAGE}")

    def _undo(self, cursor: Any, p: str, table: str, group_id: str, kind: str, observed_at: str) -> None:
        """Take back what a previous load of the same observation time did."""
        scope = f"group_id = {p} AND kind = {p}"
        self.log.info("Re-running the load of %s of %s at %s: undoing the previous one.", kind, group_id, observed_at)
        cursor.execute(f"DELETE FROM {table} WHERE {scope} AND first_seen = {p}", (group_id, kind, observed_at))
        cursor.execute(
            f"UPDATE {table} SET left_at = NULL WHERE {scope} AND left_at = {p}", (group_id, kind, observed_at)
        )
        cursor.execute(
            f"SELECT MAX(observed_at) FROM {table}_loads WHERE {scope} AND observed_at < {p}",
            (group_id, kind, observed_at),
        )
        previous = cursor.fetchone()[0]
        if previous is not None:
            cursor.execute(
                f"UPDATE {table} SET last_seen = {p} WHERE {scope} AND last_seen = {p}",
                (previous, group_id, kind, observed_at),
            )
        cursor.execute(f"DELETE FROM {table}_loads WHERE {scope} AND observed_at = {p}", (group_id, kind, observed_at))

    def _merge(self, cursor: Any, p: str, table: str, group_id: str, kind: str, observed_at: str) -> dict[str, int]:
        """Close spells of people who left, extend the others, open spells for people who joined."""
        open_scope = f"{table}.group_id = {p} AND {table}.kind = {p} AND {table}.left_at IS NULL"
        match = f"FROM {STAGE} s WHERE s.mobile_number = {table}.mobile_number"
        ids = (group_id, kind)
        cursor.execute(
            f"SELECT COUNT(*) FROM {table} WHERE {open_scope} AND EXISTS (SELECT 1 {match} AND "
            f"(s.role <> {table}.role OR s.is_provisioned <> {table}.is_provisioned))",
            ids,
        )
        changed = int(cursor.fetchone()[0])
        cursor.execute(
            f"UPDATE {table} SET left_at = {p} WHERE {open_scope} AND NOT EXISTS (SELECT 1 {match})",
            (observed_at, *ids),
        )
        left = max(int(cursor.rowcount), 0)
        cursor.execute(
            f"UPDATE {table} SET last_seen = {p}, role = (SELECT s.role {match}), "
            f"is_provisioned = (SELECT s.is_provisioned {match}) WHERE {open_scope} AND EXISTS (SELECT 1 {match})",
            (observed_at, *ids),
        )
        cursor.execute(
            f"INSERT INTO {table} ({', '.join(PERSON_COLUMNS)}, first_seen, last_seen, left_at) "
            f"SELECT {p}, {p}, s.mobile_number, s.person_id, s.role, s.is_provisioned, {p}, {p}, NULL "
            f"FROM {STAGE} s WHERE NOT EXISTS (SELECT 1 FROM {table} t WHERE t.group_id = {p} AND t.kind = {p} "
            "AND t.mobile_number = s.mobile_number AND t.left_at IS NULL)",
            (*ids, observed_at, observed_at, *ids),
        )
        joined = max(int(cursor.rowcount), 0)
        cursor.execute(f"SELECT COUNT(*) FROM {STAGE}")
        present = int(cursor.fetchone()[0])
        cursor.execute(
            f"INSERT INTO {table}_loads (group_id, kind, observed_at, present, joined, left_count, changed, "
            f"loaded_at) VALUES ({p}, {p}, {p}, {p}, {p}, {p}, {p}, {p})",
            (group_id, kind, observed_at, present, joined, left, changed, _now()),
        )
        return {"present": present, "joined": joined, "left": left, "changed": changed}

    def _record_groups(
        self,
        cursor: Any,
        p: str,
        table: str,
        groups: Iterable[dict[str, Any]],
        counts: dict[tuple[str, str], int],
        observed_at: str,
    ) -> None:
        cursor.execute(f"DELETE FROM {table}_groups WHERE observed_at = {p}", (observed_at,))
        cursor.executemany(
            f"INSERT INTO {table}_groups (group_id, observed_at, group_name, group_type, members, subscribers) "
            f"VALUES ({p}, {p}, {p}, {p}, {p}, {p})",
            [
                (
                    str(g["groupId"]),
                    observed_at,
                    g.get("groupName"),
                    g.get("groupType", "Group"),
                    counts.get((str(g["groupId"]), "members")),
                    counts.get((str(g["groupId"]), "subscribers")),
                )
                for g in groups
            ],
        )


def _now() -> str:
    import pendulum

    return pendulum.now("UTC").isoformat()
