"""The one parser of amounts and decimals, for the API, the console and spreadsheets alike.

Amounts are ``Decimal`` yuan with at most two places and at most ten digits before the point
(``NUMERIC(12, 2)``, the columns that hold them). Text may carry thousands separators, a ¥ sign or
元, full-width digits; ``1e400``, ``NaN``, booleans and 20-digit numbers are refused, never
passed on to crash a column or the arithmetic."""

from __future__ import annotations

import re
import unicodedata
from decimal import Decimal, InvalidOperation
from typing import Any

from django.utils.translation import gettext as _

CENT = Decimal("0.01")
MAX_AMOUNT = Decimal("9999999999.99")
_PLAIN_NUMBER = re.compile(r"^-?\d{1,30}(\.\d{1,30})?$")
_MAX_TEXT = 40


def parse_decimal(raw: Any) -> Decimal:
    """A finite decimal from a number or text; ValueError otherwise."""
    if isinstance(raw, bool) or raw is None:
        raise ValueError(repr(raw))
    if isinstance(raw, Decimal):
        value = raw
    elif isinstance(raw, int):
        value = Decimal(raw)
    elif isinstance(raw, float):
        value = Decimal(str(raw))
    elif isinstance(raw, str) and _PLAIN_NUMBER.match(raw):
        value = Decimal(raw)
    else:
        text = unicodedata.normalize("NFKC", str(raw)).strip()
        text = text.replace(",", "").replace("¥", "").replace("元", "").replace(" ", "")
        if len(text) > _MAX_TEXT:
            raise ValueError(text[:_MAX_TEXT])
        try:
            value = Decimal(text)
        except InvalidOperation as exc:
            raise ValueError(text) from exc
    if not value.is_finite() or abs(value.adjusted()) > 30:
        raise ValueError(str(raw)[:_MAX_TEXT])
    return value


def parse_money(
    raw: Any, field: str, errors: dict[str, list[str]], *, positive: bool = False, required: bool = True
) -> Decimal:
    """An amount in yuan, or a field error added to ``errors`` (and 0 returned)."""
    if raw in (None, "") and not required:
        return Decimal(0)
    try:
        value = parse_decimal(raw)
    except ValueError:
        errors.setdefault(field, []).append(_("Enter an amount such as 88.50."))
        return Decimal(0)
    if value < 0 or (positive and value == 0):
        errors.setdefault(field, []).append(_("The amount must be positive."))
        return Decimal(0)
    if value != value.quantize(CENT):
        errors.setdefault(field, []).append(_("At most two decimal places."))
        return Decimal(0)
    if value > MAX_AMOUNT:
        errors.setdefault(field, []).append(_("The amount is too large."))
        return Decimal(0)
    return value.quantize(CENT)


def money(raw: Any, field: str, *, positive: bool = False) -> Decimal:
    """``parse_money`` for one value: the amount, or ``ValidationFailed`` naming the field."""
    from .errors import ValidationFailed

    errors: dict[str, list[str]] = {}
    value = parse_money(raw, field, errors, positive=positive)
    if errors:
        raise ValidationFailed(fields=errors)
    return value
