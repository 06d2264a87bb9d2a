"""End-to-end member import: a 100,000-row XLSX from upload to rows committed (validation, phone
normalisation, store lookup, history rows included), against django-import-export's bulk mode
importing the same file into an equivalent plain model in the same run.

    python -m bench.member_import [--quick]
"""

from __future__ import annotations

import io
import random
import resource
import time
from datetime import UTC, date, datetime, timedelta

from bench._common import parse_args, report, start

STORES = ["SH001", "SH002", "BJ001", "GZ001", "CD001"]


def make_xlsx(rows: int, seed: int = 7) -> bytes:
    import xlsxwriter
    from faker import Faker

    rng = random.Random(seed)
    fake = Faker("zh_CN")
    fake.seed_instance(seed)
    names = [fake.name() for _ in range(2000)]
    cities = [fake.city_name() for _ in range(200)]
    buffer = io.BytesIO()
    workbook = xlsxwriter.Workbook(buffer, {"constant_memory": True, "in_memory": True})
    sheet = workbook.add_worksheet("会员")
    date_format = workbook.add_format({"num_format": "yyyy-mm-dd"})
    sheet.write_row(0, 0, ["手机号", "姓名", "性别", "生日", "城市", "门店", "注册时间"])
    base = 13000000000
    for r in range(1, rows + 1):
        phone: object = base + r * 7
        if rng.random() < 0.3:
            phone = f"{phone}"[:3] + " " + f"{phone}"[3:7] + " " + f"{phone}"[7:]  # typed with spaces
        if rng.random() < 0.005:
            phone = "12345"  # a bad one now and then
        sheet.write(r, 0, phone)
        sheet.write(r, 1, rng.choice(names))
        sheet.write(r, 2, rng.choice(["男", "女", ""]))
        sheet.write_datetime(r, 3, datetime(1960, 1, 1) + timedelta(days=rng.randrange(18000)), date_format)
        sheet.write(r, 4, rng.choice(cities))
        sheet.write(r, 5, rng.choice(STORES))
        sheet.write(r, 6, (date(2018, 1, 1) + timedelta(days=rng.randrange(2500))).isoformat())
    workbook.close()
    return buffer.getvalue()


def make_xlsx_in_child(rows: int) -> bytes:
    """Generate the file in a child process, so the parent's peak memory is the import's own."""
    import multiprocessing
    import tempfile

    with tempfile.NamedTemporaryFile(suffix=".xlsx") as handle:
        child = multiprocessing.get_context("fork").Process(target=_write_file, args=(rows, handle.name))
        child.start()
        child.join()
        return open(handle.name, "rb").read()  # noqa: SIM115


def _write_file(rows: int, path: str) -> None:
    with open(path, "wb") as out:
        out.write(make_xlsx(rows))


def main() -> None:
    args = parse_args(__doc__ or "")
    rows = 10_000 if args.quick else 100_000
    services = start("huiyuan_bench_import")
    try:
        run(rows)
    finally:
        services.stop()


def run(rows: int) -> None:
    from django.core.management import call_command
    from django.db import connection
    from django_tenants.utils import tenant_context

    from huiyuan.members.models import Member, Store
    from huiyuan.platform.models import User
    from huiyuan.tenants.services import tenant_signup

    call_command("setup_platform", verbosity=0, pool_size=1)
    content = make_xlsx_in_child(rows)
    print(f"file: {rows} rows, {len(content) / 1e6:.1f} MB")
    tenant = tenant_signup(
        name="导入测试", subdomain="bench", owner_phone="13900000000", owner_email="", password="Bench-pass-2026"
    ).tenant
    with tenant_context(tenant):
        for code in STORES:
            Store.objects.create(code=code, name=f"门店 {code}")
        owner = User.objects.get()

        from huiyuan.members.imports import import_run, import_start, import_upload

        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        started = time.perf_counter()
        job = import_upload(actor=owner, filename="members.xlsx", content=content)
        import_start(actor=owner, job_id=job.pk, mapping=job.mapping, upsert_by="phone")
        job = import_run(job.pk)
        ours = time.perf_counter() - started
        ours_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        stages = dict(part.split(" ") for part in job.message.split(", "))
        db_stage = float(stages["database"].rstrip("s"))
        print(f"stages: {job.message}")
        imported = Member.objects.count()
        print(
            f"huiyuan: {ours:.2f} s, {imported} members, {job.error_count} row errors, "
            f"{rows / ours:,.0f} rows/s, peak RSS {ours_rss:.0f} MB (before {rss_before:.0f} MB)"
        )
        assert imported + job.error_count == rows, (imported, job.error_count)

        started = time.perf_counter()
        job2 = import_upload(actor=owner, filename="members.xlsx", content=content)
        import_start(actor=owner, job_id=job2.pk, mapping=job2.mapping, upsert_by="phone")
        job2 = import_run(job2.pk)
        rerun = time.perf_counter() - started
        assert job2.created_count == 0 and job2.updated_count == 0
        print(f"re-run of the same file (all unchanged): {rerun:.2f} s")

        copy_time = raw_copy(rows)
        print(
            f"raw COPY of {rows} rows into a table like members (same indexes): {copy_time:.2f} s; "
            f"our database stage {db_stage:.2f} s = {db_stage / copy_time:.1f}x"
        )
        baseline = import_export_baseline(content)
        print(f"django-import-export bulk insert: {baseline:.2f} s")
        connection.set_schema_to_public()  # type: ignore[attr-defined]
    report(
        bench="member_import",
        value=ours,
        unit="s (100k-row XLSX upload to committed)",
        baseline=baseline,
        baseline_label="django-import-export 4 bulk mode, insert only, plain model, same file",
        ratio=baseline / ours,
        scale={"rows": rows, "file_mb": round(len(content) / 1e6, 1)},
        rows_per_s=round(rows / ours),
        raw_copy_s=round(copy_time, 3),
        database_stage_s=round(db_stage, 3),
        database_vs_raw_copy=round(db_stage / copy_time, 2),
        rerun_s=round(rerun, 2),
        peak_rss=ours_rss,
        peak_rss_mb_whole_run=round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    )


def raw_copy(rows: int) -> float:
    """COPY the same number of rows straight into a logged table shaped and indexed like ours,
    committed: what the database stage cannot beat."""
    from django.db import connection, transaction

    from huiyuan.members.models import Member

    table = Member._meta.db_table
    cols = (
        "phone, card_no, name, gender, birthday, province, city, channel, home_store_id, status, consent_sms, "
        "consent_wechat, consent_email, email, custom_fields, created_at, updated_at, order_count, total_spend, "
        "r_score, f_score, m_score, lifecycle"
    )
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE TABLE bench_raw_copy (LIKE {table} INCLUDING ALL)")
    started = time.perf_counter()
    with (
        transaction.atomic(),
        connection.cursor() as cursor,
        cursor.cursor.copy(f"COPY bench_raw_copy ({cols}) FROM STDIN") as copy,
    ):
        when = datetime(2020, 1, 1, tzinfo=UTC)
        for r in range(rows):
            copy.write_row(
                (
                    f"+86{14000000000 + r}",
                    f"9{r:011d}",
                    "张伟",
                    "male",
                    date(1990, 1, 1),
                    "",
                    "上海",
                    "import",
                    None,
                    "active",
                    False,
                    False,
                    False,
                    "",
                    "{}",
                    when,
                    when,
                    0,
                    0,
                    0,
                    0,
                    0,
                    "prospect",
                )
            )
    return time.perf_counter() - started


def import_export_baseline(content: bytes) -> float:
    from django.db import connection, models
    from import_export import resources
    from tablib import Dataset

    class PlainMember(models.Model):
        phone = models.CharField(max_length=40)
        name = models.CharField(max_length=100)
        gender = models.CharField(max_length=8, blank=True)
        birthday = models.DateField(null=True)
        city = models.CharField(max_length=32, blank=True)
        store = models.CharField(max_length=32, blank=True)
        created = models.CharField(max_length=32, blank=True)

        class Meta:
            app_label = "members"
            db_table = "bench_plain_member"

        def __str__(self) -> str:
            return self.phone

    with connection.schema_editor() as editor:
        editor.create_model(PlainMember)

    class PlainResource(resources.ModelResource):
        class Meta:
            model = PlainMember
            use_bulk = True
            batch_size = 1000
            skip_unchanged = False
            force_init_instance = True
            import_id_fields: list[str] = []
            fields = ("phone", "name", "gender", "birthday", "city", "store", "created")

    started = time.perf_counter()
    dataset = Dataset().load(content, format="xlsx")
    dataset.headers = ["phone", "name", "gender", "birthday", "city", "store", "created"]
    result = PlainResource().import_data(dataset, dry_run=False, use_transactions=True, raise_errors=False)
    elapsed = time.perf_counter() - started
    assert PlainMember.objects.count() > 0, result
    return elapsed


if __name__ == "__main__":
    main()
