"""Warehouses for the transfer tests: an SQLite file, and a real PostgreSQL server on loopback."""

from __future__ import annotations

import glob
import json
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


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
    port = _free_port()

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
