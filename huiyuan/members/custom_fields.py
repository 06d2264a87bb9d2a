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


def _clean_placement(section: str | None, visible_roles: Any) -> dict[str, Any]:
    """Section name and the roles that see the field, as the designer sends them."""
    from huiyuan.platform.roles import Role

    cleaned: dict[str, Any] = {}
    if section is not None:
        if len(section.strip()) > 40:
            raise ValidationFailed(fields={"section": [_("At most 40 characters.")]})
        cleaned["section"] = section.strip()
    if visible_roles is not None:
        roles = [str(r) for r in visible_roles] if isinstance(visible_roles, list | tuple) else None
        if roles is None or set(roles) - set(Role.values):
            raise ValidationFailed(fields={"visible_roles": [_("Choose roles from the list.")]})
        # Every role ticked is the same as none: visible to all, and stays so when roles are added.
        cleaned["visible_roles"] = [] if set(roles) == set(Role.values) else sorted(set(roles))
    return cleaned


def fields_for_role(role: str | None) -> list[CustomField]:
    """The active fields staff of this role see on the member form, in the designer's order."""
    return [f for f in custom_field_list() if f.visible_to(role)]


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
    section: str = "",
    visible_roles: list[str] | None = None,
) -> CustomField:
    check_permission(actor, "members.field.manage")
    cleaned = _clean_definition(field_type=field_type, label=label, config=config, key=key)
    cleaned.update(_clean_placement(section, visible_roles or []))
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
        audit_record(
            actor=actor, action="members.field.create", obj=field, changes={"field_type": field_type, **cleaned}
        )
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
    section: str | None = None,
    visible_roles: list[str] | None = None,
) -> CustomField:
    """Rename, change rules, help text, section or who sees it. The key and the type never change,
    so no value is lost."""
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
        new_values = {**cleaned, **_clean_placement(section, visible_roles)}
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


def custom_field_layout(*, actor: Any, layout: Any) -> None:
    """Save what the designer's drag and drop arranged: ``[{"id": 3, "section": "偏好"}, …]`` in
    form order. Fields left out keep their section and go after the ones given."""
    check_permission(actor, "members.field.manage")
    if not isinstance(layout, list) or not all(isinstance(item, dict) for item in layout):
        raise ValidationFailed(fields={"layout": [_("Send the fields in order, each with its section.")]})
    with transaction.atomic():
        fields = {f.pk: f for f in CustomField.objects.select_for_update()}
        given: list[int] = []
        for item in layout:
            field_id = item.get("id")
            if not isinstance(field_id, int) or field_id not in fields or field_id in given:
                raise ValidationFailed(fields={"layout": [_("Unknown fields in the new order.")]})
            given.append(field_id)
        sections = {item["id"]: _clean_placement(str(item.get("section") or ""), None)["section"] for item in layout}
        ordered = given + [pk for pk in sorted(fields, key=lambda pk: (fields[pk].position, pk)) if pk not in given]
        for position, pk in enumerate(ordered, start=1):
            field = fields[pk]
            field.position = position
            field.section = sections.get(pk, field.section)
        CustomField.objects.bulk_update(fields.values(), ["position", "section"])
        audit_record(
            actor=actor,
            action="members.field.reorder",
            changes={"order": [f"{fields[pk].label} ({fields[pk].section or '—'})" for pk in ordered]},
        )


def clean_custom_values(
    values: dict[str, Any],
    *,
    member: Member | None = None,
    fields: dict[str, CustomField] | None = None,
    partial: bool = False,
    check_unique: bool = True,
    role: str | None = None,
) -> tuple[dict[str, Any], dict[str, str]]:
    """Validate input for ``Member.custom_fields``. Returns the merged JSON to store and errors per
    key. ``partial`` leaves keys that are not in ``values`` untouched (an update), else required
    fields must be present (a creation) — those the writer's ``role`` can see: a cashier cannot be
    asked for a field the designer hid from cashiers."""
    fields = active_fields_by_key() if fields is None else fields
    current = dict(member.custom_fields) if member is not None else {}
    errors: dict[str, str] = {}
    for key, raw in values.items():
        field = fields.get(key)
        if field is None:
            errors[key] = _("Unknown or archived field.")
            continue
        if is_blank(raw):
            if field.required and field.visible_to(role):
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
            if field.required and key not in values and key not in errors and field.visible_to(role):
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
