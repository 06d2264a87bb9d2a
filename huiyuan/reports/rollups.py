"""Rebuild the daily rollups from the source tables, a range of local days at a time: delete the
days, insert them again from one aggregate per source. Re-running gives the same rows, so the
nightly job, a backfill and an import's catch-up are the same call."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any

from django.db import connection, transaction

from huiyuan.platform.tenancy import tenant_timezone

# Each source contributes its columns of DailyStats for (day, store); the rest are zero.
COLUMNS = (
    "new_members",
    "orders",
    "sales",
    "refunds",
    "points_issued",
    "points_redeemed",
    "points_expired",
    "stored_principal_in",
    "stored_bonus_in",
    "stored_principal_out",
    "stored_bonus_out",
    "coupons_issued",
    "coupons_redeemed",
)

SOURCES = {
    "new_members": """
        SELECT (m.created_at AT TIME ZONE %(tz)s)::date AS day, m.home_store_id AS store_id, count(*) AS new_members
          FROM members_member m WHERE m.created_at >= %(start)s AND m.created_at < %(end)s GROUP BY 1, 2""",
    "orders,sales": """
        SELECT (o.paid_at AT TIME ZONE %(tz)s)::date AS day, o.store_id, count(*) AS orders, sum(o.paid_amount) AS sales
          FROM members_order o WHERE o.paid_at >= %(start)s AND o.paid_at < %(end)s GROUP BY 1, 2""",
    "refunds": """
        SELECT (r.refunded_at AT TIME ZONE %(tz)s)::date AS day, o.store_id, sum(r.amount) AS refunds
          FROM members_refund r JOIN members_order o ON o.id = r.order_id
         WHERE r.refunded_at >= %(start)s AND r.refunded_at < %(end)s GROUP BY 1, 2""",
    "points_issued,points_redeemed,points_expired": """
        SELECT (p.created_at AT TIME ZONE %(tz)s)::date AS day, m.home_store_id AS store_id,
               coalesce(sum(p.amount) FILTER (WHERE p.kind = 'earn' OR (p.kind = 'adjust' AND p.amount > 0)), 0),
               coalesce(-sum(p.amount) FILTER (WHERE p.kind = 'spend'), 0),
               coalesce(-sum(p.amount) FILTER (WHERE p.kind = 'expire'), 0)
          FROM loyalty_pointsentry p JOIN members_member m ON m.id = p.member_id
         WHERE p.created_at >= %(start)s AND p.created_at < %(end)s GROUP BY 1, 2""",
    "stored_principal_in,stored_bonus_in,stored_principal_out,stored_bonus_out": """
        SELECT (s.created_at AT TIME ZONE %(tz)s)::date AS day, m.home_store_id AS store_id,
               coalesce(sum(s.principal) FILTER (WHERE s.principal > 0), 0),
               coalesce(sum(s.bonus) FILTER (WHERE s.bonus > 0), 0),
               coalesce(-sum(s.principal) FILTER (WHERE s.principal < 0), 0),
               coalesce(-sum(s.bonus) FILTER (WHERE s.bonus < 0), 0)
          FROM loyalty_storedvalueentry s JOIN members_member m ON m.id = s.member_id
         WHERE s.created_at >= %(start)s AND s.created_at < %(end)s GROUP BY 1, 2""",
    "coupons_issued": """
        SELECT (c.issued_at AT TIME ZONE %(tz)s)::date AS day, m.home_store_id AS store_id, count(*)
          FROM loyalty_coupon c JOIN members_member m ON m.id = c.member_id
         WHERE c.issued_at >= %(start)s AND c.issued_at < %(end)s GROUP BY 1, 2""",
    "coupons_redeemed": """
        SELECT (c.redeemed_at AT TIME ZONE %(tz)s)::date AS day,
               coalesce(c.redeemed_store_id, m.home_store_id), count(*)
          FROM loyalty_coupon c JOIN members_member m ON m.id = c.member_id
         WHERE c.redeemed_at >= %(start)s AND c.redeemed_at < %(end)s GROUP BY 1, 2""",
}


def _bounds(first: date, last: date) -> dict[str, Any]:
    tz = tenant_timezone()
    return {
        "tz": str(tz),
        "start": datetime.combine(first, time.min, tzinfo=tz),
        "end": datetime.combine(last + timedelta(days=1), time.min, tzinfo=tz),
        "first": first,
        "last": last,
    }


def _union_sql() -> str:
    """Every source as (day, store_id, all COLUMNS), its own columns named and the rest zero."""
    parts = []
    for names, sql in SOURCES.items():
        given = names.split(",")
        values = ", ".join(f"{name if name in given else '0'} AS {name}" for name in COLUMNS)
        parts.append(f"SELECT day, store_id, {values} FROM ({sql.strip()}) AS src(day, store_id, {names})")
    return " UNION ALL ".join(parts)


def rollup_days(first: date, last: date) -> int:
    """Rebuild ``DailyStats`` and ``MemberMonth`` for the local days ``first``..``last``
    (member months for every month those days touch). Returns the daily rows written."""
    params = _bounds(first, last)
    columns = ", ".join(COLUMNS)
    sums = ", ".join(f"sum({name})" for name in COLUMNS)
    month_first = first.replace(day=1)
    month_last = (last.replace(day=1) + timedelta(days=32)).replace(day=1) - timedelta(days=1)
    months = _bounds(month_first, month_last)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("DELETE FROM reports_dailystats WHERE day BETWEEN %(first)s AND %(last)s", params)
        cursor.execute(
            f"INSERT INTO reports_dailystats (day, store_id, {columns}) "
            f"SELECT day, store_id, {sums} FROM ({_union_sql()}) u GROUP BY day, store_id",
            params,
        )
        written = cursor.rowcount
        cursor.execute("DELETE FROM reports_membermonth WHERE month BETWEEN %(first)s AND %(last)s", months)
        cursor.execute(
            """
            INSERT INTO reports_membermonth (month, member_id, store_id, orders, sales)
            SELECT date_trunc('month', o.paid_at AT TIME ZONE %(tz)s)::date, o.member_id,
                   (array_agg(o.store_id ORDER BY o.paid_at DESC))[1], count(*), sum(o.paid_amount - o.refunded_amount)
              FROM members_order o
             WHERE o.member_id IS NOT NULL AND o.paid_at >= %(start)s AND o.paid_at < %(end)s
             GROUP BY 1, 2
            """,
            months,
        )
    return written


def rollup_recent(days: int = 3) -> int:
    """The nightly job: the last ``days`` local days up to yesterday (late refunds, imports and
    corrections of recent days are caught on the next nights)."""
    from django.utils import timezone

    tz = tenant_timezone()
    today = timezone.now().astimezone(tz).date()
    written = rollup_days(today - timedelta(days=days), today - timedelta(days=1))
    # Orders recorded lately for older days (an imported history, a late POS upload) move those
    # days too: rebuild the span they fall in.
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT min((paid_at AT TIME ZONE %s)::date) FROM members_order WHERE created_at >= %s AND paid_at < %s",
            [
                str(tz),
                timezone.now() - timedelta(days=days + 1),
                datetime.combine(today - timedelta(days=days), time.min, tzinfo=tz),
            ],
        )
        (oldest,) = cursor.fetchone()
    if oldest is not None:
        written += rollup_days(oldest, today - timedelta(days=days + 1))
    return written


def rollup_all() -> int:
    """Backfill from the first order or member to yesterday (after an upgrade or a big import)."""
    from django.utils import timezone

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT least((SELECT min(paid_at) FROM members_order), (SELECT min(created_at) FROM members_member))"
        )
        (earliest,) = cursor.fetchone()
    today = timezone.now().astimezone(tenant_timezone()).date()
    if earliest is None:
        return 0
    return rollup_days(earliest.astimezone(tenant_timezone()).date(), today - timedelta(days=1))
