"""Audit log: services record, HQ reads."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db import models
from django.db.models import QuerySet

from .context import current_request_meta
from .models import AuditEntry


def audit_record(
    *,
    actor: Any,
    action: str,
    obj: models.Model | None = None,
    changes: dict[str, Any] | None = None,
    object_type: str = "",
    object_id: str = "",
    object_repr: str = "",
) -> AuditEntry:
    from .access import ApiKeyPrincipal

    meta = current_request_meta()
    api_key = actor.api_key if isinstance(actor, ApiKeyPrincipal) else None
    user = actor if actor is not None and not isinstance(actor, ApiKeyPrincipal) and actor.pk else None
    if obj is not None:
        object_type = object_type or obj._meta.label_lower
        object_id = object_id or str(obj.pk)
        object_repr = object_repr or str(obj)[:200]
    return AuditEntry.objects.create(
        actor=user,
        api_key=api_key,
        actor_label=str(actor)[:150] if actor is not None else "system",
        action=action,
        object_type=object_type,
        object_id=object_id,
        object_repr=object_repr[:200],
        changes=changes or {},
        ip_address=meta.ip_address,
        user_agent=meta.user_agent,
    )


def audit_list(
    *,
    actor: Any,
    action: str = "",
    actor_id: int | None = None,
    object_type: str = "",
    object_id: str = "",
    since: datetime | None = None,
    until: datetime | None = None,
) -> QuerySet[AuditEntry]:
    from .access import check_permission

    check_permission(actor, "platform.audit.view")
    qs = AuditEntry.objects.select_related("actor", "api_key")
    if action:
        qs = qs.filter(action__startswith=action)
    if actor_id:
        qs = qs.filter(actor_id=actor_id)
    if object_type:
        qs = qs.filter(object_type=object_type)
    if object_id:
        qs = qs.filter(object_id=object_id)
    if since:
        qs = qs.filter(created_at__gte=since)
    if until:
        qs = qs.filter(created_at__lt=until)
    return qs
