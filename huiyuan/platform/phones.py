"""Phone numbers normalised to E.164 (+86 by default), as every table and lookup stores them."""

from __future__ import annotations

import re
import unicodedata
from typing import Any

import phonenumbers

_MAINLAND_MOBILE = re.compile(r"^1[3-9]\d{9}$")
_SEPARATORS = re.compile(r"[\s\-()（）.·]")
# "1.38001380E+10" (scientific notation) or "13800138000.0", as Excel exports number cells.
_EXCEL_NUMBER = re.compile(r"\d+(\.\d+)?[eE]\+?\d+|\d+\.0+")


class InvalidPhone(ValueError):
    pass


class RoundedPhone(InvalidPhone):
    """Excel wrote the number in scientific notation with fewer digits than the number has
    (``1.38E+10``): the real digits are gone, and guessing them would invent a stranger's number."""


_SCIENTIFIC = re.compile(r"(\d+)(?:\.(\d+))?[eE]\+?(\d+)")


def _expand_scientific(text: str) -> str:
    """``1.3812345678E+10`` -> ``13812345678``; raises ``RoundedPhone`` when the mantissa has
    fewer significant digits than the whole number."""
    match = _SCIENTIFIC.fullmatch(text)
    if match is None:
        return str(int(float(text)))  # "13800138000.0"
    whole, fraction, exponent = match.group(1), match.group(2) or "", int(match.group(3))
    digits = (whole + fraction).lstrip("0")
    length = len(whole.lstrip("0")) + exponent
    if len(digits.rstrip("0")) > length or exponent > 20:
        raise InvalidPhone(text)
    if len(digits) < length:
        raise RoundedPhone(text)
    return (whole + fraction).lstrip("0")[:length]


def normalize_phone(raw: object, default_region: str = "CN") -> str:
    """Return the E.164 form of ``raw`` or raise ``InvalidPhone``.

    Accepts what merchants' spreadsheets hold: full-width digits, spaces and dashes, a ``+86`` or
    ``0086`` prefix, and numbers Excel turned into floats (``13800138000.0`` or ``1.38001380E+10``).
    """
    if default_region == "CN" and isinstance(raw, str) and _MAINLAND_MOBILE.match(raw):
        return "+86" + raw  # the common case, before any normalisation work
    if isinstance(raw, float) and raw.is_integer():
        raw = int(raw)  # Excel stores an unformatted phone column as numbers
    text = unicodedata.normalize("NFKC", str(raw if raw is not None else "")).strip()
    if _EXCEL_NUMBER.fullmatch(text):
        try:
            text = _expand_scientific(text)
        except (OverflowError, ValueError) as exc:
            if isinstance(exc, InvalidPhone):
                raise
            raise InvalidPhone(text) from exc
    text = _SEPARATORS.sub("", text)
    if not text:
        raise InvalidPhone("empty")
    if text.startswith("0086"):
        text = "+86" + text[4:]
    # Fast path for the overwhelmingly common plain mainland mobile number.
    if default_region == "CN" and _MAINLAND_MOBILE.match(text):
        return "+86" + text
    try:
        parsed = phonenumbers.parse(text, default_region)
    except phonenumbers.NumberParseException as exc:
        raise InvalidPhone(text) from exc
    if not phonenumbers.is_valid_number(parsed):
        raise InvalidPhone(text)
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def display_phone(e164: str | None) -> str:
    """How staff read a number: mainland numbers without +86, others in E.164."""
    if not e164:
        return ""
    return e164[3:] if e164.startswith("+86") else e164


def mask_phone(e164: str | None) -> str:
    """138****1234 style, for roles without the PII permission."""
    if not e164:
        return ""
    national = e164[3:] if e164.startswith("+86") else e164
    if len(national) < 7:
        return "*" * len(national)
    return f"{national[:3]}****{national[-4:]}"


# A phone number anywhere in free-form data (history snapshots, custom fields, audit changes):
# E.164, or a mainland mobile written with or without +86 / spaces / dashes.
_PHONE_IN_TEXT = re.compile(r"(?<!\d)(?:\+\d{1,3}[ -]?)?1[3-9]\d[ -]?\d{4}[ -]?\d{4}(?!\d)")


def mask_phones_in(value: Any) -> Any:
    """The same data with every phone number in it masked (138****1234), however deep."""
    if isinstance(value, str):
        return _PHONE_IN_TEXT.sub(lambda m: mask_phone("+86" + re.sub(r"\D", "", m.group())[-11:]), value)
    if isinstance(value, dict):
        return {key: mask_phones_in(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [mask_phones_in(item) for item in value]
    return value
