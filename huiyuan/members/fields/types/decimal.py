from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.db.models import DecimalField as DbDecimal
from django.db.models import Q
from django.db.models.functions import Cast
from django.db.models.lookups import Exact, GreaterThan, GreaterThanOrEqual, LessThan, LessThanOrEqual
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from ...parsing import parse_decimal
from ..base import FieldType, FieldValueError, check_range, validate_bounds_config
from ..registry import register

LOOKUPS = {"eq": Exact, "gt": GreaterThan, "gte": GreaterThanOrEqual, "lt": LessThan, "lte": LessThanOrEqual}


@register
class DecimalField(FieldType):
    """Money and measures; stored as a string with fixed decimal places, so no float rounding."""

    type = "decimal"
    label = gettext_lazy("Decimal / money")
    operators = ("eq", "neq", "gt", "gte", "lt", "lte", "between", "is_empty", "not_empty")
    config_keys = frozenset({"min", "max", "decimal_places"})

    def clean_config(self, config: dict[str, Any]) -> dict[str, Any]:
        config = super().clean_config(config)
        validate_bounds_config(config, parse_decimal)
        places = config.setdefault("decimal_places", 2)
        if not isinstance(places, int) or not 0 <= places <= 6:
            raise ValueError(_("Decimal places must be between 0 and 6."))
        return config

    def parse(self, raw: Any, field: Any) -> Decimal:
        try:
            value = parse_decimal(raw)
        except ValueError as exc:
            raise FieldValueError(_("Enter a number, e.g. 12.50.")) from exc
        places = field.config.get("decimal_places", 2)
        if value.as_tuple().exponent < -places:  # type: ignore[operator]
            raise FieldValueError(_("At most %(n)d decimal places.") % {"n": places})
        return value.quantize(Decimal(1).scaleb(-places))

    def clean(self, raw: Any, field: Any) -> Any:
        value = self.parse(raw, field)
        check_range(value, field)
        return str(value)

    def filter_q(self, field: Any, op: str, value: Any) -> Q:
        column = Cast(self.text_of(field), DbDecimal(max_digits=20, decimal_places=6))
        if op in LOOKUPS:
            return Q(LOOKUPS[op](column, parse_decimal(value)))
        if op == "neq":
            return ~Q(Exact(column, parse_decimal(value))) & Q(custom_fields__has_key=field.key)
        if op == "between":
            low, high = value
            return Q(GreaterThanOrEqual(column, parse_decimal(low))) & Q(LessThanOrEqual(column, parse_decimal(high)))
        return super().filter_q(field, op, value)
