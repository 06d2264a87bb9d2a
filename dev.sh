#!/usr/bin/env bash
# Huiyuan developer entry point.
#   ./dev.sh up     install everything, then run web + Celery worker + beat with a demo merchant
#   ./dev.sh test   install everything, then run the whole test suite (extra args go to pytest)
# Without DATABASE_URL / REDIS_URL both start their own PostgreSQL and Redis (see README).
set -euo pipefail
cd "$(dirname "$0")"

find_python() {
  # 3.12 and 3.11 first: the fallback database wheel (pgserver) has no 3.13 build.
  for candidate in "${PYTHON:-}" python3.12 python3.11 python3 python3.13; do
    [ -n "$candidate" ] || continue
    if command -v "$candidate" >/dev/null 2>&1 &&
       "$candidate" -c 'import sys, venv; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
      echo "$candidate"; return 0
    fi
  done
  return 1
}

ensure_python() {
  if ! PY=$(find_python); then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
      echo "[huiyuan] installing python3 and venv from the distribution"
      apt-get update -qq && apt-get install -y -qq python3 python3-venv python3-dev >/dev/null
      PY=$(find_python)
    else
      echo "[huiyuan] Python 3.11 or newer (with venv) is required" >&2; exit 1
    fi
  fi
}

ensure_venv() {
  local stamp=.venv/.installed
  local want
  want=$(cat pyproject.toml | sha1sum | cut -d' ' -f1)
  if [ ! -x .venv/bin/python ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    ensure_python
    echo "[huiyuan] installing Python packages into .venv"
    [ -x .venv/bin/python ] || "$PY" -m venv .venv
    .venv/bin/python -m pip install -q --upgrade pip
    .venv/bin/python -m pip install -q -e ".[dev]"
    echo "$want" > "$stamp"
  fi
}

ensure_assets() {
  if [ ! -f huiyuan/console/static/vendor/bootstrap/bootstrap.min.css ] || [ ! -f huiyuan/console/static/vendor/echarts/echarts.min.js ] || [ package-lock.json -nt huiyuan/console/static/vendor/htmx/htmx.min.js ]; then
    if ! command -v npm >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
      apt-get update -qq && apt-get install -y -qq nodejs npm >/dev/null
    fi
    bash scripts/build-assets.sh
  fi
}

command=${1:-}
[ $# -gt 0 ] && shift
case "$command" in
  up)    ensure_venv; ensure_assets; exec .venv/bin/python -m huiyuan up "$@" ;;
  test)  ensure_venv; ensure_assets; exec .venv/bin/python -m huiyuan test "$@" ;;
  *)     echo "usage: ./dev.sh up [--bind HOST:PORT] | ./dev.sh test [pytest args]" >&2; exit 2 ;;
esac
