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
