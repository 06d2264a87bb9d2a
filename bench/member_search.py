"""Finding a member by the pinyin of their name (张三 by "zs", "zhang", "zhangsan") as a store
manager's search box does (count plus the first page of 50, scoped to their stores), over 1,000,000
members: p95 latency. Baseline in the same run: a plain ``ILIKE '%…%'`` over the same rows and stores.

    python -m bench.member_search [--quick]
"""

from __future__ import annotations

import random
import time
from typing import Any

from bench._common import p95, parse_args, peak_rss_mb, report, start

STORES = 20
SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈"
    "姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
)
GIVEN = (
    "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英华建国文辉鹏飞"
    "玉梅红云丹凤婷雪琳晶宇浩然子涵欣怡梓轩一诺思远佳琪晓东志强春燕海波"
)


def main() -> None:
    args = parse_args(__doc__ or "")
    members = 50_000 if args.quick else 1_000_000
    services = start("huiyuan_bench_member_search")
    try:
        run(members, repeats=40 if args.quick else 100)
    finally:
        services.stop()


def load(members: int, store_ids: list[int]) -> None:
    from django.db import connection

    from huiyuan.members.pinyin import pinyin_refresh

    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO members_member (name, phone, gender, province, city, channel, home_store_id, card_no, status,
                consent_sms, consent_wechat, consent_email, email, custom_fields, created_at, updated_at, order_count,
                total_spend, r_score, f_score, m_score, lifecycle)
            SELECT substr(%s::text, (1 + (g * 7) %% length(%s::text))::int, 1)
                   || substr(%s::text, (1 + (g * 13) %% length(%s::text))::int, 1)
                   || CASE WHEN g %% 3 = 0 THEN ''
                           ELSE substr(%s::text, (1 + (g * 29) %% length(%s::text))::int, 1) END,
                '+86' || (13000000000 + g), 'unknown', '', '', 'store', (%s::bigint[])[1 + g %% %s], 'C' || g,
                'active',
                false, false, false, '', '{}', now(), now(), 0, 0, 0, 0, 0, 'prospect'
            FROM generate_series(1::bigint, %s::bigint) AS g
            """,
            [SURNAMES, SURNAMES, GIVEN, GIVEN, GIVEN, GIVEN, store_ids, len(store_ids), members],
        )
    loaded = time.perf_counter() - started
    started = time.perf_counter()
    done = pinyin_refresh()
    refreshed = time.perf_counter() - started
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE members_member")
    print(f"loaded {members:,} members in {loaded:.0f} s; pinyin keys for {done:,} names in {refreshed:.0f} s")


def run(members: int, repeats: int) -> None:
    from django.core.management import call_command
    from django.db import connection
    from django_tenants.utils import tenant_context

    from huiyuan.members.models import Member, Store
    from huiyuan.members.pinyin import name_keys
    from huiyuan.members.selectors import capped_count, member_list
    from huiyuan.platform.models import StoreAssignment, User
    from huiyuan.platform.roles import Role
    from huiyuan.tenants.services import tenant_signup

    call_command("setup_platform", verbosity=0, pool_size=1)
    tenant = tenant_signup(
        name="拼音商户", subdomain="pinyin", owner_phone="13900000000", owner_email="", password="Bench-pass-2026"
    ).tenant
    with tenant_context(tenant):
        stores = [Store.objects.create(code=f"S{i:03d}", name=f"门店{i}") for i in range(STORES)]
        manager = User.objects.create(username="manager", role=Role.STORE_MANAGER)
        StoreAssignment.objects.bulk_create([StoreAssignment(user=manager, store=s) for s in stores[:2]])
        load(members, [s.pk for s in stores])
        rng = random.Random(2026)
        names = list(
            Member.objects.filter(home_store__in=stores[:2]).order_by("?").values_list("name", flat=True)[:200]
        )
        queries = [rng.choice([k for k in name_keys(n) if len(k) >= 2]) for n in names]

        count_times: list[float] = []

        def ours(query: str) -> tuple[int, list[Any]]:
            qs = member_list(actor=manager, search=query)  # what the console's member list runs
            started = time.perf_counter()
            count, _more = capped_count(qs)
            count_times.append(time.perf_counter() - started)
            return count, list(qs.values("id", "name", "card_no")[:50])

        def plain(query: str) -> tuple[int, list[Any]]:
            qs = Member.objects.filter(home_store__in=stores[:2], name__icontains=query).order_by("-id")
            return qs.count(), list(qs.values("id", "name", "card_no")[:50])

        for query in queries[:5]:
            ours(query)  # warm, as a busy server is
        ours_times, plain_times, found = [], [], 0
        for index in range(repeats):
            query = queries[index % len(queries)]
            started = time.perf_counter()
            count, _page = ours(query)
            ours_times.append(time.perf_counter() - started)
            found += count > 0
            started = time.perf_counter()
            plain(query)
            plain_times.append(time.perf_counter() - started)
        with connection.cursor() as cursor:
            sql, params = member_list(actor=manager, search=queries[0]).query.sql_with_params()
            cursor.execute("EXPLAIN " + sql, params)
            plan = " / ".join(row[0].strip() for row in cursor.fetchall()[:4])
    ours_p95, plain_p95 = p95(ours_times) * 1000, p95(plain_times) * 1000
    print(f"of which the (capped) count: p95 {p95(count_times) * 1000:.1f} ms")
    print(
        f"pinyin search p95 {ours_p95:.1f} ms ({found}/{repeats} queries found someone); ILIKE p95 {plain_p95:.1f} ms"
    )
    print(f"plan: {plan}")
    report(
        bench="member_search",
        value=ours_p95,
        unit="ms (p95)",
        baseline=plain_p95,
        baseline_label="name ILIKE '%…%' over the same members and stores (finds no pinyin)",
        ratio=plain_p95 / ours_p95,
        peak_rss=peak_rss_mb(),
        scale={"members": members, "stores": STORES, "manager_stores": 2, "queries": repeats},
    )


if __name__ == "__main__":
    main()
