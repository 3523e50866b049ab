"""Import cost of the provider: what ``from airflow_provider_kaizala.hooks.kaizala import KaizalaHook`` adds.

DAG files are parsed often, so importing the hook must stay cheap. In fresh interpreters (7 of each,
interleaved; 1 in ``--quick``), measured inside the process with ``time.perf_counter`` (interpreter
start-up excluded):

- baseline: ``import airflow.sdk`` alone;
- ``import airflow.sdk`` then ``from airflow_provider_kaizala.hooks.kaizala import KaizalaHook``, timing
  both steps separately.

Reported: the difference of the medians (baseline vs the whole second run, as asked), and the median
of the hook step timed in the same process after ``airflow.sdk``. The PASS/FAIL line (target < 50 ms) uses
the latter: importing ``airflow.sdk`` takes seconds and varies by hundreds of milliseconds between runs on
a busy machine, which would drown a 50 ms difference between two separate runs. Finally one run under
``python -X importtime`` lists the 10 costliest of our modules and of the modules our import adds.
All runs use cached bytecode (``PYTHONPYCACHEPREFIX`` in a temp dir, warmed by one untimed run), as an
installed package would, even where ``PYTHONDONTWRITEBYTECODE`` is set.

    python benchmarks/import_cost.py
    python benchmarks/import_cost.py --quick
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # _common.py, however this script is started
from _common import REPO, child_env, row, verdict

TARGET_MS = 50.0
OURS = "airflow_provider_kaizala"

SDK_ONLY = """
import json, time
t0 = time.perf_counter()
import airflow.sdk
print(json.dumps({"sdk": time.perf_counter() - t0}))
"""

SDK_AND_HOOK = """
import json, time
t0 = time.perf_counter()
import airflow.sdk
t1 = time.perf_counter()
from airflow_provider_kaizala.hooks.kaizala import KaizalaHook
t2 = time.perf_counter()
print(json.dumps({"sdk": t1 - t0, "hook": t2 - t1, "total": t2 - t0}))
"""


def run(code: str, env: dict[str, str], *flags: str) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a fresh interpreter; raise with its output when it fails."""
    proc = subprocess.run(
        [sys.executable, *flags, "-c", code], env=env, capture_output=True, text=True, check=False, cwd=REPO
    )
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout + proc.stderr)
        raise RuntimeError(f"import run failed (exit {proc.returncode})")
    return proc


def timings(code: str, env: dict[str, str]) -> dict[str, float]:
    """The JSON line printed by ``code``."""
    out = run(code, env).stdout
    return dict(json.loads([line for line in out.splitlines() if line.startswith("{")][-1]))


def importtime_rows(stderr: str) -> list[tuple[str, int, int, int]]:
    """``-X importtime`` lines as (module, self us, cumulative us, depth), in the order printed."""
    rows = []
    for line in stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        self_us, cumulative, name = line[len("import time:") :].split("|", 2)
        depth = (len(name) - len(name.lstrip(" "))) // 2
        rows.append((name.strip(), int(self_us), int(cumulative), depth))
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--quick", action="store_true", help="1 run of each")
    args = parser.parse_args()
    if args.quick:
        args.repeats = 1

    with tempfile.TemporaryDirectory(prefix="kaizala-bench-") as tmp:
        env = child_env(tmp)
        # Installed packages import from cached bytecode; a source checkout run with PYTHONDONTWRITEBYTECODE
        # would compile our modules on every import. Cache all bytecode in the temp dir, warm it first.
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = os.path.join(tmp, "pycache")
        run(SDK_AND_HOOK, env)
        alone: list[float] = []
        both: list[dict[str, float]] = []
        for _ in range(args.repeats):
            alone.append(timings(SDK_ONLY, env)["sdk"])
            both.append(timings(SDK_AND_HOOK, env))
        profile = importtime_rows(run(SDK_AND_HOOK, env, "-X", "importtime").stderr)

    ms = 1000.0
    sdk_alone = statistics.median(alone) * ms
    total = statistics.median(r["total"] for r in both) * ms
    hook_step = statistics.median(r["hook"] for r in both) * ms
    print(f"fresh interpreters, median of {args.repeats} (interleaved)")
    print(f"{'import airflow.sdk (baseline)':<58} {sdk_alone:9.1f} ms   runs: " + _ms_list(alone))
    print(f"{'import airflow.sdk; from ...kaizala import KaizalaHook':<58} {total:9.1f} ms")
    print(f"{'  difference of the medians (noisy: see docstring)':<58} {total - sdk_alone:+9.1f} ms")
    sdk_step = statistics.median(r["sdk"] for r in both) * ms
    print(f"{'  of which the airflow.sdk step (noise check)':<58} {sdk_step:9.1f} ms")
    print(
        f"{'  the hook import alone, after airflow.sdk, same process':<58} {hook_step:9.1f} ms   runs: "
        + _ms_list([r["hook"] for r in both])
    )

    # Everything printed after the top-level airflow.sdk line was imported by our import statement.
    sdk_index = max(i for i, row in enumerate(profile) if row[0] == "airflow.sdk")
    added = profile[sdk_index + 1 :]
    ours = sorted((r for r in added if r[0].split(".")[0] == OURS), key=lambda r: -r[2])[:10]
    print(
        f"\n-X importtime (one run, inflated by the tracing): {len(added)} modules added by our import, "
        f"{sum(r[1] for r in added) / 1000:.1f} ms self time in all"
    )
    widths = (56, 8, 10)
    print("top 10 of our modules by cumulative time:\n" + row(widths, "module", "self ms", "cumul. ms"))
    for name, self_us, cumulative, _ in ours:
        print(row(widths, name, f"{self_us / 1000:.1f}", f"{cumulative / 1000:.1f}"))
    others = sorted((r for r in added if r[0].split(".")[0] != OURS), key=lambda r: -r[1])[:10]
    print("top 10 other modules our import pulls in (by self time):\n" + row(widths, "module", "self ms", "cumul. ms"))
    for name, self_us, cumulative, _ in others:
        print(row(widths, name, f"{self_us / 1000:.1f}", f"{cumulative / 1000:.1f}"))

    print()
    verdict(
        hook_step < TARGET_MS,
        f"importing KaizalaHook adds {hook_step:.1f} ms to airflow.sdk (target < {TARGET_MS:.0f} ms)",
    )
    return 0


def _ms_list(values: list[float]) -> str:
    """Seconds as a list of whole milliseconds."""
    return ", ".join(f"{v * 1000:.0f}" for v in values)


if __name__ == "__main__":
    sys.exit(main())
