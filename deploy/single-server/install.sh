#!/usr/bin/env bash
# Huiyuan on one Debian 12 server without Kubernetes: the distribution's PostgreSQL and Redis,
# a virtualenv under /opt/huiyuan, systemd units for web, worker and beat. Run as root from a
# checkout of the repository:  sudo bash deploy/single-server/install.sh
# Safe to re-run (an upgrade is: update the checkout, run it again): secrets are generated once
# and kept, the database and role are created once, migrations only apply what is missing.
#
# Settings (environment, all optional):
#   HUIYUAN_DOMAIN          platform domain (default: the host's FQDN)
#   HUIYUAN_PREFIX          install directory (default /opt/huiyuan)
#   HUIYUAN_CONF_DIR        where huiyuan.env lives (default /etc/huiyuan)
#   HUIYUAN_DB_NAME         PostgreSQL database and role name (default huiyuan)
#   HUIYUAN_PG_ADMIN_URL    how to reach PostgreSQL as a superuser (default: local socket as postgres)
#   HUIYUAN_BIND            web listen address (default 127.0.0.1:8000, behind nginx)
#   HUIYUAN_DB_HOST / _PORT PostgreSQL address written into the settings (default 127.0.0.1:5432)
#   HUIYUAN_REDIS_URL       Redis (default redis://127.0.0.1:6379/0)
#   HUIYUAN_VENV            reuse this virtualenv instead of creating PREFIX/venv
#   HUIYUAN_SKIP_APT=1      do not install distribution packages
#   HUIYUAN_NO_SYSTEMCTL=1  write the units but do not start them (containers, tests)
#   HUIYUAN_SYSTEMD_DIR     where units go (default /etc/systemd/system)
set -euo pipefail

SRC="$(cd "$(dirname "$0")/../.." && pwd)"
PREFIX="${HUIYUAN_PREFIX:-/opt/huiyuan}"
CONF_DIR="${HUIYUAN_CONF_DIR:-/etc/huiyuan}"
DB_NAME="${HUIYUAN_DB_NAME:-huiyuan}"
SYSTEMD_DIR="${HUIYUAN_SYSTEMD_DIR:-/etc/systemd/system}"
DOMAIN="${HUIYUAN_DOMAIN:-$(hostname -f 2>/dev/null || hostname)}"
BIND="${HUIYUAN_BIND:-127.0.0.1:8000}"
DB_HOST="${HUIYUAN_DB_HOST:-127.0.0.1}"
DB_PORT="${HUIYUAN_DB_PORT:-5432}"
REDIS="${HUIYUAN_REDIS_URL:-redis://127.0.0.1:6379/0}"
say() { echo "[huiyuan-install] $*"; }

if [ "$(id -u)" != 0 ] && [ "${HUIYUAN_ALLOW_NON_ROOT:-0}" != 1 ]; then
  echo "run as root (sudo bash $0)" >&2; exit 1
fi

if [ "${HUIYUAN_SKIP_APT:-0}" != 1 ]; then
  say "installing distribution packages"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3 python3-venv python3-dev build-essential \
    libpq-dev postgresql postgresql-client redis-server nodejs npm gettext >/dev/null
  systemctl enable --now postgresql redis-server >/dev/null 2>&1 || true
fi

if ! id huiyuan >/dev/null 2>&1; then
  say "creating the system user huiyuan"
  useradd --system --home-dir "$PREFIX" --shell /usr/sbin/nologin huiyuan
fi
mkdir -p "$PREFIX/var" "$CONF_DIR"

# --- the database and its role, once --------------------------------------------------------------
psql_admin() {
  if [ -n "${HUIYUAN_PG_ADMIN_URL:-}" ]; then psql "$HUIYUAN_PG_ADMIN_URL" -v ON_ERROR_STOP=1 -qAt "$@"
  else runuser -u postgres -- psql -v ON_ERROR_STOP=1 -qAt "$@"; fi
}
ENV_FILE="$CONF_DIR/huiyuan.env"
if [ ! -f "$ENV_FILE" ]; then
  say "generating secrets into $ENV_FILE (kept on every re-run)"
  DB_PASSWORD="$(python3 -c 'import secrets; print(secrets.token_urlsafe(24))')"
  SECRET_KEY="$(python3 -c 'import secrets; print(secrets.token_urlsafe(50))')"
  CRED_KEY="$(python3 -c 'import base64, os; print(base64.urlsafe_b64encode(os.urandom(32)).decode())')"
  umask 077
  cat > "$ENV_FILE" <<ENV
# Huiyuan settings (README's configuration table). Secrets: keep this file private and backed up.
HUIYUAN_ENV=production
HUIYUAN_BASE_DOMAIN=$DOMAIN
HUIYUAN_BIND=$BIND
HUIYUAN_WEB_WORKERS=3
HUIYUAN_WORKER_CONCURRENCY=4
HUIYUAN_STATIC_ROOT=$PREFIX/var/static
DJANGO_SETTINGS_MODULE=huiyuan.platform.settings
SECRET_KEY=$SECRET_KEY
HUIYUAN_CREDENTIALS_KEYS=$CRED_KEY
DATABASE_URL=postgres://$DB_NAME:$DB_PASSWORD@$DB_HOST:$DB_PORT/$DB_NAME
REDIS_URL=$REDIS
ENV
  umask 022
fi
chmod 600 "$ENV_FILE"
chown root:huiyuan "$ENV_FILE" 2>/dev/null || true
chmod 640 "$ENV_FILE"
DB_PASSWORD="$(sed -n 's#^DATABASE_URL=postgres://[^:]*:\([^@]*\)@.*#\1#p' "$ENV_FILE")"
if [ "$(psql_admin -c "SELECT 1 FROM pg_roles WHERE rolname = '$DB_NAME'")" != 1 ]; then
  say "creating the PostgreSQL role $DB_NAME"
  psql_admin -c "CREATE ROLE \"$DB_NAME\" LOGIN PASSWORD '$DB_PASSWORD'"
fi
if [ "$(psql_admin -c "SELECT 1 FROM pg_database WHERE datname = '$DB_NAME'")" != 1 ]; then
  say "creating the database $DB_NAME"
  psql_admin -c "CREATE DATABASE \"$DB_NAME\" OWNER \"$DB_NAME\""
fi

# --- the application ------------------------------------------------------------------------------
VENV="${HUIYUAN_VENV:-$PREFIX/venv}"
if [ -z "${HUIYUAN_VENV:-}" ]; then
  [ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
  say "installing Huiyuan from $SRC into $VENV"
  "$VENV/bin/pip" install -q --upgrade pip
  "$VENV/bin/pip" install -q "$SRC"
fi
if [ ! -f "$SRC/huiyuan/console/static/vendor/echarts/echarts.min.js" ]; then
  say "building console assets from the npm registry"
  (cd "$SRC" && bash scripts/build-assets.sh)
fi
if [ -z "${HUIYUAN_VENV:-}" ]; then
  # The package was installed before the assets existed in the checkout: copy them beside it.
  site="$("$VENV/bin/python" -c 'import huiyuan, os; print(os.path.dirname(huiyuan.__file__))')"
  mkdir -p "$site/console/static" && cp -r "$SRC/huiyuan/console/static/vendor" "$site/console/static/"
fi

run_as_app() { set -a; . "$ENV_FILE"; set +a; "$@"; }
say "collecting static files and migrating (only what is missing)"
(run_as_app "$VENV/bin/python" -m django collectstatic --noinput -v 0)
(run_as_app "$VENV/bin/python" -m huiyuan migrate --processes 2)

# --- systemd units ---------------------------------------------------------------------------------
mkdir -p "$SYSTEMD_DIR"
for unit in web worker beat; do
  sed -e "s#@PREFIX@/venv#$VENV#g" -e "s#@PREFIX@#$PREFIX#g" -e "s#@CONF_DIR@#$CONF_DIR#g" \
    "$SRC/deploy/single-server/huiyuan-$unit.service" > "$SYSTEMD_DIR/huiyuan-$unit.service"
done
chown -R huiyuan:huiyuan "$PREFIX/var" 2>/dev/null || true
if [ "${HUIYUAN_NO_SYSTEMCTL:-0}" != 1 ]; then
  systemctl daemon-reload
  systemctl enable huiyuan-web huiyuan-worker huiyuan-beat >/dev/null
  systemctl restart huiyuan-web huiyuan-worker huiyuan-beat
  say "running: systemctl status huiyuan-web huiyuan-worker huiyuan-beat"
else
  say "units written to $SYSTEMD_DIR (not started: HUIYUAN_NO_SYSTEMCTL=1)"
fi
say "done. Put nginx in front of $BIND for $DOMAIN and *.$DOMAIN (docs/operations.md)."
