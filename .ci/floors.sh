#!/usr/bin/env bash
# Lowest-direct stage: the built wheel and sdist are checked (licence files, SPDX expression, sdist contents),
# then the provider is installed with every direct requirement at the lowest version setup.cfg allows
# (uv --resolution lowest-direct, as Airflow's own CI does for its providers) and the smoke set runs.
#
# Airflow itself is then at its floor too. Its own dependencies are taken as of that release's day (uv
# --exclude-newer, as Airflow's per-version constraints do): with today's, old Airflow fails on its own before
# the provider is reached. The provider's requirements are exempt from that date (their floors may be newer).
set -euo pipefail
source "$(dirname "$0")/smoke/env.sh"
# The apache-airflow floor (setup.cfg) and the day it was released; .ci/matrix.sh starts from the same.
AIRFLOW_FLOOR_DAY=2025-08-30T00:00:00Z

started=$(date +%s)
ci_dist
"$PY" "$REPO/.ci/dist_tool.py" check "$WHEEL" "$SDIST"
echo ".ci/floors.sh: wheel and sdist checked ($(basename "$WHEEL"), $(basename "$SDIST"))"
venv="$KAIZALA_CI_WORK/lowest-direct"
ci_install "$venv" "--resolution lowest-direct --exclude-newer $AIRFLOW_FLOOR_DAY $(ci_exempt "$AIRFLOW_FLOOR_DAY")"
rc=0
"$venv/bin/python" "$REPO/.ci/dist_tool.py" floors "$venv.requirements.txt" || rc=$?
# Airflow 3.0 and 3.1 build provider connection forms only where Flask-AppBuilder is installed (FAB provider).
ci_uv pip install --quiet --python "$venv/bin/python" --exclude-newer "$AIRFLOW_FLOOR_DAY" apache-airflow-providers-fab
echo ".ci/floors.sh: installed in $(( $(date +%s) - started ))s:"
ci_smoke "$venv" lowest-direct || rc=$?
rm -rf "$venv" "$venv.requirements.txt"
echo ".ci/floors.sh: $(( $(date +%s) - started ))s in all"
exit $rc
