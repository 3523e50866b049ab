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
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

from airflow_provider_kaizala.exceptions import (
    KaizalaLoadConflictError,
    KaizalaResponseError,
    KaizalaValidationError,
)
from airflow_provider_kaizala.hooks.kaizala import KaizalaHook
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

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.rollback()
        self.conn.close()


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
    temporary staging table of the load's own session (``<table>__kz_stage_<random>``) in batches as they
    arrive (the next pages are fetched while the previous ones are written), so memory does not grow with the
    group's size; one transaction per list then merges them into ``table``. An error anywhere in the walk
    writes nothing.

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
        lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
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

    def _check(self) -> tuple[TableNames, list[tuple[str, str]] | None]:
        names = TableNames.parse(self.table, "default")  # syntax first; quoting waits for the dialect
        for field, value, limit in (("batch_size", self.batch_size, 10**6), ("lock_timeout", self.lock_timeout, 86400)):
            if (
                isinstance(value, bool)
                or not isinstance(value, (int, float))
                or not math.isfinite(value)
                or not 0 < value <= limit
                or (field == "batch_size" and not isinstance(value, int))
            ):
                kind = "an integer" if field == "batch_size" else "a number of seconds"
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
        observed_at = self._observed_at(context)
        started = time.monotonic()
        sql = self.sql_hook
        names = TableNames(sql.dialect_name, parsed.schema, parsed.name)
        session = _Session(sql.get_conn(), names, sql.placeholder, float(self.lock_timeout), self.log)
        totals = {"present": 0, "joined": 0, "left": 0, "changed": 0}
        counts: dict[tuple[str, str], int] = {}
        groups: list[dict[str, Any]] = []
        try:
            session.check_schema()
            if self.create_table:
                session.create_tables()
            session.resolve_table()
            if targets is None:
                groups = self.hook.list_groups(fetch_all_groups=True)
                targets = [(str(g["groupId"]), "members") for g in groups]
                if include_subscribers:
                    targets += [
                        (str(g["groupId"]), "subscribers") for g in groups if g.get("groupType") == "ConnectGroup"
                    ]
            for group_id, kind in targets:
                result = self._load_one(session, group_id, kind, observed_at)
                counts[(group_id, kind)] = result["present"]
                for key in totals:
                    totals[key] += result[key]
            if groups:
                session.begin_locked(("*", "groups"))
                self._record_groups(session, groups, counts, observed_at)
                session.commit()
        finally:
            session.close()
        elapsed = time.monotonic() - started
        self.log.info(
            "Loaded %d groups/lists into %s at %s: %d present, %d joined, %d left, %d changed in %.1f s.",
            len(targets),
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
            **totals,
            "rowsPerSecond": round(totals["present"] / elapsed, 1) if elapsed else None,
        }

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

    def _load_one(self, session: _Session, group_id: str, kind: str, observed_at: str) -> dict[str, int]:
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
            result = self._merge(session, stage, group_id, kind, observed_at)
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
        progress = _Progress(self.log, f"{kind} of {group_id}")
        batch: list[tuple[Any, ...]] = []
        for page in prefetched(self._people(group_id, kind)):
            progress.page(len(page))
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


def _now() -> str:
    import pendulum

    return pendulum.now("UTC").isoformat()
