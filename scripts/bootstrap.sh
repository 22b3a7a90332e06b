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

# The browser tests (tests/e2e) drive Debian's chromium through Playwright: Playwright's own browser
# download is never used. Without chromium they skip, with the reason written here.
note=.venv/.chromium-missing
if [ -x /usr/bin/chromium ]; then
  rm -f "$note"
else
  sudo=""
  if [ "$(id -u)" != 0 ] && command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then sudo="sudo -n"; fi
  if ! command -v apt-get >/dev/null 2>&1; then
    why="/usr/bin/chromium is missing and this machine has no apt-get: install a chromium at /usr/bin/chromium to run the browser tests (tests/e2e)."
  elif [ "$(id -u)" != 0 ] && [ -z "$sudo" ]; then
    why="/usr/bin/chromium is missing and installing it needs root: run 'apt-get install chromium' as root, then the browser tests (tests/e2e) run."
  else
    echo "==> installing Debian's chromium for the browser tests (about 40 seconds)"
    export DEBIAN_FRONTEND=noninteractive
    if $sudo apt-get update -qq >/dev/null && $sudo apt-get install -y -qq --no-install-recommends chromium >/dev/null; then
      why=""
    else
      why="apt-get could not install Debian's chromium (see its output above): the browser tests (tests/e2e) skip until /usr/bin/chromium exists."
    fi
  fi
  if [ -n "$why" ]; then
    echo "warning: $why" >&2
    echo "$why" > "$note"
  else
    rm -f "$note"
  fi
fi
