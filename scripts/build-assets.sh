#!/usr/bin/env bash
# Install the console's front-end packages from the npm registry and copy the files the pages use
# into huiyuan/console/static/vendor/, from where the platform serves them itself (no CDN).
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v npm >/dev/null 2>&1; then
  echo "[huiyuan] npm not found: install Node.js and npm (apt-get install nodejs npm) to build the console assets" >&2
  exit 1
fi
npm ci --no-audit --no-fund --loglevel=error
vendor=huiyuan/console/static/vendor
mkdir -p "$vendor/bootstrap" "$vendor/htmx" "$vendor/echarts"
cp node_modules/bootstrap/dist/css/bootstrap.min.css node_modules/bootstrap/dist/css/bootstrap.min.css.map "$vendor/bootstrap/"
cp node_modules/bootstrap/dist/js/bootstrap.bundle.min.js node_modules/bootstrap/dist/js/bootstrap.bundle.min.js.map "$vendor/bootstrap/"
cp node_modules/htmx.org/dist/htmx.min.js "$vendor/htmx/"
cp node_modules/echarts/dist/echarts.min.js "$vendor/echarts/"
echo "[huiyuan] console assets ready in $vendor"
