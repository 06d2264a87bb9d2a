from __future__ import annotations

from typing import Any

from django.db.models import Q
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from huiyuan.platform.phones import InvalidPhone, display_phone, normalize_phone

from ..base import FieldType, FieldValueError
from ..registry import register


@register
class PhoneField(FieldType):
    """Another phone number (spouse, emergency contact); normalised to E.164 like the member's."""

    type = "phone"
    label = gettext_lazy("Phone number")
    operators = ("eq", "is_empty", "not_empty")

    def clean(self, raw: Any, field: Any) -> Any:
        try:
            return normalize_phone(raw)
        except InvalidPhone as exc:
            raise FieldValueError(_("Enter a valid phone number, e.g. 13800138000.")) from exc

    def display(self, value: Any, field: Any) -> str:
        return display_phone(value)

    def filter_q(self, field: Any, op: str, value: Any) -> Q:
        if op == "eq":
            return Q(custom_fields__contains={field.key: self.clean(value, field)})
        return super().filter_q(field, op, value)
