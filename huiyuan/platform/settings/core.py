from __future__ import annotations

import environ

from . import environment as E
from .security import check_production_settings

BASE_DIR = E.BASE_DIR
SECRET_KEY = E.SECRET_KEY
DEBUG = E.DEBUG
if E.IS_PRODUCTION:
    check_production_settings(secret_key=SECRET_KEY, debug=DEBUG, credentials_keys=E.CREDENTIALS_KEYS)

ALLOWED_HOSTS = [E.BASE_DOMAIN, f".{E.BASE_DOMAIN}", *E.EXTRA_ALLOWED_HOSTS]
if not E.IS_PRODUCTION:
    ALLOWED_HOSTS += ["localhost", ".localhost", "127.0.0.1", "testserver", ".testserver"]

# --- tenancy (django-tenants): public schema = platform catalogue; one schema per merchant ---
SHARED_APPS = [
    "django_tenants",
    "huiyuan.tenants",
    "huiyuan.platform.events",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
]
TENANT_APPS = [
    "django.contrib.auth",
    "django.contrib.sessions",
    "django.contrib.messages",
    "guardian",
    "axes",
    "huiyuan.platform",
    "huiyuan.members",
    "huiyuan.loyalty",
    "huiyuan.automation",
    "huiyuan.integrations",
    "huiyuan.reports",
    "huiyuan.console",
]
INSTALLED_APPS = list(SHARED_APPS) + [app for app in TENANT_APPS if app not in SHARED_APPS]

TENANT_MODEL = "tenants.Tenant"
TENANT_DOMAIN_MODEL = "tenants.Domain"
# New tenants are cloned from this migrated template schema instead of running every migration.
TENANT_BASE_SCHEMA = "tenant_template"
TENANT_CREATION_FAKES_MIGRATIONS = True
# Send `SET search_path` only when the schema changes, not before every query (a round trip each).
TENANT_LIMIT_SET_CALLS = True
PUBLIC_SCHEMA_URLCONF = "huiyuan.platform.urls_public"
ROOT_URLCONF = "huiyuan.platform.urls_tenant"
DATABASE_ROUTERS = ("django_tenants.routers.TenantSyncRouter",)
HUIYUAN_BASE_DOMAIN = E.BASE_DOMAIN
HUIYUAN_PUBLIC_PORT = E.PUBLIC_PORT
HUIYUAN_URL_SCHEME = E.PUBLIC_URL_SCHEME
HUIYUAN_TENANT_POOL_SIZE = E.TENANT_POOL_SIZE
HUIYUAN_OUTBOX_HANDOVER_INTERVAL = E.OUTBOX_HANDOVER_INTERVAL
HUIYUAN_DELIVERY_LEASE_SECONDS = E.DELIVERY_LEASE_SECONDS
HUIYUAN_HEALTH_TOKEN = E.HEALTH_TOKEN
HUIYUAN_JOB_STALE_SECONDS = E.JOB_STALE_SECONDS
HUIYUAN_DELIVERY_RETRY_BASE = E.DELIVERY_RETRY_BASE
HUIYUAN_DELIVERY_MAX_ATTEMPTS = E.DELIVERY_MAX_ATTEMPTS

_db = environ.Env.db_url_config(E.DATABASE_URL)
_db["ENGINE"] = "django_tenants.postgresql_backend"
_db.setdefault("CONN_MAX_AGE", 60)
_db["CONN_HEALTH_CHECKS"] = True
# Django binds parameters on the client and never prepares; this only enables the statements
# that ask for it (``platform/sql.py``), which then stay prepared for the connection's life.
_db.setdefault("OPTIONS", {})["prepare_threshold"] = 5 if E.DB_PREPARED_STATEMENTS else None
DATABASES = {"default": _db}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

MIDDLEWARE = [
    "huiyuan.platform.logs.RequestIdMiddleware",
    "huiyuan.platform.metrics.MetricsMiddleware",
    "huiyuan.platform.api.middleware.ApiErrorMiddleware",
    "huiyuan.platform.health.HealthCheckMiddleware",
    "huiyuan.tenants.middleware.TenantMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "huiyuan.platform.language.UserLanguageMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "huiyuan.platform.context.RequestContextMiddleware",
    "axes.middleware.AxesMiddleware",
]

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "huiyuan.console.context.console",
            ]
        },
    }
]
WSGI_APPLICATION = "huiyuan.platform.wsgi.application"

AUTH_USER_MODEL = "platform.User"
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",  # first: a locked-out login is refused before any hash
    "huiyuan.platform.auth.StaffLoginBackend",
    "guardian.backends.ObjectPermissionBackend",
]
# Argon2id (OWASP's first choice) with OWASP's parameters costs ~20 ms here; Django 5.2's PBKDF2
# default costs ~0.5 s per hash, which alone would break the signup target.
PASSWORD_HASHERS = [
    "huiyuan.platform.hashers.OwaspArgon2PasswordHasher",
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "huiyuan.platform.passwords.MinimumLengthValidator", "OPTIONS": {"min_length": 8}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
    {"NAME": "huiyuan.platform.passwords.CharacterClassValidator"},
]
LOGIN_URL = "console:login"
LOGIN_REDIRECT_URL = "console:home"
LOGOUT_REDIRECT_URL = "console:login"
# Guardian's AnonymousUser row would be created in every schema; nothing here grants to anonymous.
ANONYMOUS_USER_NAME = None
GUARDIAN_MONKEY_PATCH_USER = False

# --- i18n: Simplified Chinese by default, English on request ---
LANGUAGE_CODE = "zh-hans"
LANGUAGES = [("zh-hans", "简体中文"), ("en", "English")]
LOCALE_PATHS = [BASE_DIR / "huiyuan" / "locale"]
USE_I18N = True
USE_TZ = True
TIME_ZONE = "UTC"
HUIYUAN_DEFAULT_TENANT_TIME_ZONE = E.TIME_ZONE_DEFAULT

STATIC_URL = "/static/"
STATIC_ROOT = E.STATIC_ROOT
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "whitenoise.storage.CompressedManifestStaticFilesStorage"
            if E.IS_PRODUCTION
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        )
    },
}
# Outside production, serve straight from the apps' static folders (no collectstatic needed).
WHITENOISE_USE_FINDERS = not E.IS_PRODUCTION
WHITENOISE_AUTOREFRESH = not E.IS_PRODUCTION

CACHES = {
    "default": {
        # Fails open (``platform/cache.py``): Redis down slows and breaks nothing PostgreSQL can do.
        "BACKEND": "huiyuan.platform.cache.FailOpenRedisCache",
        "LOCATION": E.REDIS_URL,
        "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 1.0},
        # Every cache key carries the tenant schema, so two tenants never share an entry.
        "KEY_FUNCTION": "django_tenants.cache.make_key",
        "REVERSE_KEY_FUNCTION": "django_tenants.cache.reverse_key",
        "KEY_PREFIX": "huiyuan",
    }
}

SESSION_COOKIE_SECURE = E.SECURE_COOKIES
CSRF_COOKIE_SECURE = E.SECURE_COOKIES
SESSION_COOKIE_HTTPONLY = True
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
if E.IS_PRODUCTION or E.TRUSTED_PROXIES:
    # TLS ends at the ingress or load balancer in front; it tells us the scheme.
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = E.HTTPS_REDIRECT
SECURE_REDIRECT_EXEMPT = [r"^health(/ready)?/?$"]  # probes speak plain HTTP inside the cluster
SECURE_HSTS_SECONDS = E.HSTS_SECONDS
SECURE_HSTS_INCLUDE_SUBDOMAINS = E.HSTS_SECONDS > 0  # every merchant is a subdomain
SECURE_REFERRER_POLICY = "same-origin"
HUIYUAN_TRUSTED_PROXIES = E.TRUSTED_PROXIES
HUIYUAN_PUBLIC_API_DOCS = E.PUBLIC_API_DOCS

# Login lockout (django-axes): per account and per client address, reset by a success or by HQ.
AXES_FAILURE_LIMIT = E.LOGIN_FAILURE_LIMIT
AXES_COOLOFF_TIME = E.LOGIN_LOCKOUT_MINUTES / 60  # hours
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_RESET_ON_SUCCESS = True
AXES_ENABLE_ADMIN = False
AXES_VERBOSE = False
AXES_CLIENT_IP_CALLABLE = "huiyuan.platform.context.client_ip"
AXES_USERNAME_CALLABLE = "huiyuan.platform.auth.login_identity"
AXES_LOCKOUT_CALLABLE = "huiyuan.console.views.login_locked_out"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
        "json": {"()": "huiyuan.platform.logs.JsonFormatter"},
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": E.LOG_FORMAT}},
    "root": {"handlers": ["console"], "level": E.LOG_LEVEL},
    "loggers": {"django.db.backends": {"level": "INFO"}, "axes": {"level": "WARNING"}},
}

# Outgoing e-mail, from one URL (README's configuration table).
HUIYUAN_EMAIL_CONFIGURED = bool(E.EMAIL_URL)
if E.EMAIL_URL:
    globals().update(E.env.email_url_config(E.EMAIL_URL))
    EMAIL_TIMEOUT = 10
DEFAULT_FROM_EMAIL = E.EMAIL_FROM
HUIYUAN_AUTOMATION_RETRY_BASE = E.AUTOMATION_RETRY_BASE
HUIYUAN_AUTOMATION_MAX_ATTEMPTS = E.AUTOMATION_MAX_ATTEMPTS
HUIYUAN_SEND_CLAIM_SECONDS = E.SEND_CLAIM_SECONDS
HUIYUAN_CREDENTIALS_KEYS = E.CREDENTIALS_KEYS
HUIYUAN_METRICS_PER_TENANT = E.METRICS_PER_TENANT
