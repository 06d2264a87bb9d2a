from __future__ import annotations

from typing import Any, ClassVar

from django.db.models import Q
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from ..base import FieldType, FieldValueError, check_pattern, validate_pattern_config
from ..registry import register


@register
class TextField(FieldType):
    type = "text"
    label = gettext_lazy("Single-line text")
    operators: ClassVar[tuple[str, ...]] = ("eq", "neq", "contains", "starts_with", "in", "is_empty", "not_empty")
    config_keys = frozenset({"max_length", "min_length", "pattern", "pattern_message"})
    default_max_length = 200
    multiline = False

    def clean_config(self, config: dict[str, Any]) -> dict[str, Any]:
        config = super().clean_config(config)
        validate_pattern_config(config)
        return config

    def clean(self, raw: Any, field: Any) -> Any:
        value = str(raw).strip() if self.multiline else " ".join(str(raw).split())
        if isinstance(raw, float) and raw.is_integer():
            value = str(int(raw))  # a code Excel turned into a number
        limit = field.config.get("max_length") or self.default_max_length
        if len(value) > limit:
            raise FieldValueError(_("At most %(n)d characters.") % {"n": limit})
        if len(value) < (field.config.get("min_length") or 0):
            raise FieldValueError(_("At least %(n)d characters.") % {"n": field.config["min_length"]})
        check_pattern(value, field)
        return value

    def filter_q(self, field: Any, op: str, value: Any) -> Q:
        key = f"custom_fields__{field.key}"
        if op == "eq":
            return Q(custom_fields__contains={field.key: str(value)})
        if op == "neq":
            return ~Q(custom_fields__contains={field.key: str(value)})
        if op == "contains":
            return Q(**{f"{key}__icontains": str(value)})
        if op == "starts_with":
            return Q(**{f"{key}__startswith": str(value)})
        if op == "in":
            q = Q(pk__in=[])
            for item in value:
                q |= Q(custom_fields__contains={field.key: str(item)})
            return q
        return super().filter_q(field, op, value)
