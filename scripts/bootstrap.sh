#!/usr/bin/env bash
# Set up everything the demo and the tests need, once: a virtual environment in .venv with this
# package and the pinned versions in constraints.txt, and Debian's chromium for the browser tests.
# Re-runs are no-ops until those files change.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 10))'; then
  echo "airflow_healer needs Python 3.10 or newer; set PYTHON=/path/to/python3.11" >&2
  exit 1
fi
if [ ! -x .venv/bin/python ]; then
  echo "==> creating .venv"
  "$PYTHON" -m venv .venv
fi
stamp=.venv/.airflow-healer-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ] || [ constraints.txt -nt "$stamp" ]; then
  echo "==> installing airflow_healer and its dependencies (first time: about 3 minutes)"
  .venv/bin/python -m pip install --quiet --upgrade pip
  .venv/bin/python -m pip install --quiet -c constraints.txt -e ".[test]"
  touch "$stamp"
fi

# Debian packages the tests use, installed when missing: chromium for the browser tests (tests/e2e,
# driven through Playwright, whose own browser download is never used), PostgreSQL's server and
# redis-server for the PostgreSQL store and the Celery tests. Whatever cannot be installed is written
# to .venv/.<package>-missing and the tests that need it skip with that reason.
sudo=""
if [ "$(id -u)" != 0 ] && command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then sudo="sudo -n"; fi
apt_updated=""
ensure_package() {  # ensure_package PACKAGE PRESENT-CHECK WHAT-NEEDS-IT
  local package=$1 present=$2 needs=$3 note=".venv/.$1-missing" why=""
  if eval "$present"; then
    rm -f "$note"
    return
  fi
  if ! command -v apt-get >/dev/null 2>&1; then
    why="$package is missing and this machine has no apt-get: install it to run $needs."
  elif [ "$(id -u)" != 0 ] && [ -z "$sudo" ]; then
    why="$package is missing and installing it needs root: run 'apt-get install $package' as root, then $needs run."
  else
    echo "==> installing Debian's $package for $needs"
    export DEBIAN_FRONTEND=noninteractive
    if { [ -n "$apt_updated" ] || $sudo apt-get update -qq >/dev/null; } &&
       $sudo apt-get install -y -qq --no-install-recommends "$package" >/dev/null; then
      apt_updated=1
    else
      why="apt-get could not install Debian's $package (see its output above): $needs skip until it is installed."
    fi
  fi
  if [ -n "$why" ]; then
    echo "warning: $why" >&2
    echo "$why" > "$note"
  else
    rm -f "$note"
  fi
}
ensure_package chromium '[ -x /usr/bin/chromium ]' "the browser tests (tests/e2e)"
ensure_package postgresql 'command -v initdb >/dev/null || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1' \
  "the PostgreSQL store tests and the Celery tests"
ensure_package redis-server 'command -v redis-server >/dev/null' "the Celery tests (tests/integration/test_celery.py)"
