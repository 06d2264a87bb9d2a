"""Every environment variable Huiyuan reads, in one place (documented in README.md).

Defaults are safe for development on one machine; ``HUIYUAN_ENV=production`` turns on the checks in
``security.py`` that refuse to start with an insecure secret or DEBUG on.
"""

from __future__ import annotations

from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parents[3]

env = environ.Env()

# Exactly one of these; anything else ("Production", "prod") refuses to start rather than
# quietly running a production install with DEBUG on and the development secret.
ENVIRONMENTS = ("development", "test", "production")
HUIYUAN_ENV: str = env.str("HUIYUAN_ENV", default="development")
if HUIYUAN_ENV not in ENVIRONMENTS:
    from django.core.exceptions import ImproperlyConfigured

    raise ImproperlyConfigured(
        f"HUIYUAN_ENV={HUIYUAN_ENV!r} is not one of {', '.join(ENVIRONMENTS)}; refusing to start."
    )
IS_PRODUCTION = HUIYUAN_ENV == "production"

DEV_SECRET_KEY = "dev-insecure-huiyuan-secret-key-change-me"  # noqa: S105 - refused in production
SECRET_KEY: str = env.str("SECRET_KEY", default=DEV_SECRET_KEY)
DEBUG: bool = env.bool("DEBUG", default=not IS_PRODUCTION)

DATABASE_URL: str = env.str("DATABASE_URL", default="postgres://postgres@127.0.0.1:5432/huiyuan")
REDIS_URL: str = env.str("REDIS_URL", default="redis://127.0.0.1:6379/0")
# Celery broker defaults to the same Redis, another database number.
CELERY_BROKER_URL: str = env.str("CELERY_BROKER_URL", default="")

BASE_DOMAIN: str = env.str("HUIYUAN_BASE_DOMAIN", default="localhost")
EXTRA_ALLOWED_HOSTS: list[str] = env.list("HUIYUAN_ALLOWED_HOSTS", default=[])
PUBLIC_URL_SCHEME: str = env.str("HUIYUAN_URL_SCHEME", default="http")
PUBLIC_PORT: str = env.str("HUIYUAN_PUBLIC_PORT", default="8000")

TENANT_POOL_SIZE: int = env.int("HUIYUAN_TENANT_POOL_SIZE", default=3)
TIME_ZONE_DEFAULT: str = env.str("HUIYUAN_TIME_ZONE", default="Asia/Shanghai")
STATIC_ROOT: str = env.str("HUIYUAN_STATIC_ROOT", default=str(BASE_DIR / "staticfiles"))
LOG_LEVEL: str = env.str("HUIYUAN_LOG_LEVEL", default="INFO")
CELERY_ALWAYS_EAGER: bool = env.bool("HUIYUAN_CELERY_EAGER", default=False)
SECURE_COOKIES: bool = env.bool("HUIYUAN_SECURE_COOKIES", default=IS_PRODUCTION)
# Server-side prepared statements for checkout's hot statements; turn off behind a connection
# pooler that cannot keep them (PgBouncer before 1.21 in transaction mode).
DB_PREPARED_STATEMENTS: bool = env.bool("HUIYUAN_DB_PREPARED_STATEMENTS", default=True)
OUTBOX_HANDOVER_INTERVAL: float = env.float("HUIYUAN_OUTBOX_HANDOVER_INTERVAL", default=0.5)
# A delivery sent to a subscriber and not handled within this many seconds is sent again (a worker
# died, the broker lost the message); failures back off from DELIVERY_RETRY_BASE seconds, doubling,
# and after DELIVERY_MAX_ATTEMPTS failures the delivery is dead until an admin retries it.
DELIVERY_LEASE_SECONDS: float = env.float("HUIYUAN_DELIVERY_LEASE_SECONDS", default=30.0)
DELIVERY_RETRY_BASE: float = env.float("HUIYUAN_DELIVERY_RETRY_BASE", default=5.0)
DELIVERY_MAX_ATTEMPTS: int = env.int("HUIYUAN_DELIVERY_MAX_ATTEMPTS", default=8)
THROTTLE_ANON: str = env.str("HUIYUAN_THROTTLE_ANON", default="30/minute")
THROTTLE_ACTOR: str = env.str("HUIYUAN_THROTTLE_ACTOR", default="1200/minute")
# Bearer token that opens the detailed readiness report (/health/ready) to monitoring from afar;
# loopback callers always get it.
HEALTH_TOKEN: str = env.str("HUIYUAN_HEALTH_TOKEN", default="")
# A queued or running import with no progress for this long is stalled (its worker or message
# was lost): a redelivered task takes it over, and the console offers a retry.
JOB_STALE_SECONDS: int = env.int("HUIYUAN_JOB_STALE_SECONDS", default=120)
# Addresses in X-Forwarded-For are believed only from these proxies: a count of proxies in front
# ("1": the ingress) or their addresses / CIDRs ("10.0.0.0/8,192.168.1.10"). Default: none, the
# address is the connection's. Throttles, login lockout and the audit log all use the result.
TRUSTED_PROXIES: str = env.str("HUIYUAN_TRUSTED_PROXIES", default="")
# Login lockout: failures per account, and per client address, before a lockout of this length.
LOGIN_FAILURE_LIMIT: int = env.int("HUIYUAN_LOGIN_FAILURE_LIMIT", default=10)
LOGIN_LOCKOUT_MINUTES: int = env.int("HUIYUAN_LOGIN_LOCKOUT_MINUTES", default=15)
# Production: HTTPS everywhere (redirect, HSTS); the API docs need a login unless opened here.
HTTPS_REDIRECT: bool = env.bool("HUIYUAN_HTTPS_REDIRECT", default=IS_PRODUCTION)
HSTS_SECONDS: int = env.int("HUIYUAN_HSTS_SECONDS", default=31536000 if IS_PRODUCTION else 0)
PUBLIC_API_DOCS: bool = env.bool("HUIYUAN_PUBLIC_API_DOCS", default=not IS_PRODUCTION)
# Outgoing e-mail (automation's e-mail channel): smtp://user:password@host:587 (STARTTLS with
# smtp+tls://, TLS with smtp+ssl://). Empty: the e-mail channel reports "not set up" instead of sending.
EMAIL_URL: str = env.str("HUIYUAN_EMAIL_URL", default="")
EMAIL_FROM: str = env.str("HUIYUAN_EMAIL_FROM", default="Huiyuan <noreply@localhost>")
# Automation steps that fail are retried with backoff from this many seconds, doubling, then dead.
AUTOMATION_RETRY_BASE: float = env.float("HUIYUAN_AUTOMATION_RETRY_BASE", default=60.0)
AUTOMATION_MAX_ATTEMPTS: int = env.int("HUIYUAN_AUTOMATION_MAX_ATTEMPTS", default=5)
# A message claimed for sending and not answered within this many seconds (its worker died mid-send)
# is marked unconfirmed and never sent again automatically.
SEND_CLAIM_SECONDS: float = env.float("HUIYUAN_SEND_CLAIM_SECONDS", default=120.0)
# Keys that encrypt vendor credentials at rest (Fernet, urlsafe base64, comma-separated; the first
# encrypts, all decrypt: put a new key first, run rotate_credentials, then drop the old one).
# Empty outside production: a key derived from SECRET_KEY. Production refuses to start without one.
CREDENTIALS_KEYS: list[str] = env.list("HUIYUAN_CREDENTIALS_KEYS", default=[])
# Route automation and integration tasks to queues of their own (the chart runs a worker per queue);
# off, everything shares the default queue (one worker, `huiyuan up`).
SPLIT_QUEUES: bool = env.bool("HUIYUAN_SPLIT_QUEUES", default=False)
# Log lines as JSON objects (with tenant and request id) or plain text; JSON by default in production.
LOG_FORMAT: str = env.str("HUIYUAN_LOG_FORMAT", default="json" if IS_PRODUCTION else "plain")
# A tenant label on request metrics: cheap for tens of merchants, too many series for thousands.
METRICS_PER_TENANT: bool = env.bool("HUIYUAN_METRICS_PER_TENANT", default=False)
