"""The current tenant schema, read from django-tenants' connection (typed in one place)."""

from __future__ import annotations

from datetime import date
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings
from django.db import connection
from django.utils import timezone

PUBLIC_SCHEMA = "public"


def current_schema() -> str:
    return str(connection.schema_name)  # type: ignore[attr-defined]


def tenant_timezone() -> ZoneInfo:
    """The current merchant's time zone (birthdays and "inactive N days" use its local date)."""
    tenant = getattr(connection, "tenant", None)
    name = getattr(tenant, "time_zone", None) or settings.HUIYUAN_DEFAULT_TENANT_TIME_ZONE
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo(settings.HUIYUAN_DEFAULT_TENANT_TIME_ZONE)


def tenant_today() -> date:
    return timezone.now().astimezone(tenant_timezone()).date()


def public_url(domain: str, path: str = "/") -> str:
    """An address people open: the configured scheme, the domain, the public port unless standard."""
    port = settings.HUIYUAN_PUBLIC_PORT
    suffix = "" if port in ("", "80", "443") else f":{port}"
    return f"{settings.HUIYUAN_URL_SCHEME}://{domain}{suffix}{path}"


def tenant_url(path: str) -> str:
    """``public_url`` on the current merchant's own domain (links in messages and staff notices)."""
    return public_url(connection.tenant.get_primary_domain().domain, path)  # type: ignore[attr-defined]
