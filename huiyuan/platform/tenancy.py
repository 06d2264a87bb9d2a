"""The current tenant schema, read from django-tenants' connection (typed in one place)."""

from __future__ import annotations

from django.db import connection

PUBLIC_SCHEMA = "public"


def current_schema() -> str:
    return str(connection.schema_name)  # type: ignore[attr-defined]


def in_public_schema() -> bool:
    return current_schema() == PUBLIC_SCHEMA
