#!/usr/bin/env bash
# Airflow version matrix: the declared floor and the latest patch of every minor release after it, each in a
# fresh venv with Airflow's own dependencies as of its release day (uv --exclude-newer, as Airflow's
# per-version constraints do; the provider's own requirements are exempt, their floors may be newer), then
# the smoke set: the smoke DAG against the emulator and the connection form the UI serves (hook_meta).
#
# Add a row when Airflow publishes a new minor or patch release; the first row must be the floor in setup.cfg.
set -euo pipefail
source "$(dirname "$0")/smoke/env.sh"

#     version  release day (UTC)      for Airflow < 3.2: the FAB provider, without which it builds no
#                                     provider connection form
MATRIX=(
  "3.0.6 2025-08-30T00:00:00Z fab"
  "3.1.8 2026-03-12T00:00:00Z fab"
  "3.2.2 2026-05-30T00:00:00Z -"
  "3.3.2 2026-09-18T00:00:00Z -"
)

floor=$(sed -n 's/^ *apache-airflow>=\([0-9.]*\) *$/\1/p' "$REPO/setup.cfg")
first=${MATRIX[0]%% *}
if [ "$floor" != "$first" ]; then
  echo ".ci/matrix.sh: setup.cfg declares apache-airflow>=$floor but the matrix starts at $first" >&2
  exit 1
fi

started=$(date +%s)
summary=()
rc=0
for row in "${MATRIX[@]}"; do
  read -r version day fab <<<"$row"
  t0=$(date +%s)
  venv="$KAIZALA_CI_WORK/airflow-$version"
  extra=()
  [ "$fab" = fab ] && extra=(apache-airflow-providers-fab)
  echo ".ci/matrix.sh: Airflow $version with dependencies as of ${day%T*}"
  ci_install "$venv" "--exclude-newer $day $(ci_exempt "$day")" "apache-airflow==$version" "${extra[@]}"
  installed=$(( $(date +%s) - t0 ))
  status=passed
  ci_smoke "$venv" "airflow-$version" || { status=FAILED; rc=1; }
  rm -rf "$venv" "$venv.requirements.txt"
  summary+=("$(printf '  Airflow %-6s %-7s install %3ss, install + smoke %3ss' "$version" "$status" "$installed" "$(( $(date +%s) - t0 ))")")
done
echo ".ci/matrix.sh: $(( $(date +%s) - started ))s in all"
printf '%s\n' "${summary[@]}"
exit $rc
