"""Test settings: the real stack (PostgreSQL, Redis), on a Redis database of their own."""

import os

os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/15")
os.environ.setdefault("HUIYUAN_TENANT_POOL_SIZE", "2")
os.environ.setdefault("HUIYUAN_BASE_DOMAIN", "localhost")

from huiyuan.platform.settings import *  # noqa: E402,F403

# Throttling is exercised by its own test with a tight rate; the rest should never hit it.
REST_FRAMEWORK = {**REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"anon": "1000/minute", "actor": "10000/minute"}}  # noqa: F405
CELERY_BROKER_URL = os.environ["REDIS_URL"]

# Every commit hands its events over at once, so tests that wait for a subscriber wait no longer.
HUIYUAN_OUTBOX_HANDOVER_INTERVAL = 0.0
