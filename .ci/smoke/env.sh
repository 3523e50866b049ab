# Shared by .ci/floors.sh and .ci/matrix.sh (sourced): uv, the built wheel and sdist, and one smoke run in a
# throw-away virtual environment. Everything goes under $KAIZALA_CI_WORK (a temporary directory by default);
# uv keeps its usual download cache, shared by every stage and run.

KAIZALA_CI_WORK=${KAIZALA_CI_WORK:-$(mktemp -d -t kaizala-ci.XXXXXX)}
export KAIZALA_CI_WORK
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
UV_VERSION=0.13.9
PY=${KAIZALA_CI_PYTHON:-python3.11}
# The smoke set's own tool; lowest-direct would otherwise pick a pytest from 2011.
PYTEST_SPEC='pytest>=8.3'

# uv, pinned, in a venv of its own (it comes from PyPI like every other package).
ci_uv() {
  if [ ! -x "$KAIZALA_CI_WORK/tools/bin/uv" ]; then
    "$PY" -m venv "$KAIZALA_CI_WORK/tools" >/dev/null
    "$KAIZALA_CI_WORK/tools/bin/python" -m pip install --quiet "uv==$UV_VERSION" >"$KAIZALA_CI_WORK/pip.log" 2>&1 \
      || { cat "$KAIZALA_CI_WORK/pip.log" >&2; return 1; }
  fi
  "$KAIZALA_CI_WORK/tools/bin/uv" "$@"
}

# The wheel and sdist of the checkout, built once per run (isolated build, setuptools from pyproject.toml).
ci_dist() {
  if ! ls "$KAIZALA_CI_WORK"/dist/*.whl >/dev/null 2>&1; then
    ci_uv build --quiet --sdist --wheel --out-dir "$KAIZALA_CI_WORK/dist" "$REPO" >/dev/null
  fi
  WHEEL=$(ls "$KAIZALA_CI_WORK"/dist/*.whl)
  SDIST=$(ls "$KAIZALA_CI_WORK"/dist/*.tar.gz)
}

# ci_install VENV "UV PIP OPTIONS" [EXTRA REQUIREMENT...]: a fresh venv with the wheel (extras emulator and
# sqlite: the smoke set needs the emulator and a SQLite warehouse) and the wheel's requirements passed as
# direct requirements, so --resolution lowest-direct lowers them.
ci_install() {
  local venv=$1 options=$2
  shift 2
  ci_dist
  "$PY" "$REPO/.ci/dist_tool.py" requirements "$WHEEL" emulator sqlite > "$venv.requirements.txt"
  ci_uv venv --quiet --python "$PY" "$venv"
  # shellcheck disable=SC2086  # the options are words on purpose
  ci_uv pip install --quiet --python "$venv/bin/python" $options -r "$venv.requirements.txt" \
    "airflow-provider-kaizala[emulator,sqlite] @ file://$WHEEL" "$PYTEST_SPEC" "$@"
}

# ci_exempt DAY: the --exclude-newer-package options for those of the provider's own requirements that have no
# release satisfying their floor before DAY (e.g. common-compat's floor is newer than Airflow 3.0.6). Only
# those are exempt from the date: exempting the others too would pull today's versions of packages Airflow
# shares with the provider (SQLAlchemy 2.1 breaks Airflow 3.1's database code).
ci_exempt() {
  local day=$1 now spec name
  now=$(date -u +%Y-%m-%dT%H:%M:%SZ)
  ci_dist
  while read -r spec; do
    name=${spec%%[<>=!~ ]*}
    [ "$name" = apache-airflow ] && continue
    if ! ci_uv pip install --dry-run --quiet --no-deps --python "$KAIZALA_CI_WORK/tools/bin/python" \
        --exclude-newer "$day" "$spec" >/dev/null 2>&1; then
      printf -- '--exclude-newer-package %s=%s ' "$name" "$now"
    fi
  done < <("$PY" "$REPO/.ci/dist_tool.py" requirements "$WHEEL" emulator sqlite)
}

# ci_smoke VENV LABEL: the smoke set (.ci/smoke/test_smoke.py) with that venv's Python, from .ci/smoke so the
# installed package is the one imported; prints what it installed and how long the run took.
ci_smoke() {
  local venv=$1 label=$2 started rc=0
  "$venv/bin/python" -c 'import importlib.metadata as m; print("  " + ", ".join(f"{d} {m.version(d)}" for d in (
      "apache-airflow", "apache-airflow-providers-common-compat", "apache-airflow-providers-common-sql",
      "apache-airflow-providers-sqlite", "requests", "urllib3", "httpx", "pendulum", "phonenumbers", "uvicorn",
      "starlette", "sqlalchemy", "msgspec", "fastapi", "pydantic", "python-multipart")))'
  started=$(date +%s)
  (cd "$REPO/.ci/smoke" && "$venv/bin/python" -m pytest -q) || rc=$?
  echo "  smoke $label: $(( $(date +%s) - started ))s, exit $rc"
  return $rc
}
