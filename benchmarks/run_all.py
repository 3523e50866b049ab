"""Run every benchmark script in this directory, one after the other.

Each ``benchmarks/*.py`` (except this file and ``_``-prefixed helpers) runs in its own interpreter with
the repository on ``PYTHONPATH``; ``--quick`` is passed through (the CI smoke run). A benchmark that misses
its target prints ``FAIL: ...`` but is not an error: the exit status is non-zero only when a script
crashes (non-zero exit), unless ``--strict`` also turns printed FAIL lines into a non-zero exit.

    python benchmarks/run_all.py              # full figures (minutes)
    python benchmarks/run_all.py --quick      # smoke run (seconds)
    python benchmarks/run_all.py --strict     # also exit 1 on a FAIL line
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent


def scripts(only: list[str] | None = None) -> list[Path]:
    """The benchmark scripts, in name order (optionally only those whose stem is in ``only``)."""
    found = sorted(p for p in HERE.glob("*.py") if p.name != Path(__file__).name and not p.name.startswith("_"))
    return [p for p in found if not only or p.stem in only]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="pass --quick to every script")
    parser.add_argument("--strict", action="store_true", help="exit non-zero on a printed FAIL line too")
    parser.add_argument("only", nargs="*", help="run only these scripts (names without .py)")
    args = parser.parse_args()

    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH")) if p)
    env.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
    crashed: list[str] = []
    failed: list[str] = []
    summary: list[tuple[str, str, float]] = []
    for script in scripts(args.only):
        cmd = [sys.executable, str(script), *(["--quick"] if args.quick else [])]
        print(f"\n===== {script.name}{' --quick' if args.quick else ''} =====", flush=True)
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        elapsed = time.perf_counter() - t0
        sys.stdout.write(proc.stdout)
        fail_lines = [line for line in proc.stdout.splitlines() if line.startswith("FAIL")]
        if proc.returncode != 0:
            crashed.append(script.name)
            status = f"CRASHED (exit {proc.returncode})"
        elif fail_lines:
            failed.append(script.name)
            status = f"ran; {len(fail_lines)} FAIL line(s)"
        else:
            status = "ran; all targets met" if "PASS" in proc.stdout else "ran"
        summary.append((script.name, status, elapsed))
        print(flush=True)

    print("===== summary =====")
    for name, status, elapsed in summary:
        print(f"{name:<28} {elapsed:7.1f} s  {status}")
    if crashed:
        print(f"crashed: {', '.join(crashed)}")
        return 1
    if args.strict and failed:
        print(f"targets missed (--strict): {', '.join(failed)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
