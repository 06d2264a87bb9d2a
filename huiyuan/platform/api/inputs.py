"""Building blocks of input serializers: every write endpoint validates its body with one, so
garbage gets a field error (never a 500), unknown fields are refused rather than ignored, and
services receive typed values."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from ..money import parse_money


class StrictSerializer(serializers.Serializer):
    """Refuses fields it does not know: a misspelt ``store_id`` must not silently mean "all stores"."""

    def to_internal_value(self, data: Any) -> Any:
        if not isinstance(data, dict):
            raise serializers.ValidationError({"non_field_errors": [str(_("Send a JSON object."))]})
        unknown = sorted(str(name) for name in data if name not in self.fields)
        validated = super().to_internal_value(data)
        if unknown:
            raise serializers.ValidationError({name: [str(_("Unknown field."))] for name in unknown})
        return validated


@extend_schema_field(
    {
        "type": "string",
        "pattern": r"^\d{1,10}(\.\d{1,2})?$",
        "example": "88.50",
        "description": "yuan; a JSON number is accepted too",
    }
)
class AmountField(serializers.Field):
    """Money in yuan: a number or text, at most two decimals, not negative, within the columns' range."""

    default_error_messages = {"invalid": _("Enter an amount such as 88.50.")}

    def __init__(self, *, positive: bool = False, **kwargs: Any) -> None:
        self.positive = positive
        super().__init__(**kwargs)

    def to_internal_value(self, data: Any) -> Decimal:
        if isinstance(data, bool | list | dict):
            self.fail("invalid")
        errors: dict[str, list[str]] = {}
        value = parse_money(data, "value", errors, positive=self.positive)
        if errors:
            raise serializers.ValidationError(errors["value"])
        return value

    def to_representation(self, value: Any) -> str:
        return str(value)


class TextField(serializers.CharField):
    """Text that must arrive as text: ``"paid_at": 123`` is an error, not the year 1900. NUL bytes
    are refused (PostgreSQL cannot store them)."""

    default_error_messages = {"not_text": _("Send text here."), "nul": _("Contains a NUL character.")}

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("not_text")
        if "\x00" in data:
            self.fail("nul")
        return str(super().to_internal_value(data))


class CountField(serializers.IntegerField):
    """A whole number sent as a number (``"points": "abc"`` or ``1.5`` is an error)."""

    def to_internal_value(self, data: Any) -> int:
        if isinstance(data, bool) or not isinstance(data, int | str):
            self.fail("invalid")
        return int(super().to_internal_value(data))


def validated(serializer_class: type[serializers.Serializer], data: Any, **kwargs: Any) -> dict[str, Any]:
    """The body, validated by ``serializer_class``; field errors become the API's 400."""
    serializer = serializer_class(data=data, **kwargs)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)
