from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.db.models import DateField as DbDate
from django.db.models import Q
from django.db.models.functions import Cast
from django.db.models.lookups import GreaterThanOrEqual, LessThan
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from huiyuan.platform.tenancy import tenant_today

from ...parsing import parse_date, resolve_date
from ..base import FieldType, FieldValueError, check_range, validate_bounds_config
from ..registry import register


@register
class DateField(FieldType):
    type = "date"
    label = gettext_lazy("Date")
    operators = ("eq", "before", "after", "between", "within_last", "within_next", "is_empty", "not_empty")
    config_keys = frozenset({"min", "max"})

    def clean_config(self, config: dict[str, Any]) -> dict[str, Any]:
        config = super().clean_config(config)
        validate_bounds_config(config, parse_date)
        return config

    def clean(self, raw: Any, field: Any) -> Any:
        try:
            value = parse_date(raw)
        except ValueError as exc:
            raise FieldValueError(_("Enter a date such as 2024-03-08.")) from exc
        check_range(value, field)
        return value.isoformat()

    def filter_q(self, field: Any, op: str, value: Any) -> Q:
        column = Cast(self.text_of(field), DbDate())
        today = tenant_today()
        if op == "eq":
            return Q(custom_fields__contains={field.key: resolve_date(value, today).isoformat()})
        if op == "before":
            return Q(LessThan(column, resolve_date(value, today)))
        if op == "after":
            return Q(GreaterThanOrEqual(column, resolve_date(value, today) + timedelta(days=1)))
        if op == "between":
            low, high = (resolve_date(v, today) for v in value)
            return Q(GreaterThanOrEqual(column, low)) & Q(LessThan(column, high + timedelta(days=1)))
        if op == "within_last":
            return Q(GreaterThanOrEqual(column, today - timedelta(days=int(value)))) & Q(
                LessThan(column, today + timedelta(days=1))
            )
        if op == "within_next":
            return Q(GreaterThanOrEqual(column, today)) & Q(LessThan(column, today + timedelta(days=int(value) + 1)))
        return super().filter_q(field, op, value)
