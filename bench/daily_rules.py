"""The daily rules of a big merchant: birthday greeting, points expiring within 30 days and win-back
of high-value members with no purchase in 30 days, evaluated over 1,000,000 members (target: all
three under 60 s), with every reached member's first action queued (run, step, delivery rows and
the broker message). Baseline, in the same run: the same selection member by member through the
ORM (one member at a time, with its points lots), timed on a sample and scaled to all members.

    python -m bench.daily_rules [--quick]
"""

from __future__ import annotations

import time
from datetime import date, datetime, timedelta

from bench._common import parse_args, peak_rss_mb, report, start

BASELINE_SAMPLE = 20_000


def main() -> None:
    args = parse_args(__doc__ or "")
    members = 50_000 if args.quick else 1_000_000
    services = start("huiyuan_bench_daily_rules")
    try:
        run(members)
    finally:
        services.stop()


def load(members: int) -> None:
    from django.db import connection

    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO members_member (name, phone, gender, province, city, channel, card_no, status, consent_sms,
                consent_wechat, consent_email, email, custom_fields, created_at, updated_at, order_count,
                total_spend, r_score, f_score, m_score, lifecycle, birthday, last_purchase_at)
            SELECT '会员' || g, '+86' || (13000000000 + g), 'unknown', '', '', 'store', 'C' || g, 'active',
                true, false, false, '', '{}', now() - (g %% 1500) * interval '1 day', now(), 3, 300,
                3, 3, 1 + (g * 7919) %% 5, 'active',
                date '1970-01-01' + ((g * 104729) %% 18000)::int,
                now() - ((g * 31) %% 120) * interval '1 day'
            FROM generate_series(1::bigint, %s::bigint) AS g
            """,
            [members],
        )
        # A third of the members hold points, some expiring within the next 60 days.
        cursor.execute(
            """
            WITH earned AS (
                INSERT INTO loyalty_pointsentry (member_id, kind, amount, balance_after, idempotency_key, cause,
                    cause_id, reason, created_at)
                SELECT id, 'earn', 500, 500, 'bench:' || id, 'import', '', '', now()
                FROM members_member WHERE id % 3 = 0
                RETURNING id, member_id
            )
            INSERT INTO loyalty_pointslot (member_id, earned_by_id, amount, remaining, expires_at, created_at)
            SELECT member_id, id, 500, 200, now() + ((member_id * 13) % 60) * interval '1 day' + interval '1 hour',
                now()
            FROM earned
            """
        )
        # As autovacuum keeps a live database: statistics for every table, the event tables included
        # (without them PostgreSQL checks each new delivery's event by scanning the whole table).
        cursor.execute("VACUUM ANALYZE members_member")
        cursor.execute("ANALYZE")
    print(f"loaded {members:,} members in {time.perf_counter() - started:.0f} s")


def baseline_per_member(day: date, now: datetime) -> tuple[float, int]:
    """The three selections the plain way: each member loaded and checked in Python."""
    from huiyuan.loyalty.models import PointsLot
    from huiyuan.members.models import Member

    cutoff = now - timedelta(days=30)
    until = now + timedelta(days=30)
    chosen = 0
    started = time.perf_counter()
    for member in Member.objects.order_by("pk")[:BASELINE_SAMPLE].iterator(chunk_size=2000):
        birthday = member.birthday is not None and (member.birthday.month, member.birthday.day) == (day.month, day.day)
        winback = member.m_score >= 4 and member.last_purchase_at is not None and member.last_purchase_at < cutoff
        expiring = PointsLot.objects.filter(
            member_id=member.pk, remaining__gt=0, expires_at__gt=now, expires_at__lte=until
        ).exists()
        chosen += birthday + winback + expiring
    return time.perf_counter() - started, chosen


def run(members: int) -> None:
    from django.core.management import call_command
    from django.db import transaction
    from django_tenants.utils import tenant_context

    from huiyuan.automation import engine, gallery
    from huiyuan.automation.models import Rule, Step
    from huiyuan.loyalty.models import CouponTemplate
    from huiyuan.platform.models import User
    from huiyuan.platform.tenancy import tenant_timezone
    from huiyuan.tenants.services import tenant_signup

    call_command("setup_platform", verbosity=0, pool_size=1)
    tenant = tenant_signup(
        name="大商户", subdomain="bigmerchant", owner_phone="13900000000", owner_email="", password="Bench-pass-2026"
    ).tenant
    with tenant_context(tenant):
        load(members)
        owner = User.objects.get(role="owner")
        CouponTemplate.objects.create(name="礼券", kind="fixed", amount_off=10, valid_days=30)
        rules = [gallery.template_install(actor=owner, key=key) for key in ("birthday", "points_expiring", "win_back")]
        now = datetime.now(tenant_timezone()).replace(hour=9, minute=0, second=0, microsecond=0)
        day = now.date()
        timings: dict[str, float] = {}
        reached: dict[str, int] = {}
        started_all = time.perf_counter()
        for rule in rules:
            rule = Rule.objects.select_related("version").get(pk=rule.pk)
            started = time.perf_counter()
            with transaction.atomic():
                reached[rule.template_key] = engine.rule_evaluate_day(rule, day, now=now)
            timings[rule.template_key] = round(time.perf_counter() - started, 2)
        elapsed = time.perf_counter() - started_all
        queued = Step.objects.count()
        assert queued == sum(reached.values())
        ours_rss = peak_rss_mb()
        sample_seconds, _chosen = baseline_per_member(day, now)
        baseline = sample_seconds * members / min(members, BASELINE_SAMPLE)
        print(f"rules: {timings} reached {reached}; {queued / elapsed:,.0f} actions queued per second")
        print(
            f"baseline: {sample_seconds:.1f} s for {min(members, BASELINE_SAMPLE):,} members, {baseline:.0f} s scaled"
        )
    report(
        bench="daily_rules",
        value=elapsed,
        unit="s",
        baseline=baseline,
        baseline_label="the same three selections member by member through the ORM (sampled, scaled)",
        ratio=baseline / elapsed,
        peak_rss=ours_rss,
        scale={"members": members, "rules": 3, "reached": reached, "actions_per_second": round(queued / elapsed)},
    )


if __name__ == "__main__":
    main()
