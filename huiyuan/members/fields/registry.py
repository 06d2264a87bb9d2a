from __future__ import annotations

from .base import FieldType

_types: dict[str, FieldType] = {}


def register(field_type: type[FieldType]) -> type[FieldType]:
    _types[field_type.type] = field_type()
    return field_type


def get(type_name: str) -> FieldType:
    try:
        return _types[type_name]
    except KeyError:
        raise KeyError(f"unknown field type {type_name!r}") from None


def all_types() -> dict[str, FieldType]:
    return dict(_types)
