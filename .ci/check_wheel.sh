#!/usr/bin/env bash
# Build the sdist and wheel, check their metadata and contents, then install the wheel into a FRESH venv
# that holds only Airflow (pinned by LOCK) and check that Airflow registers the provider there.
#
# Usage: .ci/check_wheel.sh [LOCK]      LOCK defaults to requirements/lock.txt
# Env:   UV (default .venv/bin/uv), PYTHON (default .venv/bin/python: runs the checks and is the base
#        interpreter of the fresh venv). Everything is built and installed under one temp dir, removed on exit.
set -euo pipefail
cd "$(dirname "$0")/.."

LOCK=${1:-requirements/lock.txt}
UV=${UV:-.venv/bin/uv}
PYTHON=${PYTHON:-.venv/bin/python}
started=${EPOCHREALTIME/./}
work=$(mktemp -d "${TMPDIR:-/tmp}/acedata-wheel-check.XXXXXX")
trap 'rm -rf "$work"' EXIT

# Elapsed wall time since the start, in seconds with one decimal (bash 5 EPOCHREALTIME, microseconds).
elapsed() { local us=$((${EPOCHREALTIME/./} - started)); printf '%d.%d' $((us / 1000000)) $((us / 100000 % 10)); }
step() { echo "==> [$(elapsed)s] $1"; }

airflow_pin=$(grep -E '^apache-airflow==' "$LOCK") || { echo "no apache-airflow== pin in $LOCK" >&2; exit 1; }

step "build sdist + wheel (uv build, flit_core from requirements/build.txt)"
"$UV" build --quiet --build-constraint requirements/build.txt --out-dir "$work/dist"

step "check metadata and contents"
"$PYTHON" .ci/check_dist.py "$work/dist"

step "fresh venv with only $airflow_pin (uv pip install -c $LOCK)"
"$UV" venv --quiet --python "$PYTHON" "$work/venv"
venv_py="$work/venv/bin/python"
"$UV" pip install --quiet --python "$venv_py" -c "$LOCK" "$airflow_pin"

step "install the built wheel (uv pip install dist/*.whl)"
"$UV" pip install --quiet --python "$venv_py" -c "$LOCK" "$work"/dist/*.whl

step "airflow providers list / hooks, import every module"
# Only this check's Airflow settings reach the fresh install (no AIRFLOW_* from the caller).
run() {
    env -i PATH="$work/venv/bin:/usr/bin:/bin" HOME="$work/home" LANG=C.UTF-8 \
        AIRFLOW_HOME="$work/home" AIRFLOW__CORE__LOAD_EXAMPLES=False "$@"
}
mkdir -p "$work/home"
run airflow providers list -o json >"$work/providers.json"
run airflow providers hooks -o json >"$work/hooks.json"
run python .ci/check_dist.py --installed "$work/providers.json" "$work/hooks.json"

step "wheel check passed"
