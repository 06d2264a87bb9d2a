"""The member cockpit (key figures, tier mix, monthly growth, top 10 spenders) at 1,000,000 members
and 10,000,000 orders over two years: each widget's time and the whole cockpit, as HQ (all 20
stores) and as a store manager (2 stores). Baseline in the same run: the same numbers computed
straight from the orders (no rollups, no statistics on the member row).

    python -m bench.cockpit [--quick]
"""

from __future__ import annotations

import statistics
import time
from typing import Any

from bench._common import parse_args, peak_rss_mb, report, start

STORES = 20
REPEATS = 5


def main() -> None:
    args = parse_args(__doc__ or "")
    members, orders = (50_000, 500_000) if args.quick else (1_000_000, 10_000_000)
    services = start("huiyuan_bench_cockpit")
    try:
        run(members, orders)
    finally:
        services.stop()


def load(members: int, orders: int, store_ids: list[int], tier_ids: list[int]) -> None:
    from django.db import connection

    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO members_member (name, phone, gender, province, city, channel, home_store_id, card_no, status,
                consent_sms, consent_wechat, consent_email, email, custom_fields, created_at, updated_at, order_count,
                total_spend, r_score, f_score, m_score, lifecycle, tier_id, points_balance, stored_principal,
                stored_bonus)
            SELECT '会员' || g, '+86' || (13000000000 + g), 'unknown', '', '', 'store',
                   (%(stores)s::bigint[])[1 + g %% %(n)s],
                   'C' || g, 'active', false, false, false, '', '{}',
                   now() - ((g * 7919) %% 730) * interval '1 day', now(), 0, 0, (g %% 5) + 1, ((g / 5) %% 5) + 1, 0,
                   'active', (%(tiers)s::bigint[])[1 + (g %% 7) %% 3], (g %% 500), (g %% 300), (g %% 30)
              FROM generate_series(1::bigint, %(members)s::bigint) AS g
            """,
            {"stores": store_ids, "n": len(store_ids), "tiers": tier_ids, "members": members},
        )
        cursor.execute("ANALYZE members_member")  # the orders' foreign-key checks plan against real sizes
        cursor.execute("SELECT min(id) FROM members_member")
        (first_member,) = cursor.fetchone()
        # Orders in batches of a million, so the WAL and memory stay small.
        batch = 1_000_000
        for offset in range(0, orders, batch):
            cursor.execute(
                """
                INSERT INTO members_order (order_no, total_amount, paid_amount, refunded_amount, payment_methods,
                    status, source, paid_at, request_hash, created_at, member_id, store_id, benefits)
                SELECT 'O' || g, a, a, 0, '[]', 'paid', 'pos', t, '', t,
                       %(first)s + (g * 2654435761) %% %(members)s,
                       (%(stores)s::bigint[])[1 + (g * 31) %% %(n)s], '{}'
                  FROM (SELECT g, (10 + (g * 37) %% 490)::numeric(12,2) AS a,
                               now() - ((g * 104729) %% (730 * 24 * 60)) * interval '1 minute' AS t
                          FROM generate_series(%(from)s::bigint, %(to)s::bigint) AS g) s
                """,
                {
                    "first": first_member,
                    "members": members,
                    "stores": store_ids,
                    "n": len(store_ids),
                    "from": offset + 1,
                    "to": min(orders, offset + batch),
                },
            )
        # The member row's statistics, as every order keeps them.
        cursor.execute(
            """
            UPDATE members_member m SET order_count = s.n, total_spend = s.spend, last_purchase_at = s.last,
                   first_purchase_at = s.first
              FROM (SELECT member_id, count(*) AS n, sum(paid_amount) AS spend, max(paid_at) AS last,
                           min(paid_at) AS first FROM members_order GROUP BY member_id) s
             WHERE m.id = s.member_id
            """
        )
        cursor.execute("VACUUM ANALYZE members_member")
        cursor.execute("VACUUM ANALYZE members_order")
    print(f"loaded {members:,} members and {orders:,} orders in {time.perf_counter() - started:.0f} s", flush=True)


BASELINE_SQL = {
    # The same figures as the cockpit's widgets, straight from the orders.
    "kpis": """
        SELECT (SELECT count(*) FROM members_member m WHERE {scope_m}),
               (SELECT count(*) FROM members_member m WHERE m.created_at >= date_trunc('month', now()) AND {scope_m}),
               (SELECT count(DISTINCT o.member_id) FROM members_order o JOIN members_member m ON m.id = o.member_id
                 WHERE o.paid_at >= now() - interval '30 days' AND {scope_m}),
               (SELECT count(*) FILTER (WHERE n >= 2)::numeric / nullif(count(*), 0) FROM (
                   SELECT o.member_id, count(*) AS n FROM members_order o
                    WHERE o.paid_at >= date_trunc('month', now()) AND {scope_o} GROUP BY o.member_id) t),
               (SELECT avg(o.paid_amount) FROM members_order o
                 WHERE o.paid_at >= date_trunc('month', now()) AND {scope_o}),
               (SELECT sum(m.stored_principal + m.stored_bonus) FROM members_member m WHERE {scope_m})""",
    "tier_mix": """
        SELECT m.tier_id, count(DISTINCT m.id), sum(o.paid_amount)
          FROM members_member m LEFT JOIN members_order o ON o.member_id = m.id WHERE {scope_m} GROUP BY m.tier_id""",
    "growth": """
        SELECT date_trunc('month', m.created_at), count(*) FROM members_member m
         WHERE m.created_at >= now() - interval '1 year' AND {scope_m} GROUP BY 1""",
    "top_spenders": """
        SELECT o.member_id, sum(o.paid_amount) FROM members_order o JOIN members_member m ON m.id = o.member_id
         WHERE {scope_m} GROUP BY o.member_id ORDER BY 2 DESC LIMIT 10""",
}


def _timed(fn: Any) -> float:
    times = []
    for _ in range(REPEATS):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


def run(members: int, orders: int) -> None:
    from django.core.management import call_command
    from django.db import connection
    from django_tenants.utils import tenant_context

    from huiyuan.loyalty.models import Tier
    from huiyuan.members.models import Store
    from huiyuan.platform.models import StoreAssignment, User
    from huiyuan.platform.roles import Role
    from huiyuan.reports.dashboards import COCKPIT
    from huiyuan.reports.engine import clean_params, report_run
    from huiyuan.reports.rollups import rollup_all
    from huiyuan.tenants.services import tenant_signup

    call_command("setup_platform", verbosity=0, pool_size=1)
    tenant = tenant_signup(
        name="驾驶舱商户", subdomain="cockpit", owner_phone="13900000001", owner_email="", password="Bench-pass-2026"
    ).tenant
    with tenant_context(tenant):
        stores = [Store.objects.create(code=f"S{i:03d}", name=f"门店{i}") for i in range(STORES)]
        tiers = [
            Tier.objects.create(name=n, rank=r, threshold_spend=r * 1000)
            for r, n in enumerate(["普卡", "银卡", "金卡"])
        ]
        hq = User.objects.get(role=Role.OWNER)
        manager = User.objects.create(username="manager", role=Role.STORE_MANAGER)
        StoreAssignment.objects.bulk_create([StoreAssignment(user=manager, store=s) for s in stores[:2]])
        load(members, orders, [s.pk for s in stores], [t.pk for t in tiers])
        started = time.perf_counter()
        rollup_all()
        rolled = time.perf_counter() - started
        print(
            f"daily and monthly rollups of the whole history in {rolled:.0f} s (nightly: the last 3 days)", flush=True
        )
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")

        results: dict[str, dict[str, float]] = {}
        for who, actor, scope_ids in (("hq", hq, None), ("manager", manager, [s.pk for s in stores[:2]])):
            ours: dict[str, float] = {}
            for widget in COCKPIT:
                params = clean_params(dict(widget["params"]))
                report_run(actor=actor, key=widget["report"], params=params)  # warm, as a busy server is
                ours[widget["report"]] = _timed(
                    lambda w=widget, p=params, a=actor: report_run(actor=a, key=w["report"], params=p)
                )
            base: dict[str, float] = {}
            scope_m = "TRUE" if scope_ids is None else f"m.home_store_id = ANY(ARRAY{scope_ids}::bigint[])"
            scope_o = "TRUE" if scope_ids is None else f"o.store_id = ANY(ARRAY{scope_ids}::bigint[])"
            for key, sql in BASELINE_SQL.items():
                text = sql.format(scope_m=scope_m, scope_o=scope_o)

                def straight(text: str = text) -> None:
                    with connection.cursor() as cursor:
                        cursor.execute(text)
                        cursor.fetchall()

                straight()
                base[key] = _timed(straight)
            results[who] = {"ours_total": sum(ours.values()), "base_total": sum(base.values())}
            for key in ours:
                print(f"{who:8} {key:14} cockpit {ours[key]:8.1f} ms   straight from orders {base[key]:9.1f} ms")
            print(
                f"{who:8} {'whole cockpit':14} {sum(ours.values()):8.1f} ms   {sum(base.values()):9.1f} ms", flush=True
            )
            results[who]["slowest"] = max(ours.values())
    worst = max(results.values(), key=lambda r: r["ours_total"])
    report(
        bench="cockpit",
        value=worst["ours_total"],
        unit="ms (whole cockpit, median of 5, slower of HQ and store manager)",
        baseline=max(r["base_total"] for r in results.values()),
        baseline_label="the same figures computed straight from the orders (no rollups, no member statistics)",
        ratio=max(r["base_total"] for r in results.values()) / worst["ours_total"],
        peak_rss=peak_rss_mb(),
        scale={"members": members, "orders": orders, "stores": STORES, "manager_stores": 2},
        slowest_widget_ms=round(max(r["slowest"] for r in results.values()), 1),
        rollup_seconds=round(rolled, 1),
    )


if __name__ == "__main__":
    main()
