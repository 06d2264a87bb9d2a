from __future__ import annotations

from datetime import datetime as dt
from datetime import time, timedelta
from typing import Any

from django.db.models import DateTimeField as DbDateTime
from django.db.models import Q
from django.db.models.functions import Cast
from django.db.models.lookups import GreaterThanOrEqual, LessThan
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from huiyuan.platform.tenancy import tenant_timezone, tenant_today

from ...parsing import parse_datetime, resolve_date
from ..base import FieldType, FieldValueError
from ..registry import register


@register
class DateTimeField(FieldType):
    """Stored as ISO 8601 in UTC; typed and shown in the tenant's time zone."""

    type = "datetime"
    label = gettext_lazy("Date and time")
    operators = ("before", "after", "between", "within_last", "is_empty", "not_empty")

    def clean(self, raw: Any, field: Any) -> Any:
        try:
            return parse_datetime(raw, tenant_timezone()).isoformat()
        except ValueError as exc:
            raise FieldValueError(_("Enter a date and time such as 2024-03-08 14:30.")) from exc

    def display(self, value: Any, field: Any) -> str:
        if not value:
            return ""
        return dt.fromisoformat(value).astimezone(tenant_timezone()).strftime("%Y-%m-%d %H:%M")

    def _start_of(self, day: Any) -> dt:
        return dt.combine(day, time.min, tzinfo=tenant_timezone())

    def filter_q(self, field: Any, op: str, value: Any) -> Q:
        column = Cast(self.text_of(field), DbDateTime())
        today = tenant_today()
        if op == "before":
            return Q(LessThan(column, self._start_of(resolve_date(value, today))))
        if op == "after":
            return Q(GreaterThanOrEqual(column, self._start_of(resolve_date(value, today) + timedelta(days=1))))
        if op == "between":
            low, high = (resolve_date(v, today) for v in value)
            return Q(GreaterThanOrEqual(column, self._start_of(low))) & Q(
                LessThan(column, self._start_of(high + timedelta(days=1)))
            )
        if op == "within_last":
            return Q(GreaterThanOrEqual(column, timezone.now() - timedelta(days=int(value))))
        return super().filter_q(field, op, value)
