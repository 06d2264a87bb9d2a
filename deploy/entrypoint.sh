#!/bin/sh
# The container's one entry point: `web`, `worker`, `beat`, `migrate` or `manage <command>`.
# Settings come from the environment (see README's configuration table). With
# HUIYUAN_ENTRYPOINT_DRY_RUN=1 it prints the command it would run instead of running it (tests).
set -eu

role="${1:-web}"
[ $# -gt 0 ] && shift

run() {
  if [ "${HUIYUAN_ENTRYPOINT_DRY_RUN:-0}" = "1" ]; then
    echo "$*"
    exit 0
  fi
  exec "$@"
}

# gunicorn's and Celery's processes add their metrics up in this directory (emptied at start).
if [ -n "${PROMETHEUS_MULTIPROC_DIR:-}" ] && [ "${HUIYUAN_ENTRYPOINT_DRY_RUN:-0}" != "1" ]; then
  rm -rf "$PROMETHEUS_MULTIPROC_DIR" && mkdir -p "$PROMETHEUS_MULTIPROC_DIR"
fi

case "$role" in
  web)
    run gunicorn huiyuan.platform.wsgi:application \
      --bind "0.0.0.0:${HUIYUAN_PORT:-8000}" \
      --workers "${HUIYUAN_WEB_WORKERS:-2}" --threads "${HUIYUAN_WEB_THREADS:-4}" \
      --timeout "${HUIYUAN_WEB_TIMEOUT:-60}" --graceful-timeout 30 \
      --access-logfile - --error-logfile - "$@"
    ;;
  worker)
    run celery -A huiyuan worker \
      --queues "${HUIYUAN_WORKER_QUEUES:-celery,automation,integrations}" \
      --concurrency "${HUIYUAN_WORKER_CONCURRENCY:-2}" \
      --loglevel "${HUIYUAN_LOG_LEVEL:-INFO}" --without-gossip --without-mingle "$@"
    ;;
  beat)
    # Exactly one beat runs (the chart keeps one replica); its schedule state is disposable.
    run celery -A huiyuan beat --schedule "${HUIYUAN_BEAT_SCHEDULE:-/tmp/celerybeat-schedule}" \
      --loglevel "${HUIYUAN_LOG_LEVEL:-INFO}" "$@"
    ;;
  migrate)
    # Public schema, template and every merchant, in parallel; fails naming any schema left behind.
    run python -m huiyuan migrate --processes "${HUIYUAN_MIGRATE_PROCESSES:-4}" "$@"
    ;;
  manage)
    run python -m django "$@"
    ;;
  *)
    echo "huiyuan: unknown role '$role' (use web, worker, beat, migrate or manage)" >&2
    exit 64
    ;;
esac
