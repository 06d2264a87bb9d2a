from __future__ import annotations

import re
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, ClassVar

from django.db.models import Q
from django.db.models.fields.json import KeyTextTransform
from django.utils.functional import Promise
from django.utils.translation import gettext as _

if TYPE_CHECKING:
    from ..models import CustomField


class FieldValueError(ValueError):
    """An input value this field cannot accept; the message is shown to the user."""


class FieldConfigError(ValueError):
    """A field definition that makes no sense (e.g. min above max)."""


EMPTY_STRINGS = frozenset({"", "-", "—", "n/a", "null", "none", "无", "空"})


def is_blank(raw: Any) -> bool:
    if raw is None or raw == "":
        return True
    if isinstance(raw, str):
        return raw.strip().lower() in EMPTY_STRINGS
    if isinstance(raw, list | tuple | set):
        return len(raw) == 0
    return False


class FieldType:
    type: ClassVar[str]
    label: ClassVar[Promise]
    operators: ClassVar[tuple[str, ...]] = ("is_empty", "not_empty")
    config_keys: ClassVar[frozenset[str]] = frozenset()

    # ---- definition ---------------------------------------------------------------------------
    def clean_config(self, config: dict[str, Any]) -> dict[str, Any]:
        unknown = set(config) - self.config_keys
        if unknown:
            raise FieldConfigError(_("Unknown settings for this type: %(keys)s") % {"keys": ", ".join(sorted(unknown))})
        return dict(config)

    # ---- values -------------------------------------------------------------------------------
    def clean(self, raw: Any, field: CustomField) -> Any:
        """Turn user input into the stored JSON value, or raise ``FieldValueError``."""
        raise NotImplementedError

    def display(self, value: Any, field: CustomField) -> str:
        if value is None:
            return ""
        return str(value)

    def export(self, value: Any, field: CustomField) -> Any:
        return self.display(value, field)

    # ---- segments -----------------------------------------------------------------------------
    def filter_q(self, field: CustomField, op: str, value: Any) -> Q:
        key = field.key
        if op == "is_empty":
            return ~Q(custom_fields__has_key=key) | Q(**{f"custom_fields__{key}": None})
        if op == "not_empty":
            return Q(custom_fields__has_key=key) & ~Q(**{f"custom_fields__{key}": None})
        raise FieldValueError(_("Operator %(op)s does not apply to this field.") % {"op": op})

    @staticmethod
    def text_of(field: CustomField) -> KeyTextTransform:
        return KeyTextTransform(field.key, "custom_fields")


def check_range(value: Any, field: CustomField, *, fmt: Any = str) -> None:
    low, high = field.config.get("min"), field.config.get("max")
    if low is not None and value < _coerce_like(low, value):
        raise FieldValueError(_("Must be at least %(min)s.") % {"min": fmt(low)})
    if high is not None and value > _coerce_like(high, value):
        raise FieldValueError(_("Must be at most %(max)s.") % {"max": fmt(high)})


def _coerce_like(bound: Any, value: Any) -> Any:
    if isinstance(value, Decimal):
        return Decimal(str(bound))
    if isinstance(value, datetime):
        return datetime.fromisoformat(str(bound))
    if isinstance(value, date):
        return date.fromisoformat(str(bound))
    return bound


def check_pattern(value: str, field: CustomField) -> None:
    pattern = field.config.get("pattern")
    if pattern and not re.fullmatch(pattern, value):
        raise FieldValueError(field.config.get("pattern_message") or _("Does not match the required format."))


def validate_pattern_config(config: dict[str, Any]) -> None:
    if config.get("pattern"):
        try:
            re.compile(config["pattern"])
        except re.error as exc:
            raise FieldConfigError(_("The pattern is not a valid regular expression.")) from exc


def validate_bounds_config(config: dict[str, Any], parse: Any) -> None:
    low, high = config.get("min"), config.get("max")
    try:
        low_v = parse(low) if low is not None else None
        high_v = parse(high) if high is not None else None
    except (TypeError, ValueError, ArithmeticError) as exc:
        raise FieldConfigError(_("Minimum and maximum must be values of this type.")) from exc
    if low_v is not None and high_v is not None and low_v > high_v:
        raise FieldConfigError(_("The minimum is above the maximum."))
