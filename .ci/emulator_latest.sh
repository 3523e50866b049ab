#!/usr/bin/env bash
# Newest stage of the emulator: the wheel without its dependencies, then the emulator's own dependencies at their
# newest releases (no Airflow, which caps FastAPI), and the route-family smoke test. The floors and the matrix
# test the oldest and the Airflow-bounded releases; this catches a FastAPI/Starlette/uvicorn release that changes
# what the emulator relies on before Airflow allows it.
set -euo pipefail
source "$(dirname "$0")/smoke/env.sh"
started=$(date +%s)
ci_dist
venv="$KAIZALA_CI_WORK/emulator-latest"
ci_uv venv --quiet --python "$PY" "$venv"
ci_uv pip install --quiet --python "$venv/bin/python" --no-deps "$WHEEL"
ci_uv pip install --quiet --python "$venv/bin/python" "$PYTEST_SPEC" fastapi starlette uvicorn pydantic msgspec \
  python-multipart httpx phonenumbers requests
"$venv/bin/python" -c 'import importlib.metadata as m; print("  " + ", ".join(f"{d} {m.version(d)}" for d in (
    "fastapi", "starlette", "uvicorn", "pydantic", "python-multipart", "msgspec")))'
rc=0
(cd "$REPO/.ci/smoke" && "$venv/bin/python" -m pytest -q test_emulator_families.py -p no:cacheprovider) || rc=$?
rm -rf "$venv"
echo ".ci/emulator_latest.sh: $(( $(date +%s) - started ))s, exit $rc"
exit $rc
