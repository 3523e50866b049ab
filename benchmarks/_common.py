"""What the benchmark scripts share: memory and time measurement, child processes, emulator and printing.

Not a benchmark itself (``run_all.py`` skips ``_``-prefixed files). The scripts import it as ``_common``
after putting their own directory on ``sys.path``, so it works whether a script is started directly
(``python benchmarks/hook_paging.py``), by ``run_all.py`` or as one of its own child processes.

Only the standard library is imported at module level: benchmark children import this module before they
measure anything, and the provider (``airflow_provider_kaizala``) is imported where it is used.

Memory is the peak RSS growth of a step: ``/proc/self/clear_refs`` resets the kernel's peak mark to the
current RSS just before the step, and the peak after it (``VmHWM`` of ``/proc/self/status``; ``ru_maxrss``
without /proc) minus the RSS before it is reported (where clear_refs is unavailable, the same difference
without the reset, an upper bound).
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))  # the provider from this checkout, also without PYTHONPATH

#: Subscribers per page in every walk.
PAGE = 50
#: The phone number of the connector's owner, the admin of every benchmark group.
PHONE = "+919810000001"
#: A ``rate_limit_per_minute`` so high that the hook's limiter never waits.
UNLIMITED = 1_000_000_000


# ----------------------------------------------------------------------------------- memory and time


def rss_kib() -> int:
    """Current resident set size in KiB (Linux /proc; 0 elsewhere)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 1024
    except (OSError, ValueError, IndexError):
        return 0


def reset_peak() -> bool:
    """Reset the kernel's peak-RSS mark to the current RSS; False where that is not possible."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def peak_kib() -> int:
    """The peak RSS since the last reset in KiB: ``VmHWM`` (what clear_refs resets), else ``ru_maxrss``.

    ``ru_maxrss`` alone is not enough: at ``exec`` the kernel carries the spawning process's peak into it,
    so a child started by a parent bigger than itself would report the parent's peak.
    """
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)  # KiB on Linux


class Measure:
    """Peak RSS growth, wall and CPU time of one step: ``with Measure() as m: ...``.

    Afterwards ``m.mem_kib``, ``m.wall``, ``m.cpu`` (``time.process_time``) and ``m.reset`` (whether the
    peak mark could be reset, i.e. whether ``mem_kib`` is exact rather than an upper bound).
    """

    rss0: int
    reset: bool
    t0: float
    cpu0: float
    wall: float
    cpu: float
    mem_kib: int

    def __enter__(self) -> Measure:
        """Collect garbage, note the RSS, reset the peak mark and start the clocks."""
        import gc

        gc.collect()
        self.rss0 = rss_kib()
        self.reset = reset_peak()
        self.t0, self.cpu0 = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc: object) -> None:
        """Stop the clocks and read the peak."""
        self.wall, self.cpu = time.perf_counter() - self.t0, time.process_time() - self.cpu0
        self.mem_kib = max(0, peak_kib() - self.rss0)


# ------------------------------------------------------------------------------------- child processes


def child_env(tmp: str, connections: Mapping[str, Mapping[str, Any]] | None = None) -> dict[str, str]:
    """The environment of a benchmark child: this one, the repository on ``PYTHONPATH``, Airflow in ``tmp``.

    ``connections`` maps connection ids to Airflow connection dicts, passed as ``AIRFLOW_CONN_<ID>``.
    """
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH")) if p)
    env.update(airflow_env(tmp))
    for conn_id, conn in (connections or {}).items():
        env[conn_var(conn_id)] = json.dumps(conn)
    return env


def airflow_env(tmp: str) -> dict[str, str]:
    """``AIRFLOW_HOME`` in the temp dir ``tmp`` and no example DAGs."""
    return {"AIRFLOW_HOME": os.path.join(tmp, "airflow"), "AIRFLOW__CORE__LOAD_EXAMPLES": "False"}


def conn_var(conn_id: str) -> str:
    """The environment variable Airflow reads connection ``conn_id`` from."""
    return f"AIRFLOW_CONN_{conn_id.upper()}"


def write_setup(tmp: str, setup: Mapping[str, Any]) -> str:
    """Write what the children need to know to ``tmp/setup.json``; return its path."""
    setup_file = os.path.join(tmp, "setup.json")
    Path(setup_file).write_text(json.dumps(setup))
    return setup_file


def read_setup(setup_file: str) -> dict[str, Any]:
    """The setup written by :func:`write_setup`."""
    return dict(json.loads(Path(setup_file).read_text()))


def report(result: Mapping[str, Any]) -> None:
    """Child side: print the figures as the one JSON line :func:`run_child` reads back."""
    print(json.dumps(result), flush=True)


def run_child(script: str, args: Sequence[str], env: Mapping[str, str], what: str) -> dict[str, Any]:
    """Run ``script`` with ``args`` in a fresh interpreter and return the last JSON line it printed.

    On a non-zero exit its output goes to stderr and ``RuntimeError("<what> failed (exit N)")`` is raised.
    """
    proc = subprocess.run(
        [sys.executable, script, *args],
        env=dict(env),
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout + proc.stderr)
        raise RuntimeError(f"{what} failed (exit {proc.returncode})")
    last = [line for line in proc.stdout.splitlines() if line.startswith("{")][-1]
    return dict(json.loads(last))


# ---------------------------------------------------------------------------------------- the emulator


def emulator(**throttle: Any) -> Any:
    """A ``KaizalaEmulator`` in a child process (its own core); no throttling unless ``throttle`` is given.

    ``throttle`` is passed on as is (e.g. ``throttle_limit=100, throttle_window=5.0``); without it both the
    per-connector and the per-tenant throttles are off.
    """
    from airflow_provider_kaizala.emulator.server import KaizalaEmulator

    return KaizalaEmulator(subprocess=True, **(throttle or {"throttle_limit": 0, "tenant_throttle_limit": 0}))


def connector(emu: Any) -> dict[str, Any]:
    """A new connector (application) of the emulator, owned by :data:`PHONE`."""
    return dict(emu.admin.create_connector(phone=PHONE))


def public_group(emu: Any, name: str, subscribers: int) -> str:
    """A new public group (``ConnectGroup``) of ``subscribers`` subscribers, administered by :data:`PHONE`."""
    return str(emu.admin.create_group(name=name, groupType="ConnectGroup", admins=[PHONE], subscriberCount=subscribers))


def hook_connection(emu: Any, app: Mapping[str, Any], **extra: Any) -> dict[str, Any]:
    """The Airflow connection dict of connector ``app``; ``extra`` defaults to a limiter that never waits."""
    conn = dict(json.loads(emu.connection_uri_json(app)))
    conn["extra"].update(extra or {"rate_limit_per_minute": UNLIMITED})
    return conn


def access_token(get: Callable[..., Any], url: str, app: Mapping[str, Any]) -> str:
    """An access token of connector ``app`` from the API at ``url``, fetched with ``get`` (``requests``-like)."""
    return str(
        get(
            f"{url}/v1/accessToken",
            headers={
                "applicationId": app["applicationId"],
                "applicationSecret": app["applicationSecret"],
                "refreshToken": app["refreshToken"],
            },
        ).json()["accessToken"]
    )


def timed_hook(conn_id: str, api: dict[str, float]) -> Any:
    """A KaizalaHook whose page iterator adds the time spent inside it (HTTP, JSON, normalising) to ``api``.

    ``api["api"]`` gets the seconds, ``api["pages"]`` the pages. The hook keeps rotated refresh tokens in
    memory (``MemoryRefreshTokenStore``).
    """
    from airflow_provider_kaizala.hooks.kaizala import KaizalaHook
    from airflow_provider_kaizala.hooks.token_store import MemoryRefreshTokenStore

    hook = KaizalaHook(conn_id, refresh_token_store=MemoryRefreshTokenStore())
    pages = hook.iter_subscriber_pages

    def timed_pages(*args: Any, **kwargs: Any) -> Iterator[list[dict[str, Any]]]:
        it = pages(*args, **kwargs)
        while True:
            t0 = time.perf_counter()
            try:
                page = next(it)
            except StopIteration:
                api["api"] += time.perf_counter() - t0
                return
            api["api"] += time.perf_counter() - t0
            api["pages"] += 1
            yield page

    hook.iter_subscriber_pages = timed_pages  # type: ignore[method-assign]  # iter_subscribers calls it too
    return hook


# -------------------------------------------------------------------------------------------- printing


def row(widths: Sequence[int], label: str, *cells: object) -> str:
    """A table line: ``label`` left-aligned in ``widths[0]``, then each cell right-aligned in the next width.

    Cells are formatted beforehand (e.g. ``f"{x:.2f}"``); ``""`` leaves a cell blank.
    """
    line = f"{label:<{widths[0]}}"
    for text, width in zip(cells, widths[1:], strict=False):
        line += f" {text!s:>{width}}"
    return line


def verdict(ok: bool, text: str) -> None:
    """Print ``PASS: text`` or ``FAIL: text`` (the line ``run_all.py`` and the smoke test look for)."""
    print(f"{'PASS' if ok else 'FAIL'}: {text}")
