"""The seed segment — high-value members (m_score >= 4) with no purchase in the last 30 days —
as a store manager's request sees it (count plus the first page of 50, scoped to their stores),
over 1,000,000 members and 10,000,000 orders, against the same answer aggregated from the
orders on the fly in the same run.

    python -m bench.segment_query [--quick]
"""

from __future__ import annotations

import statistics
import time
from typing import Any

from bench._common import p95, parse_args, report, start

STORES = 20
RULE = {
    "and": [
        {"field": "m_score", "op": "gte", "value": 4},
        {"field": "last_purchase_at", "op": "not_within_last", "value": 30},
    ]
}

ON_THE_FLY_SQL = """
WITH per_member AS (
    SELECT member_id, sum(paid_amount - refunded_amount) AS spend, max(paid_at) AS last
    FROM members_order WHERE member_id IS NOT NULL AND status <> 'refunded' GROUP BY member_id
), scored AS (
    SELECT member_id, last, 1 + floor(4.999 * percent_rank() OVER (ORDER BY spend))::int AS m
    FROM per_member
)
SELECT m.id, m.name, m.card_no, count(*) OVER () AS total
FROM members_member m JOIN scored s ON s.member_id = m.id
WHERE m.home_store_id = ANY(%s) AND s.m >= 4 AND s.last < now() - interval '30 days'
ORDER BY m.id DESC LIMIT 50
"""


def main() -> None:
    args = parse_args(__doc__ or "")
    members, orders = (50_000, 500_000) if args.quick else (1_000_000, 10_000_000)
    services = start("huiyuan_bench_segment")
    try:
        run(members, orders, repeats=10 if args.quick else 20)
    finally:
        services.stop()


def load(members: int, orders: int, store_ids: list[int]) -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        started = time.perf_counter()
        cursor.execute(
            """
            INSERT INTO members_member (name, phone, gender, province, city, channel, home_store_id, card_no,
                status, consent_sms, consent_wechat, consent_email, email, custom_fields, created_at, updated_at,
                order_count, total_spend, r_score, f_score, m_score, lifecycle)
            SELECT '会员' || g, '+86' || (13000000000 + g), 'unknown', '', '', 'store',
                (%s::bigint[])[1 + g %% %s], 'C' || g, 'active', false, false, false, '', '{}',
                now() - (g %% 1500) * interval '1 day', now(), 0, 0, 0, 0, 0, 'prospect'
            FROM generate_series(1, %s) AS g
            """,
            [store_ids, len(store_ids), members],
        )
        cursor.execute("SELECT min(id) FROM members_member")
        (first_id,) = cursor.fetchone()
        # Purchases follow a long tail: a few members buy very often, many rarely or never.
        cursor.execute(
            """
            INSERT INTO members_order (order_no, store_id, member_id, total_amount, paid_amount, refunded_amount,
                payment_methods, benefits, status, source, paid_at, request_hash, created_at)
            SELECT 'O' || g, (%s::bigint[])[1 + (o.member - %s) %% %s], o.member, o.amount, o.amount, 0, '[]',
                '{}', 'paid', 'import', now() - random() * interval '730 days', '', now()
            FROM generate_series(1, %s) AS g,
                LATERAL (SELECT %s + floor(%s * power(random(), 2))::bigint AS member,
                                round((20 + random() * random() * 2000)::numeric, 2) AS amount
                         WHERE g > 0) AS o
            """,
            [store_ids, first_id, len(store_ids), orders, first_id, members],
        )
        print(f"loaded {members:,} members and {orders:,} orders in {time.perf_counter() - started:.0f} s")
    from huiyuan.members.stats import stats_rebuild

    started = time.perf_counter()
    rebuilt = stats_rebuild()
    print(
        f"stats for {rebuilt:,} buyers (orders → member stats, lifecycle, RFM) in {time.perf_counter() - started:.1f} s"
    )
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE members_member")
        cursor.execute("ANALYZE members_order")


def run(members: int, orders: int, repeats: int) -> None:
    from django.core.management import call_command
    from django.db import connection
    from django_tenants.utils import tenant_context

    from huiyuan.members.models import Store
    from huiyuan.members.segments import segment_members
    from huiyuan.platform.models import StoreAssignment, User
    from huiyuan.platform.roles import Role
    from huiyuan.tenants.services import tenant_signup

    call_command("setup_platform", verbosity=0, pool_size=1)
    tenant = tenant_signup(
        name="人群测试", subdomain="segments", owner_phone="13900000000", owner_email="", password="Bench-pass-2026"
    ).tenant
    with tenant_context(tenant):
        stores = [Store.objects.create(code=f"S{i:03d}", name=f"门店{i}") for i in range(STORES)]
        manager = User.objects.create(username="manager", role=Role.STORE_MANAGER)
        StoreAssignment.objects.bulk_create([StoreAssignment(user=manager, store=s) for s in stores[:2]])
        load(members, orders, [s.pk for s in stores])

        def ours() -> tuple[int, list[Any]]:
            qs = segment_members(actor=manager, rule=RULE)
            return qs.count(), list(qs.order_by("-id").values("id", "name", "card_no")[:50])

        def on_the_fly() -> tuple[int, list[Any]]:
            with connection.cursor() as cursor:
                cursor.execute(ON_THE_FLY_SQL, [[s.pk for s in stores[:2]]])
                rows = cursor.fetchall()
            return (rows[0][3] if rows else 0), [{"id": r[0], "name": r[1], "card_no": r[2]} for r in rows]

        ours()  # warm the cache as a busy server would be
        timings = []
        for _ in range(repeats):
            started = time.perf_counter()
            result = ours()
            timings.append(time.perf_counter() - started)
        baseline_timings = []
        for _ in range(3):
            started = time.perf_counter()
            expected = on_the_fly()
            baseline_timings.append(time.perf_counter() - started)
        assert result[0] == expected[0] and result[1] == expected[1], (result[0], expected[0])
        with connection.cursor() as cursor:
            qs = segment_members(actor=manager, rule=RULE)
            sql, params = qs.query.sql_with_params()
            cursor.execute("EXPLAIN " + sql, params)
            plan = "\n".join(row[0] for row in cursor.fetchall())
        connection.set_schema_to_public()  # type: ignore[attr-defined]
    value = statistics.median(timings)
    baseline = statistics.median(baseline_timings)
    print(f"segment: {result[0]:,} members in the manager's 2 of {STORES} stores")
    print(f"ours p50 {value * 1000:.1f} ms, p95 {p95(timings) * 1000:.1f} ms; on the fly {baseline:.2f} s")
    print(plan)
    report(
        bench="segment_query",
        value=value,
        unit="s (count + first page of 50, store-scoped, p50)",
        baseline=baseline,
        baseline_label="same answer aggregated from orders on the fly (median of 3)",
        ratio=baseline / value,
        scale={"members": members, "orders": orders, "stores": STORES, "manager_stores": 2},
        p95_s=round(p95(timings), 4),
        matching_members=result[0],
    )


if __name__ == "__main__":
    main()
