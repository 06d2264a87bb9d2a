"""Order history import: orders per second from upload to committed, member statistics included,
against a raw COPY of the same rows into a table shaped and indexed like the orders table.

    python -m bench.order_import [--quick]
"""

from __future__ import annotations

import csv
import io
import random
import resource
import time
from datetime import UTC, datetime, timedelta

from bench._common import parse_args, report, start

STORES = ["SH001", "SH002", "BJ001", "GZ001", "CD001"]


def make_csv(orders: int, members: int, seed: int = 11) -> bytes:
    rng = random.Random(seed)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["订单号", "手机号", "门店", "消费时间", "实付金额"])
    start_at = datetime(2022, 1, 1)
    for n in range(orders):
        member = int(members * rng.random() ** 2)
        when = start_at + timedelta(minutes=rng.randrange(1_500_000))
        writer.writerow(
            [
                f"H{n:08d}",
                f"{13000000000 + member}",
                rng.choice(STORES),
                when.strftime("%Y-%m-%d %H:%M"),
                f"{20 + rng.random() * rng.random() * 2000:.2f}",
            ]
        )
    return buffer.getvalue().encode("utf-8")


def main() -> None:
    args = parse_args(__doc__ or "")
    orders, members = (20_000, 5_000) if args.quick else (200_000, 50_000)
    services = start("huiyuan_bench_orders")
    try:
        run(orders, members)
    finally:
        services.stop()


def run(orders: int, members: int) -> None:
    from django.core.management import call_command
    from django.db import connection, transaction
    from django_tenants.utils import tenant_context

    from huiyuan.members.imports import import_run, import_start, import_upload
    from huiyuan.members.models import Member, Order, Store
    from huiyuan.platform.models import User
    from huiyuan.tenants.services import tenant_signup

    call_command("setup_platform", verbosity=0, pool_size=1)
    content = make_csv(orders, members)
    tenant = tenant_signup(
        name="订单导入", subdomain="orders", owner_phone="13900000000", owner_email="", password="Bench-pass-2026"
    ).tenant
    with tenant_context(tenant):
        for code in STORES:
            Store.objects.create(code=code, name=code)
        owner = User.objects.get()
        # Half the members exist already; the rest are created from the file.
        Member.objects.bulk_create(
            [Member(phone=f"+86{13000000000 + i}", card_no=f"E{i}") for i in range(0, members, 2)], batch_size=5000
        )
        started = time.perf_counter()
        job = import_upload(actor=owner, filename="orders.csv", content=content, kind="orders")
        import_start(actor=owner, job_id=job.pk, mapping=job.mapping, unknown_members="create")
        job = import_run(job.pk)
        ours = time.perf_counter() - started
        ours_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        assert job.created_count + job.error_count == orders, (job.created_count, job.error_count)
        spend = sum(Member.objects.values_list("total_spend", flat=True))
        paid = sum(Order.objects.values_list("paid_amount", flat=True))
        assert spend == paid, (spend, paid)  # statistics agree with the orders
        print(f"huiyuan: {job.created_count:,} orders in {ours:.2f} s = {orders / ours:,.0f} orders/s ({job.message})")

        started = time.perf_counter()
        rerun_job = import_upload(actor=owner, filename="orders.csv", content=content, kind="orders")
        import_start(actor=owner, job_id=rerun_job.pk, mapping=rerun_job.mapping)
        rerun_job = import_run(rerun_job.pk)
        rerun = time.perf_counter() - started
        assert rerun_job.created_count == 0 and rerun_job.unchanged_count == orders
        print(f"re-run (all already imported): {rerun:.2f} s")

        table = Order._meta.db_table
        with connection.cursor() as cursor:
            cursor.execute(f"CREATE TABLE bench_raw_orders (LIKE {table} INCLUDING ALL)")
        store_id = Store.objects.values_list("pk", flat=True).first()
        started = time.perf_counter()
        when = datetime(2024, 1, 1, tzinfo=UTC)
        with (
            transaction.atomic(),
            connection.cursor() as cursor,
            cursor.cursor.copy(
                "COPY bench_raw_orders (order_no, store_id, member_id, total_amount, paid_amount, refunded_amount, "
                "payment_methods, benefits, status, source, paid_at, request_hash, created_at) FROM STDIN"
            ) as copy,
        ):
            for n in range(orders):
                copy.write_row(
                    (f"R{n:08d}", store_id, None, "99.00", "99.00", 0, "[]", "{}", "paid", "import", when, "", when)
                )
        copy_time = time.perf_counter() - started
        connection.set_schema_to_public()  # type: ignore[attr-defined]
    ours_rate, copy_rate = orders / ours, orders / copy_time
    print(f"raw COPY into an orders-shaped table: {copy_rate:,.0f} rows/s")
    report(
        bench="order_import",
        value=ours_rate,
        unit="orders/s (upload to committed, stats included)",
        baseline=copy_rate,
        baseline_label="raw COPY of the same rows into an orders-shaped table, committed",
        ratio=ours_rate / copy_rate,
        scale={"orders": orders, "members": members},
        peak_rss=ours_rss,
        rerun_s=round(rerun, 2),
    )


if __name__ == "__main__":
    main()
