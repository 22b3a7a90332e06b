#!/usr/bin/env bash
# Set up (if needed), start a local Airflow with the example DAGs and show a run heal itself.
# Ctrl-C stops every process it started. Options: --port N, --exit (stop after the demo run).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
exec .venv/bin/python scripts/demo.py "$@"
