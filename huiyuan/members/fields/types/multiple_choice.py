from __future__ import annotations

import re
from typing import Any

from django.db.models import Q
from django.utils.translation import gettext_lazy

from ..base import FieldType
from ..registry import register
from .single_choice import clean_choices, match_choice

SEPARATORS = re.compile(r"[,，;；、|/]")


@register
class MultipleChoiceField(FieldType):
    """A list of choices; a spreadsheet cell may hold them as "咖啡, 甜点" or "咖啡；甜点"."""

    type = "multiple_choice"
    label = gettext_lazy("Multiple choice")
    operators = ("has_any", "has_all", "has_none", "is_empty", "not_empty")
    config_keys = frozenset({"choices"})

    def clean_config(self, config: dict[str, Any]) -> dict[str, Any]:
        return clean_choices(super().clean_config(config))

    def clean(self, raw: Any, field: Any) -> Any:
        items = raw if isinstance(raw, list | tuple) else [p for p in SEPARATORS.split(str(raw)) if p.strip()]
        chosen = {match_choice(item, field) for item in items}
        return [c for c in field.config["choices"] if c in chosen]  # the definition's order

    def display(self, value: Any, field: Any) -> str:
        return "、".join(value or [])

    def filter_q(self, field: Any, op: str, value: Any) -> Q:
        values = [str(v) for v in (value if isinstance(value, list) else [value])]
        if op == "has_all":
            return Q(custom_fields__contains={field.key: values})
        if op in ("has_any", "has_none"):
            q = Q(pk__in=[])
            for item in values:
                q |= Q(custom_fields__contains={field.key: [item]})
            return q if op == "has_any" else ~q
        if op == "is_empty":
            return super().filter_q(field, op, value) | Q(custom_fields__contains={field.key: []})
        if op == "not_empty":
            return super().filter_q(field, op, value) & ~Q(custom_fields__contains={field.key: []})
        return super().filter_q(field, op, value)
