"""Reading merchants' spreadsheets: XLSX / XLS / ODS through python-calamine (a 100k-row sheet in
about a second; openpyxl needs 5–10 s), CSV in UTF-8 with or without BOM, UTF-16 (Excel's "Unicode
text"), GB18030 (what Chinese Excel saves as "CSV"), Big5 and others found by charset-normalizer,
with the delimiter sniffed."""

from __future__ import annotations

import codecs
import csv
import io
import itertools
from dataclasses import dataclass
from typing import Any

from django.utils.translation import gettext as _

EXCEL_SUFFIXES = (".xlsx", ".xlsm", ".xls", ".xlsb", ".ods")
OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # legacy .xls


class TableError(ValueError):
    pass


@dataclass
class Table:
    headers: list[str]
    rows: list[list[Any]]  # data rows; rows[i] is spreadsheet row first_row + i
    encoding: str = ""
    first_row: int = 2


# Encodings a merchant may choose when the detected one is wrong (shown in the preview).
ENCODINGS = {
    "utf-8": "UTF-8",
    "gb18030": "GBK / GB18030（简体）",
    "big5hkscs": "Big5（繁體，港台）",
    "utf-16": "UTF-16",
    "shift_jis": "Shift-JIS",
}
_DETECT_SAMPLE = 512 * 1024
# Big5 as Hong Kong writes it is a superset of Taiwan's; GBK and GB2312 are subsets of GB18030.
_FAMILY = {"big5": "big5hkscs", "cp950": "big5hkscs", "gbk": "gb18030", "gb2312": "gb18030", "utf_8": "utf-8"}


def decode_csv_bytes(data: bytes, encoding: str = "") -> tuple[str, str]:
    """The text of a CSV and the encoding it was read with: the one asked for, else a BOM, else
    UTF-8 if the bytes are valid UTF-8, else what charset-normalizer finds most coherent among
    the encodings Chinese merchants' files come in (GB18030 decodes almost any bytes, so it cannot
    be the test: a Big5 file from a Hong Kong supplier would import as garbage)."""
    if encoding:
        if encoding not in ENCODINGS:
            raise TableError(_("Unknown encoding %(e)s.") % {"e": encoding})
        try:
            return data.decode(encoding).lstrip("\ufeff"), encoding
        except UnicodeDecodeError as exc:
            raise TableError(_("The file is not %(e)s text.") % {"e": ENCODINGS[encoding]}) from exc
    if data.startswith(codecs.BOM_UTF8):
        return data[3:].decode("utf-8"), "utf-8-sig"
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return data.decode("utf-16"), "utf-16"
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    from charset_normalizer import from_bytes

    best = from_bytes(
        data[:_DETECT_SAMPLE], cp_isolation=["gb18030", "big5hkscs", "big5", "utf_16_le", "utf_16_be", "shift_jis"]
    ).best()
    guess = _FAMILY.get(best.encoding, best.encoding) if best is not None else "gb18030"
    for candidate in dict.fromkeys([guess, "gb18030"]):
        try:
            return data.decode(candidate), candidate
        except (UnicodeDecodeError, LookupError):
            continue
    raise TableError(_("The file's encoding could not be recognised; save it as UTF-8 and upload again."))


def _read_csv(data: bytes, encoding: str = "") -> Table:
    text, encoding = decode_csv_bytes(data, encoding)
    return _parse_csv(text, encoding)


def _parse_csv(text: str, encoding: str) -> Table:
    sample = text[:20000]
    try:
        dialect: Any = csv.Sniffer().sniff(sample, delimiters=",\t;|")
    except csv.Error:
        dialect = csv.excel_tab if sample.count("\t") > sample.count(",") else csv.excel
    reader = csv.reader(io.StringIO(text, newline=""), dialect)
    rows = list(reader)
    return _to_table(rows, encoding)


def _read_excel(data: bytes) -> Table:
    from python_calamine import CalamineWorkbook

    try:
        workbook = CalamineWorkbook.from_filelike(io.BytesIO(data))
        sheet = workbook.get_sheet_by_index(0)
        rows = sheet.to_python(skip_empty_area=True)
    except Exception as exc:  # noqa: BLE001 - calamine raises its own error types for broken files
        raise TableError(_("The spreadsheet could not be read: %(reason)s") % {"reason": exc}) from exc
    return _to_table(rows, "xlsx")


def _to_table(rows: list[list[Any]], encoding: str) -> Table:
    # Skip blank and title rows above the header (a title has fewer than two filled cells).
    start = 0
    while start < len(rows) and sum(1 for v in rows[start] if str(v).strip()) < 2:
        start += 1
    if start >= len(rows):
        raise TableError(_("The file has no header row."))
    headers = [" ".join(str(h).split()) for h in rows[start]]
    data = []
    for row in rows[start + 1 :]:
        if any(v not in (None, "") for v in row):
            data.append(list(row) + [""] * (len(headers) - len(row)))
        else:
            data.append([])  # keep numbering: blank rows are skipped later but counted
    return Table(headers=headers, rows=data, encoding=encoding, first_row=start + 2)


@dataclass
class TableHead:
    headers: list[str]
    sample: list[list[Any]]
    total_rows: int
    encoding: str


def read_head(data: bytes, filename: str, rows: int = 10, encoding: str = "") -> TableHead:
    """Headers, the first data rows and the row count, without converting a whole spreadsheet
    (what the upload and preview pages need)."""
    if _is_excel(data, filename):
        from python_calamine import CalamineWorkbook

        try:
            sheet = CalamineWorkbook.from_filelike(io.BytesIO(data)).get_sheet_by_index(0)
            head = list(itertools.islice(sheet.iter_rows(), rows + 20))
        except Exception as exc:  # noqa: BLE001 - calamine raises its own error types for broken files
            raise TableError(_("The spreadsheet could not be read: %(reason)s") % {"reason": exc}) from exc
        table = _to_table(head, "xlsx")
        data_rows = sheet.height - (table.first_row - 1)
        return TableHead(table.headers, [r for r in table.rows if r][:rows], max(0, data_rows), table.encoding)
    name = filename.lower()
    if not (name.endswith((".csv", ".txt", ".tsv")) or "." not in name):
        raise TableError(_("Upload a CSV or Excel (.xlsx) file."))
    text, encoding = decode_csv_bytes(data, encoding)
    first = _parse_csv(text[: 64 * 1024], encoding)  # the header and first rows
    if '"' in text:
        total = sum(1 for r in _parse_csv(text, encoding).rows if r)  # quoted cells may hold newlines
    else:
        lines = text.splitlines()[first.first_row - 1 :]
        total = sum(1 for line in lines if line.strip(", \t;|"))
    return TableHead(first.headers, [r for r in first.rows if r][:rows], total, encoding)


def _is_excel(data: bytes, filename: str) -> bool:
    return filename.lower().endswith(EXCEL_SUFFIXES) or data[:4] == b"PK\x03\x04" or data[:8] == OLE_MAGIC


def read_table(data: bytes, filename: str, encoding: str = "") -> Table:
    name = filename.lower()
    if _is_excel(data, filename):
        return _read_excel(data)
    if name.endswith((".csv", ".txt", ".tsv")) or "." not in name:
        return _read_csv(data, encoding)
    raise TableError(_("Upload a CSV or Excel (.xlsx) file."))
