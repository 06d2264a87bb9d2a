"""Checkout throughput: orders per second through the full checkout (member lookup, tier, points
earned, statistics, outbox) for members with an order history, from two worker processes,
against a plain single-row INSERT of the order from two connections in the same run
(``ratio`` = checkout / plain INSERT), with p95 latency. Then the points expiry job over many
lots (and a re-run that must change nothing).

    python -m bench.order_posting [--quick]
"""

from __future__ import annotations

import multiprocessing
import os
import random
import statistics
import time
from typing import Any

from bench._common import p95, parse_args, report, start

WORKERS = 2


def main() -> None:
    args = parse_args(__doc__ or "")
    orders, members, lots = (2_000, 2_000, 100_000) if args.quick else (10_000, 20_000, 1_000_000)
    services = start("huiyuan_bench_posting")
    try:
        run(orders, members, lots)
    finally:
        services.stop()


def _setup(members: int) -> tuple[str, int]:
    from django.core.management import call_command
    from django.db import connection
    from django_tenants.utils import tenant_context

    from huiyuan.loyalty.ledger import loyalty_settings
    from huiyuan.loyalty.models import Tier
    from huiyuan.members.models import Member, Store
    from huiyuan.members.stats import stats_rebuild
    from huiyuan.tenants.services import tenant_signup

    call_command("setup_platform", verbosity=0, pool_size=1)
    tenant = tenant_signup(
        name="收银压测", subdomain="posting", owner_phone="13900000000", owner_email="", password="Bench-pass-2026"
    ).tenant
    with tenant_context(tenant):
        store = Store.objects.create(code="S1", name="一号店")
        loyalty_settings()
        Tier.objects.create(name="普通", rank=0, threshold_spend=0)
        Tier.objects.create(name="银卡", rank=1, threshold_spend=2000, discount_rate="0.98", window_days=365)
        Member.objects.bulk_create(
            [Member(phone=f"+86{13100000000 + i}", card_no=f"B{i}", home_store=store) for i in range(members)],
            batch_size=5000,
        )
        # A merchant with history: three past orders per member over the last two years, the members'
        # statistics rebuilt from them, and the planner's statistics up to date, as they are once
        # autovacuum or an import has run.
        with connection.cursor() as cursor:
            cursor.execute(
                """INSERT INTO members_order (order_no, store_id, member_id, total_amount, paid_amount,
                       refunded_amount, payment_methods, benefits, status, source, paid_at, request_hash, created_at)
                   SELECT 'H' || m.id || '-' || k, %s, m.id, 50 + (m.id * 7 + k * 13) %% 250,
                       50 + (m.id * 7 + k * 13) %% 250, 0, '[]', '{}', 'paid', 'import',
                       now() - make_interval(days => ((m.id * 31 + k * 97) %% 700)::int), '', now()
                   FROM members_member m CROSS JOIN generate_series(1, 3) AS k""",
                [store.pk],
            )
            stats_rebuild()
            cursor.execute("ANALYZE")
        connection.set_schema_to_public()  # type: ignore[attr-defined]
    return tenant.schema_name, store.pk


def _checkout_worker(schema: str, worker: int, count: int, members: int, queue: Any) -> None:
    import django
    from django.db import connection

    django.setup()
    from django_tenants.utils import schema_context

    from huiyuan.loyalty.checkout import checkout_commit
    from huiyuan.platform.models import User

    rng = random.Random(worker)
    latencies = []
    with schema_context(schema):
        actor = User.objects.get(role="owner")
        for n in range(count):
            member = rng.randrange(members)
            amount = f"{rng.uniform(10, 300):.2f}"
            data = {
                "order_no": f"W{worker}-{n}",
                "store": "S1",
                "member": {"phone": f"{13100000000 + member}"},
                "lines": [{"sku": "A", "category": "饮品", "amount": amount}],
            }
            started = time.perf_counter()
            checkout_commit(actor=actor, data=data)
            latencies.append(time.perf_counter() - started)
    connection.close()
    queue.put(latencies)


def _insert_worker(schema: str, worker: int, count: int, store_id: int, queue: Any) -> None:
    import django
    from django.db import connection

    django.setup()
    latencies = []
    with connection.cursor() as cursor:
        cursor.execute(f'SET search_path = "{schema}", public')
        for n in range(count):
            started = time.perf_counter()
            cursor.execute(
                "INSERT INTO members_order (order_no, store_id, member_id, total_amount, paid_amount, refunded_amount, "
                "payment_methods, benefits, status, source, paid_at, request_hash, created_at) "
                "VALUES (%s, %s, NULL, 99, 99, 0, '[]', '{}', 'paid', 'pos', now(), '', now())",
                [f"P{worker}-{n}", store_id],
            )
            latencies.append(time.perf_counter() - started)
    connection.close()
    queue.put(latencies)


def _parallel(target: Any, args_for: Any) -> tuple[float, list[float]]:
    from django.db import connections

    connections.close_all()  # children must not share the parent's socket
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    processes = [ctx.Process(target=target, args=(*args_for(w), queue)) for w in range(WORKERS)]
    started = time.perf_counter()
    for p in processes:
        p.start()
    latencies: list[float] = []
    for _ in processes:
        latencies += queue.get()
    for p in processes:
        p.join()
        assert p.exitcode == 0, p.exitcode
    return time.perf_counter() - started, latencies


def _expiry(schema: str, lots: int, members: int) -> tuple[float, float, int]:
    from django.db import connection
    from django.utils import timezone
    from django_tenants.utils import schema_context

    from huiyuan.loyalty.ledger import points_expire_due

    with schema_context(schema), connection.cursor() as cursor:
        cursor.execute("SELECT min(id) FROM members_member")
        (first,) = cursor.fetchone()  # type: ignore[misc]
        cursor.execute(
            """INSERT INTO loyalty_pointsentry (member_id, kind, amount, balance_after, idempotency_key, cause,
                   cause_id, reason, created_at)
               SELECT %s + (g %% %s), 'earn', 10, 0, 'seed:' || g, 'import', '', '', now()
               FROM generate_series(1, %s) g""",
            [first, members, lots],
        )
        cursor.execute(
            """INSERT INTO loyalty_pointslot (member_id, earned_by_id, amount, remaining, expires_at, created_at)
               SELECT member_id, id, 10, 10,
                      CASE WHEN id % 2 = 0 THEN now() - interval '1 day' ELSE now() + interval '300 days' END, now()
               FROM loyalty_pointsentry WHERE idempotency_key LIKE 'seed:%'"""
        )
        cursor.execute(
            """UPDATE members_member m SET points_balance = m.points_balance + s.total
               FROM (SELECT member_id, sum(remaining) AS total FROM loyalty_pointslot
                     WHERE earned_by_id IN (SELECT id FROM loyalty_pointsentry WHERE idempotency_key LIKE 'seed:%')
                     GROUP BY member_id) s WHERE m.id = s.member_id"""
        )
        cursor.execute("ANALYZE loyalty_pointslot")
        started = time.perf_counter()
        expired = points_expire_due(now=timezone.now())
        first_run = time.perf_counter() - started
        started = time.perf_counter()
        again = points_expire_due(now=timezone.now())
        rerun = time.perf_counter() - started
        assert again == 0
    return first_run, rerun, expired


def run(orders: int, members: int, lots: int) -> None:
    schema, store_id = _setup(members)
    per_worker = orders // WORKERS
    elapsed, latencies = _parallel(_checkout_worker, lambda w: (schema, w, per_worker, members))
    checkout_rate = per_worker * WORKERS / elapsed
    insert_elapsed, insert_latencies = _parallel(_insert_worker, lambda w: (schema, w, per_worker, store_id))
    insert_rate = per_worker * WORKERS / insert_elapsed
    print(
        f"checkout: {checkout_rate:,.0f} orders/s, p50 {statistics.median(latencies) * 1000:.1f} ms, "
        f"p95 {p95(latencies) * 1000:.1f} ms; plain INSERT: {insert_rate:,.0f} orders/s"
    )

    from django.db import connection
    from django_tenants.utils import schema_context

    from huiyuan.loyalty.ledger import reconcile

    with schema_context(schema):
        drift = reconcile()
        connection.set_schema_to_public()  # type: ignore[attr-defined]
    assert drift == [], drift[:3]
    first_run, rerun, expired = _expiry(schema, lots, members)
    print(f"expiry of {lots:,} lots ({expired:,} points due): {first_run:.1f} s; re-run {rerun:.2f} s, changed nothing")
    report(
        bench="order_posting",
        value=checkout_rate,
        unit="orders/s (checkout, 2 processes)",
        baseline=insert_rate,
        baseline_label="plain single-row INSERT of the order from two connections",
        ratio=checkout_rate / insert_rate,
        scale={"orders": orders, "members": members, "workers": WORKERS, "lots": lots},
        p95_ms=round(p95(latencies) * 1000, 2),
        p50_ms=round(statistics.median(latencies) * 1000, 2),
        expiry_s=round(first_run, 2),
        expiry_rerun_s=round(rerun, 3),
        points_expired=expired,
        cpu_count=os.cpu_count(),
    )


if __name__ == "__main__":
    main()
