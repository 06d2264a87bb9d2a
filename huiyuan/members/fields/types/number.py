from __future__ import annotations

from typing import Any

from django.db.models import Q
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from ...parsing import parse_int
from ..base import FieldType, FieldValueError, check_range, validate_bounds_config
from ..registry import register

COMPARISONS = {"eq": "exact", "gt": "gt", "gte": "gte", "lt": "lt", "lte": "lte"}


@register
class NumberField(FieldType):
    """Whole numbers (visits, children, shoe size); stored as JSON numbers."""

    type = "number"
    label = gettext_lazy("Number")
    operators = ("eq", "neq", "gt", "gte", "lt", "lte", "between", "is_empty", "not_empty")
    config_keys = frozenset({"min", "max"})

    def clean_config(self, config: dict[str, Any]) -> dict[str, Any]:
        config = super().clean_config(config)
        validate_bounds_config(config, parse_int)
        return config

    def parse(self, raw: Any) -> Any:
        try:
            return parse_int(raw)
        except ValueError as exc:
            raise FieldValueError(_("Enter a whole number.")) from exc

    def clean(self, raw: Any, field: Any) -> Any:
        value = self.parse(raw)
        check_range(value, field)
        return value

    def filter_q(self, field: Any, op: str, value: Any) -> Q:
        key = f"custom_fields__{field.key}"
        if op in COMPARISONS:
            return Q(**{f"{key}__{COMPARISONS[op]}": self.parse(value)})
        if op == "neq":
            return ~Q(**{key: self.parse(value)})
        if op == "between":
            low, high = value
            return Q(**{f"{key}__gte": self.parse(low), f"{key}__lte": self.parse(high)})
        return super().filter_q(field, op, value)
