"""Smoke test of the benchmarks: ``benchmarks/run_all.py --quick`` runs every script and each prints figures.

The figures themselves are not asserted (timings are not tests); a missed target prints a FAIL line
and is fine here, only a crash fails.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
BENCHMARKS = REPO / "benchmarks"

#: A line each known script prints only when it got as far as its figures.
FIGURES = {
    "hook_paging.py": "throughput ratio hook/bare:",
    "throttle_pacing.py": "HTTP 429 answers",
    "import_cost.py": "importing KaizalaHook adds",
    "emulator_throughput.py": "pages/s",
    "sensor_scale.py": "sensor check peak RSS growth:",
    "transfer_scale.py": "throughput of the load / paging alone:",
    "shared_budget.py": "send wait",
    "resumable_load.py": "the calls of one clean load",
}


def _sections(output: str) -> dict[str, str]:
    """Output of run_all split by script (``===== name --quick =====`` headers)."""
    parts = re.split(r"^===== (\S+\.py) --quick =====$", output, flags=re.MULTILINE)
    return dict(zip(parts[1::2], parts[2::2], strict=True))


@pytest.mark.timeout(480)
def test_run_all_quick_runs_every_benchmark(tmp_path: Path) -> None:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH")) if p)
    env["AIRFLOW_HOME"] = str(tmp_path / "airflow")
    env["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
    proc = subprocess.run(
        [sys.executable, str(BENCHMARKS / "run_all.py"), "--quick"],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=460,
        check=False,
    )
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-4000:]
    sections = _sections(proc.stdout)
    expected = sorted(p.name for p in BENCHMARKS.glob("*.py") if p.name != "run_all.py" and not p.name.startswith("_"))
    assert sorted(sections) == expected, output[-4000:]
    for name, text in sections.items():
        assert re.search(r"\d", text), f"{name} printed no figures:\n{text}"
        if name in FIGURES:
            assert FIGURES[name] in text, f"{name} did not print {FIGURES[name]!r}:\n{text}"
        if name != "emulator_throughput.py":  # ours print a verdict line against their target
            assert re.search(r"^(PASS|FAIL):", text, flags=re.MULTILINE), f"{name} printed no PASS/FAIL:\n{text}"
