"""Warehouses for the transfer tests: an SQLite file, and a real PostgreSQL server on loopback, and what the
tests read back from them (test modules import these helpers from here and never from each other)."""

from __future__ import annotations

import glob
import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from tests.conftest import free_port


@pytest.fixture(scope="session")
def postgres_uri() -> Iterator[str]:
    """A PostgreSQL server started from Debian's binaries in a temp directory, stopped at the end."""
    bindirs = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(p.split("/")[-2]))
    if not bindirs or not os.path.exists(os.path.join(bindirs[-1], "pg_ctl")):
        pytest.skip("PostgreSQL server binaries not found: install Debian's 'postgresql' package (.ci/run does)")
    bindir = bindirs[-1]
    prefix: list[str] = []
    workdir = tempfile.mkdtemp(prefix="kaizala-pg-", dir="/tmp")
    os.chmod(workdir, 0o755)
    if os.geteuid() == 0:  # initdb refuses to run as root
        if shutil.which("runuser") is None:
            pytest.skip("running as root without runuser: cannot start PostgreSQL as the postgres user")
        prefix = ["runuser", "-u", "postgres", "--"]
        shutil.chown(workdir, "postgres", "postgres")
    data, log = os.path.join(workdir, "data"), os.path.join(workdir, "server.log")
    port = free_port()

    def run(*args: str) -> None:
        subprocess.run([*prefix, *args], check=True, capture_output=True, timeout=120)

    try:
        run(os.path.join(bindir, "initdb"), "-D", data, "-U", "airflow", "--auth=trust", "-E", "UTF8")
        run(
            os.path.join(bindir, "pg_ctl"),
            "-D",
            data,
            "-l",
            log,
            "-w",
            "-t",
            "60",
            "-o",
            f"-p {port} -h 127.0.0.1 -k {workdir} -c fsync=off",
            "start",
        )
    except subprocess.CalledProcessError as err:
        shutil.rmtree(workdir, ignore_errors=True)
        pytest.skip(f"PostgreSQL could not be started: {err.stderr.decode(errors='replace')[-500:]}")
    try:
        yield f"postgresql://airflow@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(
            [*prefix, os.path.join(bindir, "pg_ctl"), "-D", data, "-m", "fast", "stop"],
            capture_output=True,
            timeout=120,
        )
        shutil.rmtree(workdir, ignore_errors=True)


@dataclass
class Warehouse:
    """An Airflow SQL connection and a way to query it directly."""

    conn_id: str
    dialect: str
    uri: str

    def query(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        if self.dialect == "sqlite":
            import sqlite3

            with sqlite3.connect(self.uri) as con:
                return con.execute(sql.replace("%s", "?"), params).fetchall()
        import psycopg2

        with psycopg2.connect(self.uri) as con, con.cursor() as cur:
            cur.execute(sql, params)
            return cur.fetchall() if cur.description else []


_count = iter(range(10**6))


@pytest.fixture(params=["sqlite", "postgresql"])
def warehouse(request, tmp_path, monkeypatch) -> Warehouse:
    """A fresh warehouse connection of each kind (the PostgreSQL tables get a fresh schema)."""
    conn_id = f"warehouse_{next(_count)}"
    if request.param == "sqlite":
        path = str(tmp_path / "warehouse.db")
        monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps({"conn_type": "sqlite", "host": path}))
        return Warehouse(conn_id, "sqlite", path)
    uri = request.getfixturevalue("postgres_uri")
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", uri)
    warehouse = Warehouse(conn_id, "postgresql", uri)
    warehouse.query("DROP SCHEMA IF EXISTS public CASCADE")
    warehouse.query("CREATE SCHEMA public")
    return warehouse


class HostileProxy:
    """A loopback HTTP proxy in front of the emulator that spoils chosen answers.

    Every request is forwarded to the emulator; the emulator's own URL in answers (the token service's
    ``endpointUrl``) is rewritten to the proxy's, so the hook keeps talking through it. After
    :meth:`spoil`, every request whose path matches ``pattern``, past the first ``after`` of them, gets
    the given answer instead of the emulator's.
    """

    def __init__(self, upstream: str) -> None:
        import http.server
        import threading

        self.upstream = upstream
        self.rule: tuple[Any, int, int, str, bytes] | None = None
        self.matched = 0
        self.spoiled = 0
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def _any(self) -> None:
                proxy.handle(self)

            do_GET = do_POST = do_PUT = do_DELETE = _any

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, name="hostile-proxy", daemon=True)
        self.thread.start()

    def spoil(self, pattern: str, *, after: int, status: int = 200, body: bytes, content_type: str) -> None:
        """Answer ``status``/``body`` to every request matching ``pattern`` after the first ``after``."""
        import re

        self.rule = (re.compile(pattern), after, status, content_type, body)
        self.matched = self.spoiled = 0

    def handle(self, request: Any) -> None:
        import http.client
        import urllib.parse

        length = int(request.headers.get("Content-Length") or 0)
        payload = request.rfile.read(length) if length else None
        if self.rule is not None and self.rule[0].search(request.path):
            self.matched += 1
            if self.matched > self.rule[1]:
                self.spoiled += 1
                _, _, status, content_type, body = self.rule
                request.send_response(status)
                request.send_header("Content-Type", content_type)
                request.send_header("Content-Length", str(len(body)))
                request.end_headers()
                request.wfile.write(body)
                return
        target = urllib.parse.urlsplit(self.upstream)
        upstream = http.client.HTTPConnection(target.hostname, target.port, timeout=30)
        try:
            headers = {k: v for k, v in request.headers.items() if k.lower() not in ("host", "content-length")}
            upstream.request(request.command, request.path, body=payload, headers=headers)
            answer = upstream.getresponse()
            body = answer.read().replace(self.upstream.encode(), self.url.encode())
            request.send_response(answer.status)
            for key, value in answer.getheaders():
                if key.lower() not in ("content-length", "transfer-encoding", "connection", "date", "server"):
                    request.send_header(key, value)
            request.send_header("Content-Length", str(len(body)))
            request.end_headers()
            request.wfile.write(body)
        finally:
            upstream.close()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)


@pytest.fixture
def hostile_proxy(emulator: Any) -> Iterator[HostileProxy]:
    """A :class:`HostileProxy` in front of the session's emulator, on a free loopback port."""
    proxy = HostileProxy(emulator.url)
    try:
        yield proxy
    finally:
        proxy.close()


def tables(warehouse: Any) -> set[str]:
    """Permanent tables of the warehouse (PostgreSQL: every schema but the system ones)."""
    if warehouse.dialect == "sqlite":
        return {r[0] for r in warehouse.query("SELECT name FROM sqlite_master WHERE type = 'table'")}
    rows = warehouse.query(
        "SELECT table_schema, table_name FROM information_schema.tables WHERE table_type = 'BASE TABLE' "
        "AND table_schema NOT IN ('pg_catalog', 'information_schema') AND table_schema NOT LIKE 'pg_temp%%'"
    )
    return {name if schema == "public" else f"{schema}.{name}" for schema, name in rows}


def open_spells(warehouse: Any, group_id: str, kind: str, table: str = "kaizala_membership") -> list[str]:
    """The members of ``group_id`` (of this ``kind``) whose membership spell is still open, sorted."""
    rows = warehouse.query(
        f"SELECT mobile_number FROM {table} WHERE group_id = %s AND kind = %s AND left_at IS NULL", group_id, kind
    )
    return sorted(r[0] for r in rows)
