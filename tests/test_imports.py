"""Importing merchants' real spreadsheets: messy rows, GBK CSV, Excel numbers, exact error report,
idempotent re-runs, store scoping, and export with masking."""

from __future__ import annotations

import csv
import io
from datetime import date, datetime
from typing import Any

import pytest
import xlsxwriter
from django_tenants.utils import tenant_context

from huiyuan.members import custom_fields
from huiyuan.members.exports import export_members
from huiyuan.members.imports import import_members, import_run, suggest_mapping
from huiyuan.members.models import ImportJob, Member, MemberHistory
from huiyuan.members.tables import read_table
from huiyuan.platform.models import AuditEntry

from .conftest import World, api

MESSY_ROWS = [
    ["手机号", "姓名", "性别", "生日", "门店", "备注"],
    ["138 0013 8001", "张伟", "男", "1990-01-02", "A001", "老客"],
    ["1.3800138000E+10", "王芳", "女", "1991/2/3", "a001", ""],
    ["１３９００１３９００１", "李娜", "F", "19920304", "B001", ""],
    ["12345", "坏号码", "男", "1990-01-01", "A001", ""],
    ["13800138001", "重复", "男", "1990-01-02", "A001", ""],
    ["13900139002", "错日期", "男", "1990-13-45", "A001", ""],
    ["13900139003", "怪性别", "不详细", "", "A001", ""],
    ["13900139004", "没门店", "女", "", "Z999", ""],
    ["", "", "", "", "", ""],
    ["+86 139-0013-9005", "刘强", "", "", "", ""],
]


def named(content: bytes, name: str) -> io.BytesIO:
    upload = io.BytesIO(content)
    upload.name = name
    return upload


def gbk_csv(rows: list[list[Any]]) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer).writerows(rows)
    return buffer.getvalue().encode("gbk")


def xlsx(rows: list[list[Any]]) -> bytes:
    buffer = io.BytesIO()
    workbook = xlsxwriter.Workbook(buffer, {"in_memory": True})
    sheet = workbook.add_worksheet()
    date_format = workbook.add_format({"num_format": "yyyy-mm-dd"})
    for r, row in enumerate(rows):
        for c, value in enumerate(row):
            if isinstance(value, date | datetime):
                sheet.write_datetime(r, c, value, date_format)
            else:
                sheet.write(r, c, value)
    workbook.close()
    return buffer.getvalue()


def run(world: World, content: bytes, name: str, persona: str = "hq", **options: Any) -> Any:
    table = read_table(content, name)
    mapping = suggest_mapping(table.headers, custom_fields.active_fields_by_key())
    return import_members(actor=world.persona(persona), table=table, mapping=mapping, **options)


def test_messy_gbk_csv_keeps_valid_rows_and_reports_each_bad_one(in_alpha: World) -> None:
    table = read_table(gbk_csv(MESSY_ROWS), "会员.csv")
    assert table.encoding == "gb18030" and table.headers[0] == "手机号"
    outcome = run(in_alpha, gbk_csv(MESSY_ROWS), "会员.csv")
    assert outcome.created == 4  # rows 2, 3, 4 and 11
    report = [(e.row, e.column, e.value) for e in outcome.errors]
    assert report == [
        (5, "手机号", "12345"),
        (6, "手机号", "+8613800138001"),
        (7, "生日", "1990-13-45"),
        (8, "性别", "不详细"),
        (9, "门店", "Z999"),
    ]
    reasons = {e.row: e.reason for e in outcome.errors}
    assert "row 2" in reasons[6] or "第 2 行" in reasons[6]
    created = {m.phone: m for m in Member.objects.filter(channel="import")}
    assert set(created) == {"+8613800138001", "+8613800138000", "+8613900139001", "+8613900139005"}
    assert created["+8613800138000"].name == "王芳" and created["+8613800138000"].home_store_id == in_alpha.store_a.pk
    assert created["+8613900139001"].gender == "female" and created["+8613900139001"].birthday == date(1992, 3, 4)
    assert MemberHistory.objects.filter(action="imported").count() == outcome.created


def test_reimporting_the_same_file_creates_no_duplicates(in_alpha: World) -> None:
    first = run(in_alpha, gbk_csv(MESSY_ROWS), "会员.csv")
    second = run(in_alpha, gbk_csv(MESSY_ROWS), "会员.csv")
    assert (second.created, second.updated, second.unchanged) == (0, 0, first.created)
    assert [e.row for e in second.errors] == [e.row for e in first.errors]
    assert Member.objects.filter(channel="import").count() == first.created


def test_xlsx_numbers_dates_custom_fields_and_updates(in_alpha: World) -> None:
    custom_fields.custom_field_create(
        actor=in_alpha.hq,
        label="会员等级",
        field_type="single_choice",
        config={"choices": ["银卡", "金卡"]},
        key="grade",
    )
    rows = [
        ["Mobile", "Name", "Birthday", "Card No", "会员等级", "Joined"],
        [13800000001, "张三 (updated)", date(1980, 1, 1), "", "金卡", datetime(2020, 5, 1, 10, 0)],  # existing
        [13911112222, "新会员", 33013, "VIP-001", "银卡", "2021-01-01"],
        [13911113333, "坏等级", "", "", "钻石", ""],
    ]
    outcome = run(in_alpha, xlsx(rows), "members.xlsx")
    assert (outcome.created, outcome.updated) == (1, 1)
    assert [(e.row, e.column) for e in outcome.errors] == [(4, "会员等级")]
    updated = Member.objects.get(pk=in_alpha.member_a.pk)
    assert updated.name == "张三 (updated)" and updated.custom_fields == {"grade": "金卡"}
    history = MemberHistory.objects.get(member_id=updated.pk, action="updated")
    assert history.changes["name"] == ["Alpha-张三", "张三 (updated)"]
    new = Member.objects.get(phone="+8613911112222")
    assert new.card_no == "VIP-001" and new.birthday == date(1990, 5, 20)
    assert new.created_at.date() == date(2020, 12, 31)  # midnight in Shanghai is the evening before in UTC


def test_upsert_by_card_number(in_alpha: World) -> None:
    rows = [["会员卡号", "手机", "姓名"], ["Alpha-0002", "13800000002", "李四改名"], ["NEW-1", "13800000002", "抢号"]]
    outcome = run(in_alpha, xlsx(rows), "cards.xlsx", upsert_by="card_no")
    assert outcome.updated == 1 and outcome.created == 0
    assert [(e.row, e.column) for e in outcome.errors] == [(3, "phone")]  # phone belongs to another member
    assert Member.objects.get(pk=in_alpha.member_b.pk).name == "李四改名"


def test_store_manager_imports_only_into_their_stores(in_alpha: World) -> None:
    rows = [["手机", "门店"], ["13911110001", "A001"], ["13911110002", "B001"], ["13911110003", ""]]
    outcome = run(in_alpha, xlsx(rows), "m.xlsx", persona="manager_a")
    assert outcome.created == 2  # the row without a store lands with no store; HQ sees it
    assert [(e.row, e.column) for e in outcome.errors] == [(3, "门店")]


def test_api_upload_preview_start_and_error_report(alpha: World) -> None:
    client = api(alpha, "hq")
    upload = client.post("/api/v1/imports", {"file": named(gbk_csv(MESSY_ROWS), "会员.csv")}, format="multipart")
    assert upload.status_code == 201, upload.json()
    job_id = upload.json()["id"]
    preview = client.get(f"/api/v1/imports/{job_id}/preview").json()
    assert preview["mapping"] == {
        "手机号": "phone",
        "姓名": "name",
        "性别": "gender",
        "生日": "birthday",
        "门店": "home_store",
        "备注": "",
    }
    assert preview["encoding"] == "gb18030" and preview["rows"][0][1] == "张伟"
    bad = client.post(f"/api/v1/imports/{job_id}/start", {"mapping": {"姓名": "name"}}, format="json")
    assert bad.status_code == 400 and "upsert_by" in bad.json()["error"]["fields"]
    started = client.post(f"/api/v1/imports/{job_id}/start", {"mapping": preview["mapping"]}, format="json")
    assert started.status_code == 202 and started.json()["status"] == "queued"
    from django_tenants.utils import tenant_context

    with tenant_context(alpha.tenant):
        import_run(job_id)  # what the Celery worker does after commit
    status = client.get(f"/api/v1/imports/{job_id}").json()
    assert status["status"] == "done" and status["created_count"] == 4 and status["error_count"] == 5
    report = client.get(f"/api/v1/imports/{job_id}/errors.csv")
    lines = report.content.decode("utf-8-sig").splitlines()
    assert lines[0].split(",")[:2] in (["行号", "列"], ["Row", "Column"]) and len(lines) == 6
    with tenant_context(alpha.tenant):
        assert ImportJob.objects.get(pk=job_id).processed_rows == ImportJob.objects.get(pk=job_id).total_rows


def test_export_is_scoped_masked_and_audited(in_alpha: World) -> None:
    content, count = export_members(actor=in_alpha.marketing)
    text = content.decode("utf-8-sig")
    assert count == 2 and "138****0001" in text and "13800000001" not in text
    content, count = export_members(actor=in_alpha.manager_a, file_format="xlsx")
    table = read_table(content, "x.xlsx")
    assert count == 1 and len(table.rows) == 1 and "13800000001" in [str(v) for v in table.rows[0]]
    assert AuditEntry.objects.filter(action="members.member.export").count() == 2


def test_cashier_cannot_export_or_import(alpha: World) -> None:
    client = api(alpha, "cashier_b")
    assert client.post("/api/v1/members/export", {}, format="json").status_code == 403
    assert client.post("/api/v1/imports", {"file": named(b"a,b", "a.csv")}, format="multipart").status_code == 403


@pytest.mark.parametrize(
    ("content", "name"),
    [(b"", "a.csv"), (b"\x00\x01garbage", "a.xlsx"), (b"just one line", "a.csv"), (b"x", "a.pdf")],
)
def test_unreadable_uploads_get_a_clear_error(alpha: World, content: bytes, name: str) -> None:
    upload = api(alpha, "hq").post("/api/v1/imports", {"file": named(content, name)}, format="multipart")
    assert upload.status_code == 400 and upload.json()["error"]["fields"]["file"][0]


def test_a_phone_excel_rounded_is_a_row_error_not_a_made_up_number(in_alpha: World) -> None:
    content = "手机号,姓名\n1.38E+10,四舍五入\n1.3812345678E+10,完整精度\n".encode()
    outcome = run(in_alpha, content, "rounded.csv")
    assert outcome.created == 1
    assert [(e.row, e.reason) for e in outcome.errors] == [(2, "Excel 已把手机号四舍五入，请把该列设为文本后重新导出")]
    assert not Member.objects.filter(phone="+8613800000000").exists()
    assert Member.objects.filter(phone="+8613812345678", name="完整精度").exists()


def test_a_big5_file_is_recognised_and_the_encoding_can_be_chosen(alpha: World) -> None:
    from huiyuan.members.imports import import_preview, import_set_encoding, import_upload

    text = "姓名,手機號,城市\n陳大文,13812345670,香港\n李小龍,13912345671,九龍\n黃美玲,13712345672,新界\n"
    with tenant_context(alpha.tenant):
        job = import_upload(actor=alpha.hq, filename="hk.csv", content=text.encode("big5"))
        preview = import_preview(actor=alpha.hq, job_id=job.pk)
        assert preview["encoding"] == "big5hkscs" and preview["headers"] == ["姓名", "手機號", "城市"]
        assert preview["rows"][0][0] == "陳大文"
        assert preview["mapping"] == {"姓名": "name", "手機號": "phone", "城市": "city"}  # traditional headers
        garbled = import_set_encoding(actor=alpha.hq, job_id=job.pk, encoding="gb18030")
        assert import_preview(actor=alpha.hq, job_id=garbled.pk)["encoding"] == "gb18030"
    answer = api(alpha, "hq").post(f"/api/v1/imports/{job.pk}/encoding", {"encoding": "big5hkscs"}, format="json")
    assert answer.status_code == 200
    with tenant_context(alpha.tenant):
        assert import_preview(actor=alpha.hq, job_id=job.pk)["rows"][1][0] == "李小龍"


def test_the_result_counts_rows_with_errors_and_errors_apart(in_alpha: World) -> None:
    from huiyuan.members.models import ImportJob

    content = "手机号,姓名,生日\n12345,甲,不是日期\n13800000009,乙,1990-01-01\n".encode()
    outcome = run(in_alpha, content, "two-errors.csv")
    job = ImportJob(errors=[e.as_dict() for e in outcome.errors])
    assert len(outcome.errors) == 2 and job.error_rows == 1
