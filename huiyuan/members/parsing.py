"""Lenient parsing of what merchants type and what spreadsheets hold: dates as text in many shapes,
Excel serial numbers, full-width digits, currency signs, 是/否."""

from __future__ import annotations

import re
import unicodedata
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

# Re-exported: imports and custom fields parse numbers through the platform's one parser.
from huiyuan.platform.money import parse_decimal as parse_decimal

EXCEL_EPOCH = date(1899, 12, 30)
_DATE_RE = re.compile(r"^(\d{4})[-/.年](\d{1,2})[-/.月](\d{1,2})日?$")
_COMPACT_DATE_RE = re.compile(r"^(\d{4})(\d{2})(\d{2})$")
_DATETIME_RE = re.compile(
    r"^(\d{4})[-/.年](\d{1,2})[-/.月](\d{1,2})日?[ T]+(\d{1,2})[:时](\d{1,2})(?:[:分](\d{1,2})(?:\.\d+)?秒?)?$"
)
_ISO_FAST = re.compile(r"^\d{4}-\d{2}-\d{2}([ T]\d{2}:\d{2}(:\d{2})?)?$")
TRUE_WORDS = frozenset({"1", "true", "t", "yes", "y", "是", "有", "√", "✓", "对", "on"})
FALSE_WORDS = frozenset({"0", "false", "f", "no", "n", "否", "无", "×", "✗", "不", "off"})


def normalize_text(raw: Any) -> str:
    return unicodedata.normalize("NFKC", str(raw)).strip()


def parse_date(raw: Any) -> date:
    """Raise ValueError unless ``raw`` is a calendar date."""
    if isinstance(raw, datetime):
        return raw.date()
    if isinstance(raw, date):
        return raw
    if isinstance(raw, int | float) and not isinstance(raw, bool):
        return _excel_serial(raw)
    text = normalize_text(raw)
    if re.fullmatch(r"\d{5}(\.0+)?", text):  # an Excel serial number exported as text
        return _excel_serial(float(text))
    match = _DATE_RE.match(text) or _COMPACT_DATE_RE.match(text)
    if not match:
        if _DATETIME_RE.match(text):
            return parse_datetime(text, ZoneInfo("UTC")).date()
        raise ValueError(text)
    year, month, day = (int(part) for part in match.groups())
    return date(year, month, day)


def _excel_serial(number: float) -> date:
    if not 1 <= number < 2958466:
        raise ValueError(str(number))
    return EXCEL_EPOCH + timedelta(days=int(number))


def parse_datetime(raw: Any, tz: Any) -> datetime:
    """An aware datetime; naive input is read in ``tz`` (the tenant's time zone)."""
    if isinstance(raw, datetime):
        value = raw
    elif isinstance(raw, date):
        value = datetime.combine(raw, time.min)
    elif isinstance(raw, int | float) and not isinstance(raw, bool):
        whole = int(raw)
        value = datetime.combine(_excel_serial(whole), time.min) + timedelta(days=float(raw) - whole)
    elif isinstance(raw, str) and _ISO_FAST.match(raw):
        value = datetime.fromisoformat(raw)  # the common case, in C
    else:
        text = normalize_text(raw)
        match = _DATETIME_RE.match(text)
        if match:
            y, mo, d, h, mi, s = match.groups()
            value = datetime(int(y), int(mo), int(d), int(h), int(mi), int(s or 0), tzinfo=tz)
        else:
            try:
                value = datetime.fromisoformat(text.replace("Z", "+00:00"))
            except ValueError:
                value = datetime.combine(parse_date(text), time.min)
    if value.tzinfo is None:
        value = value.replace(tzinfo=tz)
    return value.astimezone(UTC)


def parse_int(raw: Any) -> int:
    value = parse_decimal(raw)
    if value != value.to_integral_value():
        raise ValueError(str(raw))
    return int(value)


def parse_bool(raw: Any) -> bool:
    if isinstance(raw, bool):
        return raw
    text = normalize_text(raw).lower()
    if text.endswith(".0"):
        text = text[:-2]
    if text in TRUE_WORDS:
        return True
    if text in FALSE_WORDS:
        return False
    raise ValueError(text)


def resolve_date(value: Any, today: date) -> date:
    """A date in a filter: ISO text, ``"today"``, or relative ``{"days_ago": 30}`` /
    ``{"days_ahead": 7}`` counted from the tenant's local ``today``."""
    if isinstance(value, dict):
        if "days_ago" in value:
            return today - timedelta(days=int(value["days_ago"]))
        if "days_ahead" in value:
            return today + timedelta(days=int(value["days_ahead"]))
        raise ValueError(str(value))
    if value == "today":
        return today
    return parse_date(value)
