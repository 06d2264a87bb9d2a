"""Celery configuration (read by ``huiyuan.platform.celery`` with the ``CELERY_`` namespace)."""

from __future__ import annotations

from celery.schedules import crontab

from . import environment as E

CELERY_BROKER_URL = E.CELERY_BROKER_URL or E.REDIS_URL
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
# Keep a worker's database connection across tasks (Django's CONN_MAX_AGE still recycles it):
# since Celery 5.7 its Django fixup otherwise closes every connection after every task, a new
# connection (and its prepared statements) per event delivery. Closed every 2 × this many tasks.
CELERY_DB_REUSE_MAX = 500
# Reliability: a task is acknowledged only after it ran, and a worker killed mid-task hands it back.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Tasks are short: an event delivery takes milliseconds, an import of 100k rows seconds, nightly
# work is one task per merchant and job. Redis hands an unacknowledged task back after the
# visibility timeout, which must exceed the longest task; deliveries do not wait for it (the
# sweep resends them after HUIYUAN_DELIVERY_LEASE_SECONDS) and jobs claim their rows atomically,
# so a late redelivery finds the work done. Long delays live in the database, never in ETA.
CELERY_TASK_TIME_LIMIT = 600
CELERY_TASK_SOFT_TIME_LIMIT = 540
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 900, "socket_connect_timeout": 1.0, "socket_timeout": 5.0}
# A request that hands events over must not hang on a dead broker: one quick try, then the sweep.
CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 1, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.2}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = "UTC"
CELERY_TASK_ALWAYS_EAGER = E.CELERY_ALWAYS_EAGER
CELERY_TASK_TENANT_CACHE_SECONDS = 30
CELERY_BEAT_SCHEDULE = {
    "outbox-sweep": {"task": "huiyuan.events.publish_pending", "schedule": 2.0},
    "tenant-pool-refill": {"task": "huiyuan.tenants.refill_pool", "schedule": 60.0},
    # 02:30 in Shanghai: lifecycle stages, R/F/M quintiles and automatic tags of every merchant.
    "members-nightly": {"task": "huiyuan.members.nightly_all_tenants", "schedule": crontab(hour=18, minute=30)},
    # 01:00 in Shanghai: expire points and coupons, review tiers, reconcile the ledgers.
    "loyalty-nightly": {"task": "huiyuan.loyalty.nightly_all_tenants", "schedule": crontab(hour=17, minute=0)},
    # 03:10 in Shanghai, after expiry and stats: the reports' daily rollups of the last days.
    # At five past every hour: scheduled report summaries that fell due (each at its local hour).
    "reports-schedules": {"task": "huiyuan.reports.schedules_all_tenants", "schedule": crontab(minute=5)},
    "reports-nightly": {"task": "huiyuan.reports.nightly_all_tenants", "schedule": crontab(hour=19, minute=10)},
}

if E.SPLIT_QUEUES:
    CELERY_TASK_ROUTES = {
        "huiyuan.automation.*": {"queue": "automation"},
        "huiyuan.integrations.*": {"queue": "integrations"},
    }
