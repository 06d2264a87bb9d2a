"""Services and selectors for merchant-defined fields, and the validation every write of
``Member.custom_fields`` goes through (API, console and import alike)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from django.db import connection, transaction
from django.db.models import Max, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from huiyuan.platform.access import check_permission
from huiyuan.platform.audit import audit_record
from huiyuan.platform.errors import NotFound, ValidationFailed

from .fields import registry
from .fields.base import FieldConfigError, FieldValueError, is_blank
from .models import CustomField, Member

KEY_RE = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
# Keys that would shadow core member fields in imports, exports and segments.
RESERVED_KEYS = frozenset(
    {f.name for f in Member._meta.get_fields()} | {"tag", "tags", "store", "tier", "points", "balance"}
)


def custom_field_list(*, include_archived: bool = False) -> QuerySet[CustomField]:
    qs = CustomField.objects.all()
    return qs if include_archived else qs.filter(archived_at__isnull=True)


def active_fields_by_key() -> dict[str, CustomField]:
    return {f.key: f for f in custom_field_list()}


def _clean_definition(
    *,
    field_type: str,
    label: str,
    config: dict[str, Any] | None,
    key: str | None = None,
    instance: CustomField | None = None,
) -> dict[str, Any]:
    errors: dict[str, list[str]] = {}
    cleaned: dict[str, Any] = {}
    if not label.strip():
        errors["label"] = [_("Enter a label.")]
    elif len(label.strip()) > 100:
        errors["label"] = [_("At most 100 characters.")]
    cleaned["label"] = label.strip()
    try:
        type_impl = registry.get(field_type)
    except KeyError:
        errors["field_type"] = [_("Unknown field type.")]
    else:
        try:
            cleaned["config"] = type_impl.clean_config(config or {})
        except (FieldConfigError, ValueError) as exc:
            errors["config"] = [str(exc)]
    if instance is None:
        key = (key or "").strip().lower()
        if not key:
            next_id = (CustomField.objects.aggregate(n=Max("id"))["n"] or 0) + 1
            key = f"f{next_id}"
        if not KEY_RE.match(key):
            errors["key"] = [_("Use lowercase letters, digits and underscores, starting with a letter.")]
        elif key in RESERVED_KEYS:
            errors["key"] = [_("This key is reserved for a built-in member field.")]
        elif CustomField.objects.filter(key=key).exists():
            errors["key"] = [_("Another field already uses this key.")]
        cleaned["key"] = key
    if errors:
        raise ValidationFailed(fields=errors)
    return cleaned


def custom_field_create(
    *,
    actor: Any,
    label: str,
    field_type: str,
    key: str | None = None,
    required: bool = False,
    unique: bool = False,
    config: dict[str, Any] | None = None,
    help_text: str = "",
) -> CustomField:
    check_permission(actor, "members.field.manage")
    cleaned = _clean_definition(field_type=field_type, label=label, config=config, key=key)
    with transaction.atomic():
        position = (CustomField.objects.aggregate(n=Max("position"))["n"] or 0) + 1
        field = CustomField.objects.create(
            field_type=field_type,
            required=required,
            unique=unique,
            help_text=help_text.strip()[:255],
            position=position,
            **cleaned,
        )
        audit_record(actor=actor, action="members.field.create", obj=field, changes={"type": field_type, **cleaned})
    return field


def custom_field_update(
    *,
    actor: Any,
    field_id: int,
    label: str | None = None,
    required: bool | None = None,
    unique: bool | None = None,
    config: dict[str, Any] | None = None,
    help_text: str | None = None,
) -> CustomField:
    """Rename, change rules or help text. The key and the type never change, so no value is lost."""
    check_permission(actor, "members.field.manage")
    with transaction.atomic():
        field = CustomField.objects.select_for_update().filter(pk=field_id).first()
        if field is None:
            raise NotFound()
        cleaned = _clean_definition(
            field_type=field.field_type,
            label=label if label is not None else field.label,
            config=config if config is not None else field.config,
            instance=field,
        )
        new_values = {**cleaned}
        if required is not None:
            new_values["required"] = required
        if unique is not None:
            new_values["unique"] = unique
        if help_text is not None:
            new_values["help_text"] = help_text.strip()[:255]
        changes = {k: [getattr(field, k), v] for k, v in new_values.items() if getattr(field, k) != v}
        for name, (_old, new) in changes.items():
            setattr(field, name, new)
        if changes:
            field.save()
            audit_record(actor=actor, action="members.field.update", obj=field, changes=changes)
    return field


def custom_field_set_archived(*, actor: Any, field_id: int, archived: bool) -> CustomField:
    """Archive hides the field everywhere but keeps every member's value; restoring brings it back."""
    check_permission(actor, "members.field.manage")
    with transaction.atomic():
        field = CustomField.objects.select_for_update().filter(pk=field_id).first()
        if field is None:
            raise NotFound()
        if archived != (field.archived_at is not None):
            field.archived_at = timezone.now() if archived else None
            field.save(update_fields=["archived_at"])
            audit_record(
                actor=actor, action="members.field.archive" if archived else "members.field.restore", obj=field
            )
    return field


def custom_field_reorder(*, actor: Any, ordered_ids: list[int]) -> None:
    check_permission(actor, "members.field.manage")
    with transaction.atomic():
        known = set(CustomField.objects.values_list("pk", flat=True))
        if set(ordered_ids) - known:
            raise ValidationFailed(fields={"order": [_("Unknown fields in the new order.")]})
        for position, pk in enumerate(ordered_ids, start=1):
            CustomField.objects.filter(pk=pk).update(position=position)
        audit_record(actor=actor, action="members.field.reorder", changes={"order": ordered_ids})


def clean_custom_values(
    values: dict[str, Any],
    *,
    member: Member | None = None,
    fields: dict[str, CustomField] | None = None,
    partial: bool = False,
    check_unique: bool = True,
) -> tuple[dict[str, Any], dict[str, str]]:
    """Validate input for ``Member.custom_fields``. Returns the merged JSON to store and errors per
    key. ``partial`` leaves keys that are not in ``values`` untouched (an update), else required
    fields must be present (a creation)."""
    fields = active_fields_by_key() if fields is None else fields
    current = dict(member.custom_fields) if member is not None else {}
    errors: dict[str, str] = {}
    for key, raw in values.items():
        field = fields.get(key)
        if field is None:
            errors[key] = _("Unknown or archived field.")
            continue
        if is_blank(raw):
            if field.required:
                errors[key] = _("This field is required.")
            else:
                current.pop(key, None)
            continue
        try:
            current[key] = registry.get(field.field_type).clean(raw, field)
        except FieldValueError as exc:
            errors[key] = str(exc)
    if not partial:
        for key, field in fields.items():
            if field.required and key not in values and key not in errors:
                errors[key] = _("This field is required.")
    if check_unique:
        for key, field in fields.items():
            checkable = field.unique and key in values and key not in errors and key in current
            if checkable and custom_value_taken(key, current[key], exclude_member_id=member.pk if member else None):
                errors[key] = _("Another member already has this value.")
    return current, errors


def custom_value_taken(key: str, value: Any, *, exclude_member_id: int | None) -> bool:
    # Serialise concurrent writers of the same value for the rest of the transaction.
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [f"custom:{key}:{value}"])
    qs = Member.objects.filter(custom_fields__contains={key: value})
    if exclude_member_id:
        qs = qs.exclude(pk=exclude_member_id)
    return qs.exists()


def display_custom_values(member: Member, fields: Iterable[CustomField]) -> list[dict[str, Any]]:
    return [
        {
            "key": f.key,
            "label": f.label,
            "type": f.field_type,
            "value": member.custom_fields.get(f.key),
            "display": registry.get(f.field_type).display(member.custom_fields.get(f.key), f),
        }
        for f in fields
    ]
