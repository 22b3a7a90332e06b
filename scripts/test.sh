#!/usr/bin/env bash
# Set up (if needed) and run the whole test suite: unit tests, then a real Airflow for the
# integration tests. Extra arguments go to pytest (e.g. scripts/test.sh -m "not integration").
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
export PYTHONDONTWRITEBYTECODE=1
exec .venv/bin/python -m pytest "$@"
