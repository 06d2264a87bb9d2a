from __future__ import annotations

from typing import Any

from django.db.models import Q
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from ..base import FieldConfigError, FieldType, FieldValueError
from ..registry import register


def clean_choices(config: dict[str, Any]) -> dict[str, Any]:
    choices = config.get("choices")
    if not isinstance(choices, list) or not choices or not all(isinstance(c, str) and c.strip() for c in choices):
        raise FieldConfigError(_("List at least one choice."))
    cleaned = [c.strip() for c in choices]
    if len(set(cleaned)) != len(cleaned):
        raise FieldConfigError(_("Choices must be different from each other."))
    return {**config, "choices": cleaned}


def match_choice(raw: Any, field: Any) -> str:
    text = " ".join(str(raw).split())
    for choice in field.config["choices"]:
        if text == choice or text.casefold() == choice.casefold():
            return str(choice)
    raise FieldValueError(_("Choose one of: %(choices)s") % {"choices": " / ".join(field.config["choices"])})


@register
class SingleChoiceField(FieldType):
    type = "single_choice"
    label = gettext_lazy("Single choice")
    operators = ("eq", "neq", "in", "not_in", "is_empty", "not_empty")
    config_keys = frozenset({"choices"})

    def clean_config(self, config: dict[str, Any]) -> dict[str, Any]:
        return clean_choices(super().clean_config(config))

    def clean(self, raw: Any, field: Any) -> Any:
        return match_choice(raw, field)

    def filter_q(self, field: Any, op: str, value: Any) -> Q:
        if op in ("eq", "neq"):
            q = Q(custom_fields__contains={field.key: str(value)})
            return q if op == "eq" else ~q
        if op in ("in", "not_in"):
            q = Q(pk__in=[])
            for item in value:
                q |= Q(custom_fields__contains={field.key: str(item)})
            return q if op == "in" else ~q
        return super().filter_q(field, op, value)
