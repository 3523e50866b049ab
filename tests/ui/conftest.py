"""Fixtures for the browser tests: Airflow's API server (the UI) on loopback and headless Chromium.

The browser is Debian's ``chromium`` package driven by Playwright's Python package; Playwright's own
browser download is never used. When either is missing the tests skip with a message saying what to
install. Artifacts (screenshots, the API server's log) go to ``test-output/ui/`` at the repository root.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import free_port

CHROMIUM = Path(os.environ.get("KAIZALA_UI_CHROMIUM", "/usr/bin/chromium"))
#: Chromium flags for a machine without a display or internet: no sandbox (root in CI), no GPU, and no
#: background connections (component updates, sync, QUIC probes) that would only be refused.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
REPO_ROOT = Path(__file__).resolve().parents[2]
OUTPUT_DIR = REPO_ROOT / "test-output" / "ui"
SERVER_START_TIMEOUT = 60.0


@pytest.fixture(scope="session")
def ui_output_dir() -> Path:
    """``test-output/ui/`` at the repository root (created), where the browser tests keep their artifacts."""
    OUTPUT_DIR.mkdir(parents=True, exist_ok=True)
    return OUTPUT_DIR


@pytest.fixture(scope="session")
def browser_prerequisites() -> None:
    """Skip (with what to install) unless Chromium, Playwright and the installed provider are all there."""
    if not (CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK)):
        pytest.skip(f"{CHROMIUM} not found: install Debian's chromium package (apt-get install chromium)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError as err:
        pytest.skip(f"the playwright Python package is not usable ({err}): pip install playwright (no browser needed)")
    entry_points = importlib.metadata.entry_points(group="apache_airflow_provider")
    if not any(ep.value.startswith("airflow_provider_kaizala.") for ep in entry_points):
        pytest.skip(
            "airflow-provider-kaizala is importable but not installed, so Airflow's providers manager "
            "cannot discover the connection type: pip install -e ."
        )


def _airflow_env(home: Path) -> dict[str, str]:
    """The environment of the Airflow subprocesses: ours, minus any Airflow settings or connections of the test
    session (``AIRFLOW__CORE__UNIT_TEST_MODE``, ``AIRFLOW_CONN_*`` set by other tests), plus the UI test's own."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW__", "AIRFLOW_CONN_", "AIRFLOW_VAR_"))}
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "PYTHONUNBUFFERED": "1",  # the server's log file is complete whenever it is read
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            # the Test button of the connection list (Disabled by default)
            "AIRFLOW__CORE__TEST_CONNECTION": "Enabled",
            # SimpleAuthManager (Airflow 3's default) treats every request as an admin: no login page
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
        }
    )
    return env


@dataclass
class AirflowUI:
    """A running ``airflow api-server`` on loopback."""

    url: str
    home: Path
    log_path: Path

    def api(self, path: str) -> Any:
        """GET ``/api/v2/<path>`` (every request is an admin's under ``simple_auth_manager_all_admins``)."""
        with urllib.request.urlopen(f"{self.url}/api/v2/{path}", timeout=30) as resp:
            return json.loads(resp.read())


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """Terminate the server's whole process group (uvicorn workers included); kill it if it lingers."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
    # workers left behind by a leader that died first
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)


def _wait_ready(url: str, proc: subprocess.Popen[bytes], log_path: Path) -> None:
    deadline = time.monotonic() + SERVER_START_TIMEOUT
    while True:
        if proc.poll() is not None:
            raise RuntimeError(
                f"airflow api-server exited with {proc.returncode} before answering; log tail:\n"
                + log_path.read_text(errors="replace")[-3000:]
            )
        try:
            with urllib.request.urlopen(f"{url}/api/v2/monitor/health", timeout=2) as resp:
                if resp.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(
                f"airflow api-server did not answer within {SERVER_START_TIMEOUT:.0f} s; log tail:\n"
                + log_path.read_text(errors="replace")[-3000:]
            )
        time.sleep(0.25)


@pytest.fixture(scope="session")
def airflow_ui(
    browser_prerequisites: None, tmp_path_factory: pytest.TempPathFactory, ui_output_dir: Path
) -> Iterator[AirflowUI]:
    """Airflow's API server (UI and REST API) on a free loopback port, on a fresh home and SQLite database."""
    home = tmp_path_factory.mktemp("airflow-ui-home")
    env = _airflow_env(home)
    migrate = subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"],
        env=env,
        cwd=home,
        capture_output=True,
        text=True,
        timeout=180,
    )
    if migrate.returncode != 0:
        raise RuntimeError(f"airflow db migrate failed ({migrate.returncode}):\n{migrate.stderr[-3000:]}")

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log_path = ui_output_dir / "api-server.log"
    command = [sys.executable, "-m", "airflow", "api-server", "--host", "127.0.0.1", "--port", str(port)]
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [*command, "--workers", "1"],
            env=env,
            cwd=home,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, stopped as a whole
        )
    try:
        _wait_ready(url, proc, log_path)
        yield AirflowUI(url=url, home=home, log_path=log_path)
    finally:
        _stop(proc)


@pytest.fixture(scope="session")
def chromium_browser(browser_prerequisites: None) -> Iterator[Any]:
    """Debian's Chromium, headless, driven by Playwright (sync API)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def page(chromium_browser: Any) -> Iterator[Any]:
    """A fresh browser context and page (1400x1000), closed after the test."""
    context = chromium_browser.new_context(viewport={"width": 1400, "height": 1000})
    context.set_default_timeout(15_000)
    try:
        yield context.new_page()
    finally:
        context.close()
