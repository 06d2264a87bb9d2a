"""Reads of the current merchant's deliveries (the rows live in the public schema, keyed by schema)."""

from __future__ import annotations

from django.db.models import Count, QuerySet

from huiyuan.platform.tenancy import current_schema

from .models import Delivery


def delivery_list(*, status: str = "") -> QuerySet[Delivery]:
    qs = Delivery.objects.filter(tenant_schema=current_schema()).select_related("event").order_by("-id")
    return qs.filter(status=status) if status else qs


def delivery_counts() -> dict[str, int]:
    rows = Delivery.objects.filter(tenant_schema=current_schema()).values("status").annotate(n=Count("id"))
    counts = dict.fromkeys(Delivery.Status.values, 0)
    counts.update({row["status"]: row["n"] for row in rows})
    return counts
