"""The system-test deployment: Airflow with the CeleryExecutor as users scale out, every part a real process.

A Redis server (Debian's ``redis-server``; db 0 is the Celery broker, db 2 the shared call budget), a throwaway
PostgreSQL server (the metadata database and Celery's result backend; the ``postgres_uri`` fixture of the
transfer tests), the Kaizala emulator in its own process with a compressed throttle window, the Airflow
api-server (the execution API that task runners talk to), the scheduler and two Celery workers. Every process
is started on free loopback ports in a temp dir and stopped in the fixture's finalizer, also on failure.

Run with ``-o log_cli=true --log-cli-level=INFO`` to follow the progress lines live.
"""

from __future__ import annotations

import glob
import json
import logging
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import free_port
from tests.hooks.conftest import redis_url  # noqa: F401  (a redis-server on a free port, stopped at the end)
from tests.transfers.conftest import postgres_uri  # noqa: F401  (the throwaway PostgreSQL server fixture)

log = logging.getLogger("kaizala.system")

REPO = Path(__file__).resolve().parents[2]
DAGS = Path(__file__).resolve().parent / "dags"
#: The emulator's throttle: 100 calls per 3 s per connector, the real 100 per minute compressed 20x.
LIMIT, WINDOW = 100, 3.0
#: How long each step may take before the test gives up (seconds).
START_TIMEOUT, RUN_TIMEOUT = 240.0, 240.0
DAG_ID = "kaizala_celery_budget"


def wait_for(what: str, ready: Any, timeout: float, procs: list[Proc] | tuple[Proc, ...] = ()) -> None:
    """Poll ``ready()`` every 0.2 s until it is true; fail naming ``what`` (and a process that died) on timeout."""
    deadline = time.monotonic() + timeout
    while not ready():
        for proc in procs:
            if proc.popen.poll() is not None:
                pytest.fail(
                    f"{proc.name} exited with status {proc.popen.returncode} while waiting for {what}:\n{proc.tail()}"
                )
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.2)


@dataclass
class Proc:
    """A long-running process of the deployment, in its own session, its output in a log file."""

    name: str
    popen: subprocess.Popen[bytes]
    logfile: Path

    def tail(self, chars: int = 3000) -> str:
        try:
            return self.logfile.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def stop(self, grace: float = 20.0) -> None:
        """SIGTERM to the process group this process leads, SIGKILL to what is left after ``grace`` s."""
        if self.popen.poll() is None:
            try:
                os.killpg(self.popen.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.popen.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                log.warning("%s did not stop within %.0f s; killing it", self.name, grace)
        try:  # children of the group (task runners, pool processes) that outlived their leader
            os.killpg(self.popen.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        if self.popen.poll() is None:
            self.popen.wait(timeout=10)


def start(name: str, args: list[str], env: dict[str, str], workdir: Path) -> Proc:
    """Start ``args`` in its own session with output to ``workdir/<name>.log``."""
    logfile = workdir / f"{name}.log"
    with open(logfile, "wb") as out:
        popen = subprocess.Popen(
            args, env=env, cwd=workdir, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    log.info("started %s (pid %d), log %s", name, popen.pid, logfile)
    return Proc(name, popen, logfile)


def require_tools() -> None:
    """Skip, saying what to install, when redis-server, celery, the Celery provider or PostgreSQL is missing."""
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server not found: install Debian's 'redis-server' package (.ci/run does)")
    missing = []
    for module in ("redis", "celery", "airflow.providers.celery"):
        try:
            __import__(module)
        except ImportError:
            missing.append(module)
    if missing:
        pytest.skip(
            f"{', '.join(missing)} not importable: pip install -c constraints-airflow-3.3.2.txt "
            "apache-airflow-providers-celery (it brings celery[redis])"
        )
    if not glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"):
        pytest.skip("PostgreSQL server binaries not found: install Debian's 'postgresql' package (.ci/run does)")


@pytest.fixture(scope="module")
def workdir() -> Iterator[Path]:
    """A temp dir for the deployment (Airflow home, logs, result files); removed at the end."""
    path = Path(tempfile.mkdtemp(prefix="kaizala-system-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="module")
def throttled_emulator() -> Iterator[Any]:
    """The Kaizala emulator in its own process, throttling each connector at LIMIT calls per WINDOW s."""
    from airflow_provider_kaizala.emulator.server import KaizalaEmulator

    emu = KaizalaEmulator(subprocess=True, throttle_limit=LIMIT, throttle_window=WINDOW, tenant_throttle_limit=0)
    emu.start()
    log.info("emulator at %s (pid %s): %d calls per %.0f s per connector", emu.url, emu.pid, LIMIT, WINDOW)
    try:
        yield emu
    finally:
        emu.stop()


@dataclass
class Deployment:
    """The running deployment: what a test needs to trigger a run and read its outcome."""

    workdir: Path
    env: dict[str, str]
    database: str
    emulator: Any
    connectors: dict[str, dict[str, Any]]
    procs: list[Proc] = field(default_factory=list)
    stopped: list[Proc] = field(default_factory=list)

    def airflow(self, *args: str, timeout: float = 180) -> str:
        """Run an ``airflow`` CLI command in the deployment's environment; its output."""
        cmd = [sys.executable, "-m", "airflow", *args]
        done = subprocess.run(cmd, env=self.env, cwd=self.workdir, capture_output=True, text=True, timeout=timeout)
        if done.returncode != 0:
            pytest.fail(
                f"airflow {' '.join(args[:3])} failed ({done.returncode}):\n{(done.stdout + done.stderr)[-3000:]}"
            )
        return done.stdout

    def query(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        """Query the metadata database."""
        import psycopg2

        with psycopg2.connect(self.database) as con, con.cursor() as cur:
            cur.execute(sql, params)
            return cur.fetchall()

    @property
    def backend(self) -> str:
        """The budget backend of the tasks the workers run (the deployment-wide ``[kaizala]`` setting)."""
        return self.env["AIRFLOW__KAIZALA__BUDGET_BACKEND"]

    def start_workers(self) -> None:
        """Start the two Celery workers (w1 and w2, three task slots each) with the deployment's environment."""
        airflow = [sys.executable, "-m", "airflow"]
        for name in ("w1", "w2"):
            worker_env = {**self.env, "KAIZALA_SYSTEM_WORKER": name}
            args = [*airflow, "celery", "worker", "--celery-hostname", f"{name}@%h", "--concurrency", "3"]
            args += ["--skip-serve-logs", "--without-gossip", "--without-mingle"]
            self.procs.append(start(f"worker-{name}-{self.backend}", args, worker_env, self.workdir))

    def wait_for_workers(self) -> None:
        """Wait until every running Celery worker says it is ready."""
        for proc in self.procs:
            if proc.name.startswith("worker-"):
                wait_for(f"{proc.name} ready", lambda p=proc: " ready." in p.tail(100_000), START_TIMEOUT, self.procs)

    def use_backend(self, backend: str) -> None:
        """Restart the workers with ``[kaizala] budget_backend`` set to ``backend``, unless it already is.

        The setting is deployment-wide, as the docs recommend for the backend and the Redis URL; the tasks
        inherit it from their worker.
        """
        if backend == self.backend:
            return
        workers = [proc for proc in self.procs if proc.name.startswith("worker-")]
        log.info("restarting the Celery workers with [kaizala] budget_backend=%s", backend)
        for proc in workers:
            proc.stop()
            self.procs.remove(proc)
            self.stopped.append(proc)
        self.env["AIRFLOW__KAIZALA__BUDGET_BACKEND"] = backend
        self.start_workers()
        self.wait_for_workers()

    def check_alive(self) -> None:
        """Fail, with the end of its log, when a process of the deployment has exited."""
        for proc in self.procs:
            if proc.popen.poll() is not None:
                pytest.fail(f"{proc.name} exited with status {proc.popen.returncode}:\n{proc.tail()}")


def _create_database(admin_uri: str, name: str) -> str:
    import psycopg2

    con = psycopg2.connect(admin_uri)
    try:
        con.autocommit = True
        with con.cursor() as cur:
            cur.execute(f"CREATE DATABASE {name}")
    finally:
        con.close()
    return admin_uri.rsplit("/", 1)[0] + f"/{name}"


@pytest.fixture(scope="session")
def tools() -> None:
    """Skip the module before anything starts when a part of the deployment is not installed."""
    require_tools()


@pytest.fixture(scope="module")
def deployment(
    tools: None,
    workdir: Path,
    redis_url: str,  # noqa: F811
    postgres_uri: str,  # noqa: F811
    throttled_emulator: Any,
) -> Iterator[Deployment]:
    """Airflow 3 with the CeleryExecutor: api-server, scheduler and two Celery workers, all stopped at the end.

    The budget backend is the deployment-wide ``[kaizala]`` setting, ``redis`` (db 2 of the broker's server) at
    first; :meth:`Deployment.use_backend` restarts the workers with another. Two Kaizala connections,
    ``kaizala_redis`` and ``kaizala_host``, reach two fresh connectors of the emulator (so the two runs do not
    share a throttle window), both configured at the emulator's limit.
    """
    t0 = time.monotonic()
    database = _create_database(postgres_uri, "airflow_system")
    api_port, redis_root = free_port(), redis_url.rsplit("/", 1)[0]
    (workdir / "results").mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "PYTEST"))}
    env.update(
        {
            "PYTHONPATH": os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p),
            "PATH": os.pathsep.join((str(Path(sys.executable).parent), os.environ.get("PATH", ""))),
            "AIRFLOW_HOME": str(workdir / "airflow"),
            "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS),
            "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{api_port}/execution/",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": database.replace("postgresql://", "postgresql+psycopg2://", 1),
            "AIRFLOW__CELERY__BROKER_URL": f"{redis_root}/0",
            "AIRFLOW__CELERY__RESULT_BACKEND": "db+" + database,
            "AIRFLOW__CELERY__WORKER_PREFETCH_MULTIPLIER": "1",
            "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_hex(32),
            "AIRFLOW__API__SECRET_KEY": secrets.token_hex(32),
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
            "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
            "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "False",
            # A busy 2-core machine can take longer than the default 30 s to import Airflow and the DAG.
            "AIRFLOW__CORE__DAGBAG_IMPORT_TIMEOUT": "300",
            "AIRFLOW__KAIZALA__BUDGET_BACKEND": "redis",
            "AIRFLOW__KAIZALA__BUDGET_REDIS_URL": f"{redis_root}/2",
            "AIRFLOW__KAIZALA__BUDGET_DIR": str(workdir / "budget"),
        }
    )
    connectors: dict[str, dict[str, Any]] = {}
    for conn_id in ("kaizala_redis", "kaizala_host"):
        app = throttled_emulator.admin.create_connector(phone="+919810000001")
        conn = json.loads(throttled_emulator.connection_uri_json(app))
        conn.setdefault("extra", {}).update({"rate_limit_per_minute": LIMIT, "rate_limit_window": WINDOW})
        env[f"AIRFLOW_CONN_{conn_id.upper()}"] = json.dumps(conn)
        connectors[conn_id] = app
    dep = Deployment(workdir, env, database, throttled_emulator, connectors)
    try:
        log.info("airflow db migrate (PostgreSQL %s)", database.rsplit("@", 1)[-1])
        dep.airflow("db", "migrate", timeout=START_TIMEOUT)
        log.info("serialising the DAG (airflow dags reserialize)")
        dep.airflow("dags", "reserialize", timeout=START_TIMEOUT)
        if not dep.query("SELECT 1 FROM dag WHERE dag_id = %s", DAG_ID):
            errors = dep.query("SELECT filename, stacktrace FROM import_error")
            pytest.fail(f"the DAG {DAG_ID} was not serialised; import errors: {errors}")
        log.info(
            "database ready after %.0f s; starting api-server, scheduler and two Celery workers", time.monotonic() - t0
        )
        airflow = [sys.executable, "-m", "airflow"]
        dep.procs.append(
            start(
                "api-server",
                [*airflow, "api-server", "--host", "127.0.0.1", "--port", str(api_port), "--workers", "1"],
                env,
                workdir,
            )
        )
        dep.procs.append(start("scheduler", [*airflow, "scheduler"], env, workdir))
        dep.start_workers()

        def api_up() -> bool:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{api_port}/execution/health", timeout=2):
                    return True
            except OSError:
                return False

        wait_for("the api-server's execution API", api_up, START_TIMEOUT, dep.procs)
        dep.wait_for_workers()
        log.info("deployment up after %.0f s", time.monotonic() - t0)
        yield dep
    finally:
        for proc in reversed(dep.procs):
            proc.stop()
        log.info("deployment stopped (%d processes)", len(dep.procs) + len(dep.stopped))
