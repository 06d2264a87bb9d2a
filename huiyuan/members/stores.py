"""Stores: services (write) and selectors (read), store-scoped by the caller's assignments."""

from __future__ import annotations

import re
from typing import Any

from django.db import transaction
from django.db.models import QuerySet
from django.utils.translation import gettext as _

from huiyuan.platform.access import check_permission, filter_queryset
from huiyuan.platform.audit import audit_record
from huiyuan.platform.errors import NotFound, ValidationFailed

from .models import Store

STORE_CODE_RE = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
EDITABLE_FIELDS = ("code", "name", "region", "address", "status")


def store_list(*, actor: Any, search: str = "", status: str = "") -> QuerySet[Store]:
    qs = filter_queryset(actor, "platform.store.view", Store.objects.all())
    if search:
        qs = qs.filter(name__icontains=search) | qs.filter(code__icontains=search)
    if status:
        qs = qs.filter(status=status)
    return qs.order_by("code")


def store_get(*, actor: Any, store_id: int) -> Store:
    store = store_list(actor=actor).filter(pk=store_id).first()
    if store is None:
        raise NotFound()
    return store


def _validate(data: dict[str, Any], *, instance: Store | None = None) -> dict[str, Any]:
    errors: dict[str, list[str]] = {}
    cleaned = {k: (v.strip() if isinstance(v, str) else v) for k, v in data.items() if k in EDITABLE_FIELDS}
    if "code" in cleaned or instance is None:
        code = cleaned.get("code", "")
        if not code or not STORE_CODE_RE.match(code):
            errors["code"] = [_("Use 1–32 letters, digits, hyphens or underscores.")]
        elif Store.objects.filter(code__iexact=code).exclude(pk=instance.pk if instance else 0).exists():
            errors["code"] = [_("Another store already uses this code.")]
    if ("name" in cleaned or instance is None) and not cleaned.get("name"):
        errors["name"] = [_("Enter the store's name.")]
    if "status" in cleaned and cleaned["status"] not in Store.Status.values:
        errors["status"] = [_("Unknown status.")]
    for name, limit in (("name", 100), ("region", 100), ("address", 255)):
        if len(cleaned.get(name) or "") > limit:
            errors[name] = [_("At most %(n)d characters.") % {"n": limit}]
    if errors:
        raise ValidationFailed(fields=errors)
    return cleaned


def store_create(*, actor: Any, **data: Any) -> Store:
    check_permission(actor, "platform.store.manage")
    cleaned = _validate(data)
    with transaction.atomic():
        store = Store.objects.create(**cleaned)
        audit_record(actor=actor, action="platform.store.create", obj=store, changes=cleaned)
    return store


def store_update(*, actor: Any, store_id: int, **data: Any) -> Store:
    check_permission(actor, "platform.store.manage")
    with transaction.atomic():
        store = Store.objects.select_for_update().filter(pk=store_id).first()
        if store is None:
            raise NotFound()
        cleaned = _validate(data, instance=store)
        changes = {k: [getattr(store, k), v] for k, v in cleaned.items() if getattr(store, k) != v}
        for k, (_old, new) in changes.items():
            setattr(store, k, new)
        if changes:
            store.save(update_fields=[*changes, "updated_at"])
            audit_record(actor=actor, action="platform.store.update", obj=store, changes=changes)
    return store
