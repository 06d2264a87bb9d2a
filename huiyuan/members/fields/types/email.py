from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db.models import Q
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from ..base import FieldType, FieldValueError
from ..registry import register


@register
class EmailField(FieldType):
    type = "email"
    label = gettext_lazy("E-mail")
    operators = ("eq", "contains", "is_empty", "not_empty")

    def clean(self, raw: Any, field: Any) -> Any:
        value = str(raw).strip().lower()
        try:
            validate_email(value)
        except ValidationError as exc:
            raise FieldValueError(_("Enter a valid e-mail address.")) from exc
        return value

    def filter_q(self, field: Any, op: str, value: Any) -> Q:
        if op == "eq":
            return Q(custom_fields__contains={field.key: str(value).strip().lower()})
        if op == "contains":
            return Q(**{f"custom_fields__{field.key}__icontains": str(value)})
        return super().filter_q(field, op, value)
