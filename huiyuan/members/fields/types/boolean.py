from __future__ import annotations

from typing import Any

from django.db.models import Q
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from ...parsing import parse_bool
from ..base import FieldType, FieldValueError
from ..registry import register


@register
class BooleanField(FieldType):
    type = "boolean"
    label = gettext_lazy("Yes / no")
    operators = ("is_true", "is_false", "is_empty", "not_empty")

    def clean(self, raw: Any, field: Any) -> Any:
        try:
            return parse_bool(raw)
        except ValueError as exc:
            raise FieldValueError(_("Enter yes or no (是 / 否).")) from exc

    def display(self, value: Any, field: Any) -> str:
        if value is None:
            return ""
        return str(_("Yes") if value else _("No"))

    def filter_q(self, field: Any, op: str, value: Any) -> Q:
        if op == "is_true":
            return Q(custom_fields__contains={field.key: True})
        if op == "is_false":
            return Q(custom_fields__contains={field.key: False})
        return super().filter_q(field, op, value)
