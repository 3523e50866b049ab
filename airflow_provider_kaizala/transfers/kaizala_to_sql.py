"""KaizalaToSqlOperator: load Kaizala membership into any SQL warehouse, with history."""

from __future__ import annotations

import contextlib
import functools
import hashlib
import math
import re
import secrets
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any, TypeVar

from airflow.providers.common.compat.sdk import BaseOperator

from airflow_provider_kaizala.exceptions import (
    KaizalaBadRequestError,
    KaizalaException,
    KaizalaLoadConflictError,
    KaizalaResponseError,
    KaizalaValidationError,
)
from airflow_provider_kaizala.hooks.kaizala import KaizalaHook
from airflow_provider_kaizala.hooks.mixin import KaizalaHookMixin
from airflow_provider_kaizala.hooks.validation import validate_choice, validate_id
from airflow_provider_kaizala.membership import KINDS

if TYPE_CHECKING:
    from airflow.providers.common.sql.hooks.sql import DbApiHook
    from sqlalchemy.sql.compiler import IdentifierPreparer

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
#: Longest table name: its companions (``_groups``, the staging tables) must fit PostgreSQL's 63 characters.
MAX_TABLE_LENGTH = 48
MAX_SCHEMA_LENGTH = 63
PERSON_COLUMNS = ("group_id", "kind", "mobile_number", "person_id", "role", "is_provisioned")
#: Staging tables are named ``<table>__kz_stage_<8 random hex digits>``: temporary, one per list and load.
STAGE_MARK = "__kz_stage_"
#: Pages fetched ahead while the previous ones are written (bounds memory to a few pages).
PREFETCH_PAGES = 8
#: Seconds a load waits for another load of the same list to finish before giving up.
DEFAULT_LOCK_TIMEOUT = 300.0
#: The dialects with a native lock; every other dialect uses a lock row in ``<table>_locks``.
NATIVE_LOCKS = ("postgresql", "sqlite")
#: Staging tables of resumable walks are named ``<table>__kz_walk_<walk id>``: durable, one per walk.
WALK_MARK = "__kz_walk_"
_WALK_ID = re.compile(r"[0-9a-f]{16}")
#: Pages between two checkpoints of a resumable walk (staged rows and cursor committed together).
DEFAULT_CHECKPOINT_PAGES = 20
#: Checkpoints not updated for this many seconds are abandoned: their staging tables are dropped.
DEFAULT_CHECKPOINT_MAX_AGE = 7 * 86400.0
#: Subscribers asked for per page (the API's most).
PAGE_SIZE = 50
#: Lists named one by one in an Asset event's ``extra`` (``listCount`` gives them all).
MAX_EVENT_LISTS = 200


_T = TypeVar("_T")


def prefetched(pages: Iterator[_T], depth: int = PREFETCH_PAGES) -> Iterator[_T]:
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


@functools.cache
def _preparer(dialect: str) -> IdentifierPreparer:
    """SQLAlchemy's identifier preparer of ``dialect`` (standard SQL double quotes for unknown dialects)."""
    from sqlalchemy.dialects import registry
    from sqlalchemy.engine.default import DefaultDialect
    from sqlalchemy.exc import NoSuchModuleError

    try:
        return registry.load(dialect)().identifier_preparer
    except (NoSuchModuleError, ImportError):
        return DefaultDialect().identifier_preparer


def _stage_suffix() -> str:
    return secrets.token_hex(4)


def lock_key(table: int | str, group_id: str, kind: str) -> int:
    """The PostgreSQL advisory lock key of one list of one table (a signed 64-bit digest).

    ``table`` is the table's OID (so every spelling of one table shares a key), or its name before the
    table exists (``kind="ddl"``).
    """
    digest = hashlib.blake2b(f"kaizala-load\0{table}\0{group_id}\0{kind}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def _refuse_table(table: Any, why: str) -> KaizalaValidationError:
    return KaizalaValidationError(
        f"Invalid table={table!r}: {why}. Expected a table name of ASCII letters, digits and underscores, not "
        f"starting with a digit, at most {MAX_TABLE_LENGTH} characters, optionally after a schema name and a dot "
        "('kaizala_membership', 'analytics.kaizala_membership'). Reserved words such as 'order' are quoted for you; "
        "quotes, spaces and other characters are refused."
    )


@dataclass(frozen=True)
class TableNames:
    """The target table and its companion tables, validated and quoted for one SQL dialect.

    Names are checked against a strict pattern (nothing but ASCII letters, digits and underscores), then
    quoted through SQLAlchemy's identifier preparer of the dialect when they are reserved words, so
    ``order`` works and nothing else can change the meaning of a statement. Other names stay unquoted and
    follow the database's own case rules (PostgreSQL folds them to lower case), as they always did.
    """

    dialect: str
    schema: str | None
    name: str

    @classmethod
    def parse(cls, table: Any, dialect: str) -> TableNames:
        """Validate ``table`` (``name`` or ``schema.name``) before any call; raise a clear error otherwise."""
        if not isinstance(table, str):
            raise _refuse_table(table, f"a {type(table).__name__} is not a table name")
        parts = table.split(".")
        if len(parts) > 2:
            raise _refuse_table(table, "at most one dot (schema.table) is allowed")
        for part in parts:
            if not _NAME.fullmatch(part):
                raise _refuse_table(table, f"{part!r} is not a plain SQL name")
        schema, name = (None, parts[0]) if len(parts) == 1 else (parts[0], parts[1])
        if len(name) > MAX_TABLE_LENGTH:
            raise _refuse_table(table, f"the table name has {len(name)} characters")
        if name.lower().startswith(("sqlite_", "pg_")):
            raise _refuse_table(table, f"{name!r} starts with a prefix the database reserves for its own tables")
        if schema is not None and len(schema) > MAX_SCHEMA_LENGTH:
            raise _refuse_table(table, f"the schema name has {len(schema)} characters (at most {MAX_SCHEMA_LENGTH})")
        return cls(dialect, schema, name)

    @property
    def label(self) -> str:
        """The table as the user wrote it, for messages."""
        return f"{self.schema}.{self.name}" if self.schema else self.name

    def quote(self, word: str) -> str:
        """``word`` quoted by the dialect when it is a reserved word, else as it is."""
        preparer = _preparer(self.dialect)
        return str(preparer.quote_identifier(word)) if word.lower() in preparer.reserved_words else word

    def qualified(self, suffix: str = "") -> str:
        """The quoted, schema-qualified name of the table, or of its companion ``<table><suffix>``."""
        name = self.quote(self.name + suffix)
        return f"{self.quote(self.schema)}.{name}" if self.schema else name

    @property
    def alias(self) -> str:
        """How columns of the membership table are qualified inside its statements."""
        return self.quote(self.name)

    def stage(self) -> tuple[str, str]:
        """A fresh staging table: its bare name and how statements refer to it (in the temporary schema)."""
        name = f"{self.name[:40]}{STAGE_MARK}{_stage_suffix()}"
        temp_schema = {"postgresql": "pg_temp", "sqlite": "temp"}.get(self.dialect)
        return name, f"{temp_schema}.{self.quote(name)}" if temp_schema else self.quote(name)

    def ref(self, name: str) -> str:
        """How statements refer to the table ``name`` in this table's schema (quoted when reserved)."""
        return f"{self.quote(self.schema)}.{self.quote(name)}" if self.schema else self.quote(name)

    def walk_stage(self, walk_id: str) -> tuple[str, str]:
        """The durable staging table of one resumable walk: its bare name and how statements refer to it.

        The name is derived from the walk id alone (16 hex digits, checked here), never read back from the
        warehouse, so a checkpoint row cannot make a load touch a table the transfer did not create.
        """
        if not _WALK_ID.fullmatch(walk_id):
            raise ValueError(f"not a walk id: {walk_id!r}")
        name = f"{self.name[:36]}{WALK_MARK}{walk_id}"
        return name, self.ref(name)

    def walks_ddl(self) -> str:
        """CREATE statement of ``<table>_walks``, the checkpoints of resumable walks."""
        return (
            f"CREATE TABLE IF NOT EXISTS {self.qualified('_walks')} (walk_id TEXT NOT NULL PRIMARY KEY, "
            "group_id TEXT NOT NULL, kind TEXT NOT NULL, observed_at TEXT NOT NULL, status TEXT NOT NULL, "
            "cursor TEXT, pages INTEGER NOT NULL, rows_staged INTEGER NOT NULL, restarts INTEGER NOT NULL, "
            "started_at TEXT NOT NULL, updated_at TEXT NOT NULL)"
        )

    def ddl(self) -> list[str]:
        """CREATE statements for the membership table, the load log, the groups table (and the lock rows)."""
        text = "TEXT"
        flag = "BOOLEAN" if self.dialect == "postgresql" else "INTEGER"
        table = self.qualified()
        index_name = f"{self.schema}_{self.name}_open" if self.schema else f"{self.name}_open"
        if self.dialect == "sqlite":  # SQLite qualifies the index, never the table it indexes
            index = f"{self.quote(self.schema) + '.' if self.schema else ''}{self.quote(index_name)} ON {self.alias}"
        else:
            index = f"{self.quote(index_name)} ON {table}"
        statements = [
            f"CREATE TABLE IF NOT EXISTS {table} (group_id {text} NOT NULL, kind {text} NOT NULL, "
            f"mobile_number {text} NOT NULL, person_id {text}, role {text}, is_provisioned {flag}, "
            f"first_seen {text} NOT NULL, last_seen {text} NOT NULL, left_at {text}, "
            "PRIMARY KEY (group_id, kind, mobile_number, first_seen))",
            f"CREATE INDEX IF NOT EXISTS {index} (group_id, kind, left_at)",
            f"CREATE TABLE IF NOT EXISTS {self.qualified('_loads')} (group_id {text} NOT NULL, kind {text} NOT NULL, "
            f"observed_at {text} NOT NULL, present INTEGER NOT NULL, joined INTEGER NOT NULL, "
            f"left_count INTEGER NOT NULL, changed INTEGER NOT NULL, loaded_at {text} NOT NULL, "
            "PRIMARY KEY (group_id, kind, observed_at))",
            f"CREATE TABLE IF NOT EXISTS {self.qualified('_groups')} (group_id {text} NOT NULL, "
            f"observed_at {text} NOT NULL, group_name {text}, group_type {text}, members INTEGER, "
            "subscribers INTEGER, PRIMARY KEY (group_id, observed_at))",
        ]
        if self.dialect not in NATIVE_LOCKS:
            statements.append(
                f"CREATE TABLE IF NOT EXISTS {self.qualified('_locks')} (group_id {text} NOT NULL, "
                f"kind {text} NOT NULL, holder {text} NOT NULL, PRIMARY KEY (group_id, kind))"
            )
        return statements


def table_ddl(table: str, dialect: str) -> list[str]:
    """CREATE statements for the membership table, the load log and the groups table.

    Times are ISO-8601 UTC strings: they sort and compare correctly in every database, and a view can
    cast them. Membership rows are *spells*: one row per continuous period a person belongs to a group.
    Dialects without a native lock (see :data:`NATIVE_LOCKS`) also get ``<table>_locks``.
    """
    return TableNames.parse(table, dialect).ddl()


def _sqlstate(err: BaseException) -> str | None:
    """The SQLSTATE of a psycopg (3) or psycopg2 error."""
    return getattr(err, "sqlstate", None) or getattr(err, "pgcode", None)


class _Session:
    """One load's connection to the warehouse: its write transactions, their locks, its staging tables."""

    def __init__(self, conn: Any, names: TableNames, placeholder: str, lock_timeout: float, log: Any) -> None:
        self.conn, self.names, self.p, self.lock_timeout, self.log = conn, names, placeholder, lock_timeout, log
        self.cursor = conn.cursor()
        self.table_key: int | str = names.label
        if names.dialect == "postgresql":
            conn.autocommit = False  # the locks are transaction-scoped

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        self.cursor.execute(sql, tuple(params))
        return self.cursor

    def one(self, sql: str, params: Sequence[Any] = ()) -> Any:
        rows = self.execute(sql, params).fetchall()
        return rows[0][0] if rows else None

    def commit(self) -> None:
        self.conn.commit()

    def rollback(self) -> None:
        self.conn.rollback()

    def check_schema(self) -> None:
        """Refuse a schema the warehouse does not have, before any Kaizala call."""
        names = self.names
        if names.schema is None:
            return
        if names.dialect == "sqlite":
            attached = {str(row[1]).lower() for row in self.execute("PRAGMA database_list").fetchall()}
            if names.schema.lower() not in attached:
                raise KaizalaValidationError(
                    f"Invalid table={names.label!r}: SQLite has no schema {names.schema!r} on this connection. "
                    "SQLite's schemas are its attached databases ('main', 'temp' and ATTACHed files), and an "
                    f"Airflow SQLite connection attaches none: use {names.name!r} or 'main.{names.name}'."
                )
        elif names.dialect == "postgresql":
            found = self.one(f"SELECT to_regnamespace(CAST({self.p} AS text))", (names.quote(names.schema),))
            self.commit()
            if found is None:
                raise KaizalaValidationError(
                    f"Invalid table={names.label!r}: the schema {names.schema!r} does not exist in the warehouse. "
                    f"Create it first (CREATE SCHEMA {names.schema}) or use a table name without a schema."
                )

    def create_tables(self) -> None:
        """Create the tables when missing, serialised with other loads creating them."""
        self.begin_locked(("*", "ddl"), key_table=self.names.label)
        try:
            for statement in self.names.ddl():
                self.execute(statement)
            self.commit()
        except Exception:
            if self.names.dialect in NATIVE_LOCKS:
                raise
            self.rollback()  # without a lock, a concurrent first load may have created them meanwhile: once more
            for statement in self.names.ddl():
                self.execute(statement)
            self.commit()

    def resolve_table(self) -> None:
        """Key the PostgreSQL locks by the table's OID, so every spelling of one table shares them."""
        if self.names.dialect == "postgresql":
            oid = self.one(f"SELECT CAST(to_regclass(CAST({self.p} AS text)) AS oid)", (self.names.qualified(),))
            self.commit()
            if oid is not None:
                self.table_key = int(oid)

    def begin_locked(self, scope: tuple[str, str], key_table: int | str | None = None) -> None:
        """Start a write transaction holding the lock of ``scope`` (a list, or the groups table) until it ends.

        PostgreSQL: a transaction-level advisory lock (``pg_advisory_xact_lock``) keyed by the table's OID and
        the list, waiting at most ``lock_timeout`` seconds. SQLite: ``BEGIN IMMEDIATE`` (the database's write
        lock, waiting at most ``lock_timeout``). Other dialects: the list's row in ``<table>_locks`` is updated
        first, which holds its row lock until the transaction ends (the wait is the database's own lock
        timeout). A wait that runs out raises :class:`KaizalaLoadConflictError`.
        """
        self.commit()
        group_id, kind = scope
        what = {"ddl": "the creation of the tables", "groups": "the groups table"}.get(kind, f"{kind} of {group_id}")
        conflict = (
            f"Another load of {self.names.label} held the lock on {what} for more than "
            f"{self.lock_timeout:g} s (lock_timeout); loads of one list are serialised. Nothing was written: "
            "re-run when the other load has finished."
        )
        dialect = self.names.dialect if self.names.dialect in NATIVE_LOCKS else "lock row"
        if dialect == "postgresql":
            key = lock_key(self.table_key if key_table is None else key_table, group_id, kind)
            self.execute("SET TRANSACTION ISOLATION LEVEL READ COMMITTED")  # see the other load's commit
            previous = self.one("SELECT current_setting('lock_timeout')")
            self.execute(
                f"SELECT set_config('lock_timeout', {self.p}, true)", (f"{math.ceil(self.lock_timeout * 1000)}ms",)
            )
            try:
                self.execute(f"SELECT pg_advisory_xact_lock({self.p})", (key,)).fetchall()
            except Exception as err:
                if _sqlstate(err) == "55P03":
                    self.rollback()
                    raise KaizalaLoadConflictError(conflict) from err
                raise
            self.execute(f"SELECT set_config('lock_timeout', {self.p}, true)", (previous,)).fetchall()
        elif dialect == "sqlite":
            import sqlite3

            self.execute(f"PRAGMA busy_timeout = {math.ceil(self.lock_timeout * 1000)}")
            try:
                self.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as err:
                if "locked" in str(err) or "busy" in str(err):
                    raise KaizalaLoadConflictError(conflict) from err
                raise
        elif kind != "ddl":
            self._take_lock_row(scope, conflict)

    def _take_lock_row(self, scope: tuple[str, str], conflict: str) -> None:
        """The lock row fallback: update the list's row in ``<table>_locks`` (inserted on first use)."""
        import uuid

        locks, p, holder = self.names.qualified("_locks"), self.p, uuid.uuid4().hex
        update = f"UPDATE {locks} SET holder = {p} WHERE group_id = {p} AND kind = {p}"
        if self.execute(update, (holder, *scope)).rowcount != 0:
            return
        try:
            self.execute(f"INSERT INTO {locks} (group_id, kind, holder) VALUES ({p}, {p}, {p})", (*scope, holder))
            return
        except Exception:  # another load inserted the row first and has committed: wait for its row lock
            self.rollback()
        if self.execute(update, (holder, *scope)).rowcount != 1:
            self.rollback()
            raise KaizalaLoadConflictError(conflict)

    def create_stage(self) -> str:
        """Create this list's temporary staging table; return how statements refer to it."""
        name, ref = self.names.stage()
        flag = "BOOLEAN" if self.names.dialect == "postgresql" else "INTEGER"
        self.execute(
            f"CREATE TEMPORARY TABLE {ref} (mobile_number TEXT NOT NULL PRIMARY KEY, person_id TEXT, role TEXT, "
            f"is_provisioned {flag})"
        )
        self.commit()
        self.log.debug("Staging into the temporary table %s.", name)
        return ref

    def drop_stage(self, ref: str) -> None:
        """Drop a staging table this load created (it would vanish with the session anyway)."""
        try:
            self.rollback()
            self.execute(f"DROP TABLE {ref}")
            self.commit()
        except Exception as err:
            with contextlib.suppress(Exception):
                self.rollback()
            self.log.warning(
                "Could not drop the staging table %s (%s); it ends with the session.", ref, type(err).__name__
            )

    # -- resumable walks: a checkpoint row in <table>_walks and a durable staging table per walk

    def create_walks_table(self) -> None:
        """Create ``<table>_walks`` when missing, serialised with other loads creating tables."""
        self.begin_locked(("*", "ddl"), key_table=self.names.label)
        self.execute(self.names.walks_ddl())
        self.commit()

    def _stage_exists(self, ref: str) -> bool:
        try:
            self.execute(f"SELECT 1 FROM {ref} WHERE 1 = 0").fetchall()
            self.commit()
            return True
        except Exception:
            self.rollback()
            return False

    def open_walk(self, walk_id: str, group_id: str, kind: str, observed_at: str) -> _Walk:
        """The walk's checkpoint when an earlier try left one, else a new checkpoint row and staging table.

        Both are created in one transaction with ``CREATE TABLE`` (never ``IF NOT EXISTS``): a table of that
        name the transfer did not create makes the load fail instead of writing into it.
        """
        name, ref = self.names.walk_stage(walk_id)
        walks, p = self.names.qualified("_walks"), self.p
        rows = self.execute(
            f"SELECT status, cursor, pages, rows_staged, restarts, observed_at, group_id, kind FROM {walks} "
            f"WHERE walk_id = {p}",
            (walk_id,),
        ).fetchall()
        self.commit()
        if rows:
            status, cursor, pages, staged, restarts, seen_at, seen_group, seen_kind = rows[0]
            consistent = (seen_at, seen_group, seen_kind) == (observed_at, group_id, kind)
            if consistent and (status == "merged" or (status in ("walking", "staged") and self._stage_exists(ref))):
                return _Walk(
                    walk_id, group_id, kind, observed_at, ref, str(status), cursor, int(pages), int(staged),
                    int(restarts), resumed=True,
                )  # fmt: skip
            self.log.warning("Discarding the unusable checkpoint of walk %s (%s).", walk_id, status)
            self.forget_walk(walk_id)
        now = _now()
        flag = "BOOLEAN" if self.names.dialect == "postgresql" else "INTEGER"
        try:
            self.execute(
                f"INSERT INTO {walks} (walk_id, group_id, kind, observed_at, status, cursor, pages, rows_staged, "
                f"restarts, started_at, updated_at) VALUES ({p}, {p}, {p}, {p}, {p}, NULL, 0, 0, 0, {p}, {p})",
                (walk_id, group_id, kind, observed_at, "walking", now, now),
            )
            self.execute(
                f"CREATE TABLE {ref} (mobile_number TEXT NOT NULL PRIMARY KEY, person_id TEXT, role TEXT, "
                f"is_provisioned {flag})"
            )
            self.commit()
        except Exception as err:
            self.rollback()
            raise KaizalaLoadConflictError(
                f"Could not start the checkpointed walk of {kind} of {group_id}: creating its staging table {name} "
                f"failed ({type(err).__name__}). A table of that name that this transfer did not create is never "
                "written to; rename it, or run the load again."
            ) from err
        self.log.debug("Staging walk %s into %s.", walk_id, name)
        return _Walk(walk_id, group_id, kind, observed_at, ref)

    def checkpoint(self, walk: _Walk, batch: Sequence[tuple[Any, ...]]) -> None:
        """Commit the staged rows of the last pages together with the cursor that follows them."""
        p = self.p
        if batch:
            self.cursor.executemany(
                f"INSERT INTO {walk.stage} (mobile_number, person_id, role, is_provisioned) "
                f"VALUES ({p}, {p}, {p}, {p}) ON CONFLICT DO NOTHING",
                list(batch),
            )
        self.execute(
            f"UPDATE {self.names.qualified('_walks')} SET status = {p}, cursor = {p}, pages = {p}, "
            f"rows_staged = {p}, restarts = {p}, updated_at = {p} WHERE walk_id = {p}",
            (walk.status, walk.cursor, walk.pages, walk.rows, walk.restarts, _now(), walk.walk_id),
        )
        self.commit()

    def restart_walk(self, walk: _Walk) -> None:
        """Empty the walk's staging table and move its checkpoint back to page 1."""
        self.rollback()
        self.execute(f"DELETE FROM {walk.stage}")
        walk.cursor, walk.pages, walk.rows, walk.status = None, 0, 0, "walking"
        walk.restarts += 1
        self.checkpoint(walk, ())

    def mark_merged(self, walk: _Walk) -> None:
        """Inside the merge's transaction: the walk's list is merged (a later try does not walk it again)."""
        walk.status, walk.cursor = "merged", None
        self.execute(
            f"UPDATE {self.names.qualified('_walks')} SET status = {self.p}, cursor = NULL, updated_at = {self.p} "
            f"WHERE walk_id = {self.p}",
            ("merged", _now(), walk.walk_id),
        )

    def drop_walk_stage(self, walk_id: str) -> None:
        """Drop a walk's staging table (its name comes from the walk id, never from the warehouse)."""
        _, ref = self.names.walk_stage(walk_id)
        try:
            self.rollback()
            self.execute(f"DROP TABLE IF EXISTS {ref}")
            self.commit()
        except Exception as err:
            with contextlib.suppress(Exception):
                self.rollback()
            self.log.warning("Could not drop the staging table of walk %s (%s).", walk_id, type(err).__name__)

    def forget_walk(self, walk_id: str) -> None:
        """Drop a walk's staging table and delete its checkpoint row."""
        self.drop_walk_stage(walk_id)
        self.execute(f"DELETE FROM {self.names.qualified('_walks')} WHERE walk_id = {self.p}", (walk_id,))
        self.commit()

    def cleanup_walks(self, max_age: float) -> int:
        """Forget checkpoints not updated for ``max_age`` seconds (abandoned: no retry will resume them)."""
        import pendulum

        cutoff = pendulum.now("UTC").subtract(seconds=max_age).isoformat()
        rows = self.execute(
            f"SELECT walk_id FROM {self.names.qualified('_walks')} WHERE updated_at < {self.p}", (cutoff,)
        ).fetchall()
        self.commit()
        abandoned = [str(r[0]) for r in rows if _WALK_ID.fullmatch(str(r[0]))]
        for walk_id in abandoned:
            self.forget_walk(walk_id)
        if abandoned:
            self.log.info(
                "Removed %d abandoned walk checkpoint(s) of %s older than %.0f s.",
                len(abandoned),
                self.names.label,
                max_age,
            )
        return len(abandoned)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.rollback()
        self.conn.close()


@dataclass
class _Walk:
    """One resumable walk of one list: its checkpoint (``<table>_walks`` row) and durable staging table."""

    walk_id: str
    group_id: str
    kind: str
    observed_at: str
    stage: str
    status: str = "walking"
    cursor: str | None = None
    pages: int = 0
    rows: int = 0
    restarts: int = 0
    resumed: bool = False


class KaizalaToSqlOperator(KaizalaHookMixin, BaseOperator):
    """Load Kaizala membership into a SQL table through any Airflow ``DbApiHook`` connection, with history.

    Sources: one group's ``members``, one public group's ``subscribers``, or, with ``group_id=None``, every
    group the connector sees (members of each, and subscribers of public groups). Pages stream into a
    temporary staging table of the load's own session (``<table>__kz_stage_<random>``) in batches as they
    arrive (the next pages are fetched while the previous ones are written), so memory does not grow with the
    group's size; one transaction per list then merges them into ``table``. An error anywhere in the walk
    writes nothing to ``table``.

    Inside a task, walks are *resumable*: the staged rows go to a durable ``<table>__kz_walk_<walk id>`` table
    and, every ``checkpoint_pages`` pages, are committed together with the cursor of the next page in
    ``<table>_walks``; a retry of the same task instance (dag_id, task_id, run_id, map_index) resumes from
    there. A saved cursor the server refuses (HTTP 400) restarts the walk from page 1, and checkpoints left
    for ``checkpoint_max_age`` seconds are removed. With ``changes_path`` the people who joined or left are
    written there, and every ``Asset`` in ``outlets`` gets the counts and the path as its event's ``extra``.

    The table keeps history as *spells*: a row per continuous membership with ``first_seen``,
    ``last_seen`` and ``left_at`` (ISO-8601 UTC), so "who was a member on date D" is
    ``first_seen <= D AND (left_at IS NULL OR left_at > D)``. The observation time is the run's logical
    date. A re-run of the same logical date first undoes that date's load, so rows are never duplicated;
    loading a date older than the newest already loaded for a group is refused (history only moves
    forward). Loads of one list are serialised (an advisory lock on PostgreSQL, ``BEGIN IMMEDIATE`` on
    SQLite, a lock row elsewhere). ``<table>_loads`` logs every load (present, joined, left, changed) and
    ``<table>_groups`` the groups seen with their counts.

    :param sql_conn_id: the SQL connection (SQLite, PostgreSQL, any ``DbApiHook``) (templated).
    :param table: target table, optionally schema-qualified; reserved words are quoted (templated).
    :param group_id: the group to load, or None for every group of the connector (templated).
    :param kind: ``members`` or ``subscribers`` when ``group_id`` is set (templated).
    :param include_subscribers: with ``group_id=None``, also load subscribers of public groups (templated).
    :param observed_at: observation time override (ISO-8601); default the logical date (templated).
    :param create_table: create the tables when missing.
    :param batch_size: rows per staging insert.
    :param lock_timeout: seconds to wait for another load of the same list before
        :class:`~airflow_provider_kaizala.exceptions.KaizalaLoadConflictError`.
    :param resumable: inside a task (a context with ``ti``), checkpoint the walk in the warehouse so a retry
        of the same task instance (dag_id, task_id, run_id, map_index) resumes it instead of starting at
        page 1 (see the docs, *Resumable walks*). Without a task context loads stage in temporary tables.
    :param checkpoint_pages: pages between two checkpoints of a resumable walk.
    :param checkpoint_max_age: seconds after which a checkpoint nobody updated is abandoned and removed.
    :param changes_path: write the period's joins and leaves (JSON Lines, one row per person) to this path
        or ``ObjectStoragePath`` URL (templated); its path and the counts are the ``extra`` of the event of
        every ``Asset`` in ``outlets``, so downstream DAGs scheduled on it react without a walk of their own.
    :param kaizala_conn_id: the ``kaizala`` connection (templated).
    :return: ``{"table", "observedAt", "groups", "lists", "present", "joined", "left", "changed",
        "rowsPerSecond", "changesPath"}``.
    """

    template_fields: Sequence[str] = (
        "kaizala_conn_id",
        "sql_conn_id",
        "table",
        "group_id",
        "kind",
        "include_subscribers",
        "observed_at",
        "changes_path",
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
        lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
        resumable: bool = True,
        checkpoint_pages: int = DEFAULT_CHECKPOINT_PAGES,
        checkpoint_max_age: float = DEFAULT_CHECKPOINT_MAX_AGE,
        changes_path: str | None = None,
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
        self.lock_timeout = lock_timeout
        self.resumable = resumable
        self.checkpoint_pages = checkpoint_pages
        self.checkpoint_max_age = checkpoint_max_age
        self.changes_path = changes_path
        self.kaizala_conn_id = kaizala_conn_id

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
            # A run triggered without a logical date (Airflow 3's default) has its run_after, which stays the same
            # across retries, so a resumed walk keeps its observation time.
            run_after = getattr(context.get("dag_run"), "run_after", None)
            moment = context.get("logical_date") or context.get("data_interval_end") or run_after or pendulum.now("UTC")
        return str(pendulum.instance(moment).in_timezone("UTC").isoformat())

    def _check(self) -> tuple[TableNames, list[tuple[str, str]] | None]:
        names = TableNames.parse(self.table, "default")  # syntax first; quoting waits for the dialect
        for field, value, limit in (
            ("batch_size", self.batch_size, 10**6),
            ("lock_timeout", self.lock_timeout, 86400),
            ("checkpoint_pages", self.checkpoint_pages, 10**6),
            ("checkpoint_max_age", self.checkpoint_max_age, 366 * 86400),
        ):
            integer = field in ("batch_size", "checkpoint_pages")
            if (
                isinstance(value, bool)
                or not isinstance(value, (int, float))
                or not math.isfinite(value)
                or not 0 < value <= limit
                or (integer and not isinstance(value, int))
            ):
                kind = "an integer" if integer else "a number of seconds"
                raise KaizalaValidationError(f"Invalid {field}={value!r}: expected {kind} above 0, at most {limit}.")
        if self.group_id is None:
            return names, None
        kind = validate_choice(self.kind, "kind", KINDS)
        return names, [(validate_id(self.group_id, "group_id"), kind)]

    def execute(self, context: Any) -> dict[str, Any]:
        """Load the membership."""
        from airflow_provider_kaizala.hooks.validation import validate_bool

        parsed, targets = self._check()
        include_subscribers = validate_bool(self.include_subscribers, "include_subscribers")
        resumable = validate_bool(self.resumable, "resumable")
        if self.changes_path is not None and not (isinstance(self.changes_path, str) and self.changes_path.strip()):
            raise KaizalaValidationError(
                f"Invalid changes_path={self.changes_path!r}: expected a path or an ObjectStoragePath URL, or None."
            )
        observed_at = self._observed_at(context)
        run_key = _run_key(context) if resumable else None
        started = time.monotonic()
        sql = self.sql_hook
        names = TableNames(sql.dialect_name, parsed.schema, parsed.name)
        session = _Session(sql.get_conn(), names, sql.placeholder, float(self.lock_timeout), self.log)
        totals = {"present": 0, "joined": 0, "left": 0, "changed": 0}
        counts: dict[tuple[str, str], int] = {}
        per_list: list[dict[str, Any]] = []
        walk_ids: list[str] = []
        groups: list[dict[str, Any]] = []
        changes_path: str | None = None
        try:
            session.check_schema()
            if self.create_table:
                session.create_tables()
            session.resolve_table()
            if run_key is not None:
                session.create_walks_table()
                session.cleanup_walks(float(self.checkpoint_max_age))
            if targets is None:
                groups = self.hook.list_groups(fetch_all_groups=True)
                targets = [(str(g["groupId"]), "members") for g in groups]
                if include_subscribers:
                    targets += [
                        (str(g["groupId"]), "subscribers") for g in groups if g.get("groupType") == "ConnectGroup"
                    ]
            for group_id, kind in targets:
                if run_key is None:
                    result = self._load_one(session, group_id, kind, observed_at)
                else:
                    walk_ids.append(_walk_id(names, run_key, group_id, kind, observed_at))
                    result = self._load_walk(session, walk_ids[-1], group_id, kind, observed_at)
                per_list.append({"groupId": group_id, "kind": kind, **result})
                counts[(group_id, kind)] = result["present"]
                for key in totals:
                    totals[key] += result[key]
            if groups:
                session.begin_locked(("*", "groups"))
                self._record_groups(session, groups, counts, observed_at)
                session.commit()
            if self.changes_path:
                changes_path = self._write_changes(session, str(self.changes_path), targets, observed_at)
            for walk_id in walk_ids:  # the whole load succeeded: its checkpoints are no longer needed
                session.forget_walk(walk_id)
        finally:
            session.close()
        self._publish(context, names, observed_at, totals, per_list, changes_path)
        elapsed = time.monotonic() - started
        self.log.info(
            "Loaded %d lists (members or subscribers) of %d groups into %s at %s: %d present, %d joined, %d left, "
            "%d changed in %.1f s.",
            len(targets),
            len({g for g, _ in targets}),
            names.label,
            observed_at,
            totals["present"],
            totals["joined"],
            totals["left"],
            totals["changed"],
            elapsed,
        )
        return {
            "table": self.table,
            "observedAt": observed_at,
            "groups": len({g for g, _ in targets}),
            "lists": len(targets),
            **totals,
            "rowsPerSecond": round(totals["present"] / elapsed, 1) if elapsed else None,
            "changesPath": changes_path,
        }

    def _publish(
        self,
        context: Any,
        names: TableNames,
        observed_at: str,
        totals: Mapping[str, int],
        per_list: Sequence[Mapping[str, Any]],
        changes_path: str | None,
    ) -> None:
        """Attach the period's joins and leaves to the event of every ``Asset`` among the outlets."""
        from airflow.providers.common.compat.sdk import Asset

        assets = [outlet for outlet in (self.outlets or []) if isinstance(outlet, Asset)]
        events = context.get("outlet_events") if isinstance(context, Mapping) or hasattr(context, "get") else None
        if not assets or events is None:
            return
        extra: dict[str, Any] = {
            "table": names.label,
            "observedAt": observed_at,
            "present": totals["present"],
            "joined": totals["joined"],
            "left": totals["left"],
            "changed": totals["changed"],
            "changesPath": changes_path,
            "listCount": len(per_list),
            "lists": [
                {k: entry[k] for k in ("groupId", "kind", "present", "joined", "left", "firstLoad")}
                for entry in per_list[:MAX_EVENT_LISTS]
            ],
        }
        for asset in assets:
            events[asset].extra = extra
        self.log.info(
            "Published %d joined and %d left of %s at %s to %s.",
            totals["joined"],
            totals["left"],
            names.label,
            observed_at,
            ", ".join(repr(a.name) for a in assets),
        )

    def _write_changes(self, session: _Session, path: str, targets: Sequence[tuple[str, str]], observed_at: str) -> str:
        """Write the people who joined or left at ``observed_at`` (from the spells the load opened or closed)."""
        from airflow_provider_kaizala.storage import write_json_lines

        p, table = session.p, session.names.qualified()

        def rows() -> Iterator[dict[str, Any]]:
            for group_id, kind in targets:
                for change, column in (("joined", "first_seen"), ("left", "left_at")):
                    cursor = session.execute(
                        f"SELECT mobile_number, person_id, role FROM {table} WHERE group_id = {p} AND kind = {p} "
                        f"AND {column} = {p} ORDER BY mobile_number",
                        (group_id, kind, observed_at),
                    )
                    while chunk := cursor.fetchmany(5000):
                        for number, person_id, role in chunk:
                            yield {
                                "groupId": group_id,
                                "kind": kind,
                                "change": change,
                                "mobileNumber": number,
                                "personId": person_id,
                                "role": role,
                                "observedAt": observed_at,
                            }
                    session.commit()

        written, count = write_json_lines(path, rows())
        self.log.info("Wrote %d joins and leaves to %s.", count, written)
        return written

    def _load_walk(self, session: _Session, walk_id: str, group_id: str, kind: str, observed_at: str) -> dict[str, Any]:
        """Load one list through a checkpointed walk: resume an earlier try's walk, or start one."""
        self._latest(session, group_id, kind, observed_at)
        session.commit()
        walk = session.open_walk(walk_id, group_id, kind, observed_at)
        if walk.status == "merged":
            done = self._loaded(session, group_id, kind, observed_at)
            if done is not None:
                self.log.info(
                    "%s of %s were merged at %s by an earlier try of this task: not walked again.",
                    kind,
                    group_id,
                    observed_at,
                )
                return done
            session.forget_walk(walk_id)
            walk = session.open_walk(walk_id, group_id, kind, observed_at)
        try:
            if walk.status == "walking":
                self._stage_walk(session, walk)
            session.begin_locked((group_id, kind))
            previous = self._latest(session, group_id, kind, observed_at)
            if previous == observed_at:
                self._undo(session, group_id, kind, observed_at)
            result: dict[str, Any] = self._merge(session, walk.stage, group_id, kind, observed_at)
            session.mark_merged(walk)
            first = self._previous(session, group_id, kind, observed_at) is None
            session.commit()
        except BaseException:
            with contextlib.suppress(Exception):
                session.rollback()  # the checkpoint stays: a retry resumes from it
            raise
        session.drop_walk_stage(walk_id)
        return {**result, "firstLoad": first}

    def _previous(self, session: _Session, group_id: str, kind: str, observed_at: str) -> str | None:
        loads, p = session.names.qualified("_loads"), session.p
        found = session.one(
            f"SELECT MAX(observed_at) FROM {loads} WHERE group_id = {p} AND kind = {p} AND observed_at < {p}",
            (group_id, kind, observed_at),
        )
        return None if found is None else str(found)

    def _loaded(self, session: _Session, group_id: str, kind: str, observed_at: str) -> dict[str, Any] | None:
        """The logged counts of the list's load at ``observed_at``, if there is one."""
        p = session.p
        rows = session.execute(
            f"SELECT present, joined, left_count, changed FROM {session.names.qualified('_loads')} "
            f"WHERE group_id = {p} AND kind = {p} AND observed_at = {p}",
            (group_id, kind, observed_at),
        ).fetchall()
        first = self._previous(session, group_id, kind, observed_at) is None
        session.commit()
        if not rows:
            return None
        present, joined, left, changed = (int(v) for v in rows[0])
        return {"present": present, "joined": joined, "left": left, "changed": changed, "firstLoad": first}

    def _stage_walk(self, session: _Session, walk: _Walk) -> None:
        """Walk from the checkpoint's cursor; restart from page 1 when the server refuses a saved cursor."""
        if walk.pages:
            self.log.info(
                "Resuming the walk of %s of %s from its checkpoint: %d pages and %d people already staged, "
                "continuing at page %d (walk %s).",
                walk.kind,
                walk.group_id,
                walk.pages,
                walk.rows,
                walk.pages + 1,
                walk.walk_id,
            )
        saved = walk.cursor
        received: list[int] = [0]
        try:
            self._walk_pages(session, walk, received)
        except KaizalaBadRequestError:
            if saved is None or received[0]:
                raise
            self.log.warning(
                "Kaizala no longer accepts the saved cursor of the walk of %s of %s (HTTP 400): restarting it "
                "from page 1; the %d people staged before are discarded (walk %s).",
                walk.kind,
                walk.group_id,
                walk.rows,
                walk.walk_id,
            )
            session.restart_walk(walk)
            self._walk_pages(session, walk, received)

    def _walk_pages(self, session: _Session, walk: _Walk, received: list[int]) -> None:
        total = self._expected(session, walk) if walk.kind == "subscribers" else None
        batch: list[tuple[Any, ...]] = []
        since = 0
        pages = self._pages_from(walk.group_id, walk.kind, walk.cursor, total)
        for page, cursor in prefetched(pages):
            received[0] += 1
            batch.extend(self._rows(page, walk.group_id, walk.kind))
            walk.pages += 1
            walk.rows += len(page)
            since += 1
            if cursor is None:
                break
            if since >= self.checkpoint_pages:
                walk.cursor = cursor
                session.checkpoint(walk, batch)
                batch.clear()
                since = 0
        walk.cursor, walk.status = None, "staged"
        session.checkpoint(walk, batch)

    def _pages_from(
        self, group_id: str, kind: str, cursor: str | None, total: int | None = None
    ) -> Iterator[tuple[list[dict[str, Any]], str | None]]:
        """Pages of the list with the cursor that follows each (None after the last), from ``cursor`` on.

        Subscribers come from the hook's paged walk, which logs the walk's progress (``total`` gives the ETA).
        """
        if kind == "members":
            yield self.hook.list_members(group_id), None
            return
        yield from self.hook.iter_subscriber_pages(
            group_id, page_size=PAGE_SIZE, cursor=cursor, with_cursor=True, total=total
        )

    def _expected(self, session: _Session, walk: _Walk) -> int | None:
        """People still to walk: the last load's count (or the group's subscriberCount) less those staged."""
        p = session.p
        found = session.one(
            f"SELECT present FROM {session.names.qualified('_loads')} WHERE group_id = {p} AND kind = {p} "
            f"AND observed_at < {p} ORDER BY observed_at DESC LIMIT 1",
            (walk.group_id, walk.kind, walk.observed_at),
        )
        session.commit()
        total: int | None = None if found is None else int(found)
        if total is None:
            try:
                count = self.hook.get_group(walk.group_id).get("subscriberCount")
            except KaizalaException as err:
                self.log.info(
                    "The size of group %s is not known (%s): progress lines carry no ETA.", walk.group_id, err
                )
                return None
            total = int(count) if isinstance(count, int) and not isinstance(count, bool) else None
        return None if total is None else max(0, total - walk.rows)

    def _people(self, group_id: str, kind: str) -> Iterator[list[dict[str, Any]]]:
        if kind == "members":
            yield self.hook.list_members(group_id)
        else:
            yield from self.hook.iter_subscriber_pages(group_id)

    def _rows(self, page: Any, group_id: str, kind: str) -> Iterator[tuple[Any, ...]]:
        """The staging rows of one page; an entry without a mobile number stops the load (nothing is written)."""
        default_role = "Subscriber" if kind == "subscribers" else "Member"
        if not isinstance(page, list):
            raise KaizalaResponseError(f"The {kind} of group {group_id} came as a {type(page).__name__}, not a list.")
        for person in page:
            number = person.get("mobileNumber") if isinstance(person, Mapping) else None
            if not isinstance(number, str) or not number:
                raise KaizalaResponseError(
                    f"The {kind} of group {group_id} hold an entry without a mobile number (a "
                    f"{type(number if isinstance(person, Mapping) else person).__name__} where a string was "
                    "expected): the load stops and writes nothing."
                )
            yield (
                number,
                person.get("id"),
                person.get("role") or default_role,
                bool(person.get("isProvisioned", True)),
            )

    def _latest(self, session: _Session, group_id: str, kind: str, observed_at: str) -> str | None:
        """The newest load of the list; refuse ``observed_at`` if it is older (history only moves forward)."""
        latest = session.one(
            f"SELECT MAX(observed_at) FROM {session.names.qualified('_loads')} "
            f"WHERE group_id = {session.p} AND kind = {session.p}",
            (group_id, kind),
        )
        if latest is not None and latest > observed_at:
            raise KaizalaValidationError(
                f"Refusing to load {kind} of {group_id} as of {observed_at}: {latest} is already loaded and history "
                "only moves forward. Re-run the newest date, or clear the newer loads first."
            )
        return None if latest is None else str(latest)

    def _load_one(self, session: _Session, group_id: str, kind: str, observed_at: str) -> dict[str, Any]:
        """Stage one list, then, holding its lock, undo a previous load of the same date, merge and log it."""
        self._latest(session, group_id, kind, observed_at)  # fail before walking any page
        session.commit()
        stage = session.create_stage()
        try:
            self._stage(session, stage, group_id, kind)
            session.commit()
            session.begin_locked((group_id, kind))
            if self._latest(session, group_id, kind, observed_at) == observed_at:  # again, under the lock
                self._undo(session, group_id, kind, observed_at)
            result: dict[str, Any] = self._merge(session, stage, group_id, kind, observed_at)
            result["firstLoad"] = self._previous(session, group_id, kind, observed_at) is None
            session.commit()
            return result
        except BaseException:
            session.rollback()
            raise
        finally:
            session.drop_stage(stage)

    def _stage(self, session: _Session, stage: str, group_id: str, kind: str) -> None:
        p = session.p
        insert = (
            f"INSERT INTO {stage} (mobile_number, person_id, role, is_provisioned) VALUES ({p}, {p}, {p}, {p}) "
            "ON CONFLICT DO NOTHING"
        )
        batch: list[tuple[Any, ...]] = []
        for page in prefetched(self._people(group_id, kind)):
            batch.extend(self._rows(page, group_id, kind))
            if len(batch) >= self.batch_size:
                session.cursor.executemany(insert, batch)
                batch.clear()
        if batch:
            session.cursor.executemany(insert, batch)

    def _undo(self, session: _Session, group_id: str, kind: str, observed_at: str) -> None:
        """Take back what a previous load of the same observation time did."""
        p, table, loads = session.p, session.names.qualified(), session.names.qualified("_loads")
        scope = f"group_id = {p} AND kind = {p}"
        self.log.info("Re-running the load of %s of %s at %s: undoing the previous one.", kind, group_id, observed_at)
        session.execute(f"DELETE FROM {table} WHERE {scope} AND first_seen = {p}", (group_id, kind, observed_at))
        session.execute(
            f"UPDATE {table} SET left_at = NULL WHERE {scope} AND left_at = {p}", (group_id, kind, observed_at)
        )
        previous = session.one(
            f"SELECT MAX(observed_at) FROM {loads} WHERE {scope} AND observed_at < {p}", (group_id, kind, observed_at)
        )
        if previous is not None:
            session.execute(
                f"UPDATE {table} SET last_seen = {p} WHERE {scope} AND last_seen = {p}",
                (previous, group_id, kind, observed_at),
            )
        session.execute(f"DELETE FROM {loads} WHERE {scope} AND observed_at = {p}", (group_id, kind, observed_at))

    def _merge(self, session: _Session, stage: str, group_id: str, kind: str, observed_at: str) -> dict[str, int]:
        """Close spells of people who left, extend the others, open spells for people who joined."""
        p, table, own = session.p, session.names.qualified(), session.names.alias
        open_scope = f"{own}.group_id = {p} AND {own}.kind = {p} AND {own}.left_at IS NULL"
        match = f"FROM {stage} s WHERE s.mobile_number = {own}.mobile_number"
        ids = (group_id, kind)
        changed = int(
            session.one(
                f"SELECT COUNT(*) FROM {table} WHERE {open_scope} AND EXISTS (SELECT 1 {match} AND "
                f"(s.role <> {own}.role OR s.is_provisioned <> {own}.is_provisioned))",
                ids,
            )
        )
        cursor = session.execute(
            f"UPDATE {table} SET left_at = {p} WHERE {open_scope} AND NOT EXISTS (SELECT 1 {match})",
            (observed_at, *ids),
        )
        left = max(int(cursor.rowcount), 0)
        session.execute(
            f"UPDATE {table} SET last_seen = {p}, role = (SELECT s.role {match}), "
            f"is_provisioned = (SELECT s.is_provisioned {match}) WHERE {open_scope} AND EXISTS (SELECT 1 {match})",
            (observed_at, *ids),
        )
        cursor = session.execute(
            f"INSERT INTO {table} ({', '.join(PERSON_COLUMNS)}, first_seen, last_seen, left_at) "
            f"SELECT {p}, {p}, s.mobile_number, s.person_id, s.role, s.is_provisioned, {p}, {p}, NULL "
            f"FROM {stage} s WHERE NOT EXISTS (SELECT 1 FROM {table} t WHERE t.group_id = {p} AND t.kind = {p} "
            "AND t.mobile_number = s.mobile_number AND t.left_at IS NULL)",
            (*ids, observed_at, observed_at, *ids),
        )
        joined = max(int(cursor.rowcount), 0)
        present = int(session.one(f"SELECT COUNT(*) FROM {stage}"))
        session.execute(
            f"INSERT INTO {session.names.qualified('_loads')} (group_id, kind, observed_at, present, joined, "
            f"left_count, changed, loaded_at) VALUES ({p}, {p}, {p}, {p}, {p}, {p}, {p}, {p})",
            (group_id, kind, observed_at, present, joined, left, changed, _now()),
        )
        return {"present": present, "joined": joined, "left": left, "changed": changed}

    def _record_groups(
        self,
        session: _Session,
        groups: Iterable[dict[str, Any]],
        counts: dict[tuple[str, str], int],
        observed_at: str,
    ) -> None:
        p, table = session.p, session.names.qualified("_groups")
        session.execute(f"DELETE FROM {table} WHERE observed_at = {p}", (observed_at,))
        session.cursor.executemany(
            f"INSERT INTO {table} (group_id, observed_at, group_name, group_type, members, subscribers) "
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


def _run_key(context: Any) -> tuple[str, str, str, int] | None:
    """The task instance a resumable walk belongs to (dag_id, task_id, run_id, map_index), if there is one."""
    ti = context.get("ti") if hasattr(context, "get") else None
    parts = tuple(getattr(ti, name, None) for name in ("dag_id", "task_id", "run_id"))
    if ti is None or not all(isinstance(part, str) and part for part in parts):
        return None
    map_index = getattr(ti, "map_index", -1)
    return (str(parts[0]), str(parts[1]), str(parts[2]), int(map_index if isinstance(map_index, int) else -1))


def _walk_id(names: TableNames, run_key: tuple[str, str, str, int], group_id: str, kind: str, observed_at: str) -> str:
    """The id of one list's walk in one task instance: 16 hex digits (names its checkpoint and staging table)."""
    text = "\0".join((names.label, *map(str, run_key), group_id, kind, observed_at))
    return hashlib.blake2b(text.encode(), digest_size=8).hexdigest()


def _now() -> str:
    import pendulum

    return pendulum.now("UTC").isoformat()
