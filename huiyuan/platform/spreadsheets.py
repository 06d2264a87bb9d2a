"""Every CSV and XLSX the product writes goes through here, so no cell can become a formula.

A text cell starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is what
spreadsheet programs run as a formula (``=HYPERLINK(...)`` leaks data, ``=cmd|...`` runs
commands). Such text gets a leading apostrophe, as OWASP recommends: Excel and WPS show the text
and run nothing. Numbers stay numbers (a negative amount is data, not a formula), and XLSX text
is written as text, never parsed."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from datetime import date, datetime
from decimal import Decimal
from typing import Any

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
UTF8_BOM = b"\xef\xbb\xbf"  # Excel then reads the CSV as UTF-8


def safe_text(value: str) -> str:
    return "'" + value if value.startswith(FORMULA_STARTS) else value


def safe_cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int | float | Decimal):
        return value
    if isinstance(value, datetime | date):
        return value.isoformat()
    return safe_text(str(value))


def csv_bytes(headers: list[str], rows: Iterable[Iterable[Any]]) -> tuple[bytes, int]:
    """A UTF-8 CSV (with BOM) and how many rows it holds."""
    text = io.StringIO()
    writer = csv.writer(text)
    writer.writerow([safe_cell(h) for h in headers])
    count = 0
    for row in rows:
        writer.writerow([safe_cell(v) for v in row])
        count += 1
    return UTF8_BOM + text.getvalue().encode("utf-8"), count


def xlsx_bytes(sheet_name: str, headers: list[str], rows: Iterable[Iterable[Any]]) -> tuple[bytes, int]:
    """An XLSX written in constant memory; text cells are text, numbers are numbers."""
    import xlsxwriter

    buffer = io.BytesIO()
    workbook = xlsxwriter.Workbook(buffer, {"constant_memory": True, "in_memory": False, "strings_to_formulas": False})
    sheet = workbook.add_worksheet(sheet_name[:31])
    count = 0
    _write(sheet, 0, headers)
    for count, row in enumerate(rows, start=1):
        _write(sheet, count, row)
    workbook.close()
    return buffer.getvalue(), count


def _write(sheet: Any, row_index: int, row: Iterable[Any]) -> None:
    for column, value in enumerate(row):
        cell = safe_cell(value)
        if isinstance(cell, int | float | Decimal):
            sheet.write_number(row_index, column, float(cell))
        else:
            sheet.write_string(row_index, column, cell)
