"""A member's history and audit changes in words: field labels instead of column names, custom
field labels instead of keys, store names instead of ids, choices instead of codes."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import FieldDoesNotExist

from huiyuan.platform.audit_words import value_words, with_choice_labels

from .custom_fields import custom_field_list
from .models import Member, MemberHistory, Store

# Columns stored by id whose words live in another table.
_ID_COLUMNS = {"home_store_id": ("home_store", Store)}


def _field_words(key: str, value: Any, stores: dict[int, str]) -> tuple[str, str]:
    if key in _ID_COLUMNS:
        label_field, _model = _ID_COLUMNS[key]
        label = str(getattr(Member._meta.get_field(label_field), "verbose_name", label_field))
        pair = value if isinstance(value, list) and len(value) == 2 else [None, value]
        return label, value_words([stores.get(v, v) if v else None for v in pair])
    try:
        field: Any = Member._meta.get_field(key)
    except FieldDoesNotExist:
        return key.replace("_", " "), value_words(value, key)
    return str(getattr(field, "verbose_name", key)), value_words(with_choice_labels(field, value), key)


def custom_values_words(changes: Any, labels: dict[str, str] | None = None) -> str:
    """``{"f1": [None, "微辣"]}`` → "辣度: — → 微辣"."""
    if not isinstance(changes, dict):
        return value_words(changes)
    labels = labels if labels is not None else {f.key: f.label for f in custom_field_list(include_archived=True)}
    return "; ".join(f"{labels.get(key, key)}: {value_words(value)}" for key, value in changes.items())


def history_rows(entries: list[MemberHistory]) -> list[dict[str, Any]]:
    """Each history entry with its changes as (label, text) pairs, one per field."""
    labels = {f.key: f.label for f in custom_field_list(include_archived=True)}
    stores = dict(Store.objects.values_list("pk", "name"))
    rows = []
    for entry in entries:
        changes: list[tuple[str, str]] = []
        for key, value in (entry.changes or {}).items():
            if key == "custom_fields" and isinstance(value, dict):
                changes += [(str(labels.get(k, k)), value_words(v)) for k, v in value.items()]
            else:
                changes.append(_field_words(key, value, stores))
        rows.append({"entry": entry, "changes": changes})
    return rows


def field_type_words(value: Any) -> str:
    """A custom field type code (``single_choice``) as its label (单选)."""
    from .fields import registry

    try:
        return str(registry.get(str(value)).label)
    except KeyError:
        return value_words(value)
