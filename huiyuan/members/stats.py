"""Member statistics: lifecycle stages and R/F/M quintile scores."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from .models import Lifecycle, Member, MemberSettings


def member_settings() -> MemberSettings:
    settings_row = MemberSettings.objects.order_by("pk").first()
    return settings_row or MemberSettings.objects.create()


def lifecycle_for(
    *,
    first: datetime | None,
    last: datetime | None,
    settings: MemberSettings | None = None,
    now: datetime | None = None,
) -> str:
    if last is None or first is None:
        return Lifecycle.PROSPECT
    settings = settings or member_settings()
    now = now or timezone.now()
    if first >= now - timedelta(days=settings.new_days):
        return Lifecycle.NEW
    idle = now - last
    if idle <= timedelta(days=settings.active_days):
        return Lifecycle.ACTIVE
    if idle <= timedelta(days=settings.at_risk_days):
        return Lifecycle.AT_RISK
    if idle <= timedelta(days=settings.dormant_days):
        return Lifecycle.DORMANT
    return Lifecycle.LOST


def purchase_stats_apply(member_id: int, amount: Decimal, paid_at: datetime, *, count_delta: int) -> None:
    """Move a member's purchase statistics by one order's money (negative for a refund) under the
    member's row lock. Checkout writes the same columns in its statement; imports rebuild them
    with ``stats_rebuild``; all three agree on what the columns mean."""
    member = Member.objects.select_for_update().get(pk=member_id)
    member.order_count = max(0, member.order_count + count_delta)
    member.total_spend = member.total_spend + amount
    if count_delta > 0:
        member.first_purchase_at = min(filter(None, [member.first_purchase_at, paid_at]))
        member.last_purchase_at = max(filter(None, [member.last_purchase_at, paid_at]))
    member.lifecycle = lifecycle_for(first=member.first_purchase_at, last=member.last_purchase_at)
    member.save(update_fields=["order_count", "total_spend", "first_purchase_at", "last_purchase_at", "lifecycle"])


def _lifecycle_case(first: str, last: str) -> str:
    """``lifecycle_for`` as SQL, over the given first and last purchase columns."""
    return f"""CASE
        WHEN {last} IS NULL THEN 'prospect'
        WHEN {first} >= %(now)s - make_interval(days => %(new)s) THEN 'new'
        WHEN {last} >= %(now)s - make_interval(days => %(active)s) THEN 'active'
        WHEN {last} >= %(now)s - make_interval(days => %(at_risk)s) THEN 'at_risk'
        WHEN {last} >= %(now)s - make_interval(days => %(dormant)s) THEN 'dormant'
        ELSE 'lost' END"""


def _lifecycle_params(now: datetime) -> dict[str, Any]:
    """The parameters ``_lifecycle_case`` needs: the time and the tenant's thresholds in days."""
    settings = member_settings()
    return {
        "now": now,
        "new": settings.new_days,
        "active": settings.active_days,
        "at_risk": settings.at_risk_days,
        "dormant": settings.dormant_days,
    }


LIFECYCLE_SQL = "UPDATE {table} SET lifecycle = {case} WHERE lifecycle IS DISTINCT FROM {case}"

# Quintiles over members who bought at least once; ties share a score (ntile on ranks would split
# them arbitrarily). 5 = most recent / most frequent / highest spend.
RFM_SQL = """
WITH ranked AS (
    SELECT id,
        1 + floor(4.999 * percent_rank() OVER (ORDER BY last_purchase_at))::int AS r,
        1 + floor(4.999 * percent_rank() OVER (ORDER BY order_count))::int AS f,
        1 + floor(4.999 * percent_rank() OVER (ORDER BY total_spend))::int AS m
    FROM {table} WHERE last_purchase_at IS NOT NULL AND order_count > 0
)
UPDATE {table} AS mem SET r_score = ranked.r, f_score = ranked.f, m_score = ranked.m
FROM ranked WHERE mem.id = ranked.id
  AND (mem.r_score, mem.f_score, mem.m_score) IS DISTINCT FROM (ranked.r, ranked.f, ranked.m)
"""
RFM_RESET_SQL = """
UPDATE {table} SET r_score = 0, f_score = 0, m_score = 0
WHERE (last_purchase_at IS NULL OR order_count = 0) AND (r_score, f_score, m_score) <> (0, 0, 0)
"""


def stats_recompute_nightly(now: datetime | None = None) -> dict[str, int]:
    """Lifecycle stages move with the calendar and quintiles with everyone's purchases, so both are
    recomputed nightly for the whole tenant (one statement each; re-running changes nothing)."""
    table = connection.ops.quote_name(Member._meta.db_table)
    params = _lifecycle_params(now or timezone.now())
    with transaction.atomic(), connection.cursor() as cursor:
        case = _lifecycle_case("first_purchase_at", "last_purchase_at")
        cursor.execute(LIFECYCLE_SQL.format(table=table, case=case), params)
        lifecycle_changed = cursor.rowcount
        cursor.execute(RFM_SQL.format(table=table))
        rfm_changed = cursor.rowcount
        cursor.execute(RFM_RESET_SQL.format(table=table))
        rfm_changed += cursor.rowcount
        MemberSettings.objects.filter(pk=member_settings().pk).update(rfm_boundaries=_rfm_boundaries())
    return {"lifecycle_changed": lifecycle_changed, "rfm_changed": rfm_changed}


_BOUNDARIES_SQL = """
SELECT count(*),
    {r}, {f}, {m}
FROM {table} WHERE last_purchase_at IS NOT NULL AND order_count > 0
"""


def _rfm_boundaries() -> dict[str, Any]:
    """Per metric, the value a member must exceed to reach scores 2..5, read off the scores the
    full ranking just gave: ``RFM_SQL`` gives score >= s exactly to the values above the largest
    value that scored below s (none when nobody did). One pass over the buyers, no sorting."""

    def maxima(column: str, score: str) -> str:
        return ", ".join(f"(max({column}) FILTER (WHERE {score} < {s}))::text" for s in range(2, 6))

    sql = _BOUNDARIES_SQL.format(
        table=connection.ops.quote_name(Member._meta.db_table),
        r=maxima("last_purchase_at", "r_score"),
        f=maxima("order_count", "f_score"),
        m=maxima("total_spend", "m_score"),
    )
    with connection.cursor() as cursor:
        cursor.execute(sql)
        row = cursor.fetchone()
    return {"n": row[0], "r": list(row[1:5]), "f": list(row[5:9]), "m": list(row[9:13])}


_SCORE_SQL = """
UPDATE {table} AS mem SET
    r_score = CASE WHEN last_purchase_at IS NULL OR order_count = 0 THEN 0
                   ELSE 1 + (SELECT count(*) FROM unnest(%(r)s::timestamptz[]) b WHERE b IS NOT NULL
                             AND mem.last_purchase_at > b)::int END,
    f_score = CASE WHEN last_purchase_at IS NULL OR order_count = 0 THEN 0
                   ELSE 1 + (SELECT count(*) FROM unnest(%(f)s::int[]) b WHERE b IS NOT NULL
                             AND mem.order_count > b)::int END,
    m_score = CASE WHEN last_purchase_at IS NULL OR order_count = 0 THEN 0
                   ELSE 1 + (SELECT count(*) FROM unnest(%(m)s::numeric[]) b WHERE b IS NOT NULL
                             AND mem.total_spend > b)::int END
WHERE mem.id = ANY(%(ids)s)
"""


def rfm_score_members(member_ids: list[int]) -> int:
    """Score the given members at once against the boundaries of the last full ranking (made now
    if there is none yet), so a first purchase shows in segments in seconds, not the next day.
    The nightly run ranks everyone again."""
    if not member_ids:
        return 0
    settings = member_settings()
    boundaries = settings.rfm_boundaries or {}
    if not boundaries.get("n"):
        stats_recompute_nightly()  # no full ranking yet: make one, which keeps its boundaries
        boundaries = member_settings().rfm_boundaries or {}
    table = connection.ops.quote_name(Member._meta.db_table)
    blank = [None] * 4
    with connection.cursor() as cursor:
        cursor.execute(
            _SCORE_SQL.format(table=table),
            {
                "ids": member_ids,
                "r": boundaries.get("r") or blank,
                "f": boundaries.get("f") or blank,
                "m": boundaries.get("m") or blank,
            },
        )
        return cursor.rowcount


REBUILD_SQL = """
UPDATE {member} AS m SET order_count = s.cnt, total_spend = s.spend, first_purchase_at = s.first,
    last_purchase_at = s.last,
    lifecycle = {case}
FROM (
    SELECT member_id, count(*) FILTER (WHERE status <> 'refunded') AS cnt,
        coalesce(sum(paid_amount - refunded_amount), 0) AS spend,
        min(paid_at) FILTER (WHERE status <> 'refunded') AS first,
        max(paid_at) FILTER (WHERE status <> 'refunded') AS last
    FROM {order} WHERE member_id IS NOT NULL {only} GROUP BY member_id
) AS s
WHERE m.id = s.member_id
"""


def stats_rebuild(member_ids: list[int] | None = None, *, rfm: bool = True) -> int:
    """Recompute purchase statistics from orders in one statement (after bulk loads of history),
    then lifecycle (and R/F/M quintiles, which move with everyone's purchases, unless ``rfm`` is
    off: the nightly job does them). Returns how many members were rebuilt."""
    from .models import Order

    only = "AND member_id = ANY(%(ids)s)" if member_ids is not None else ""
    params = {"ids": member_ids, **_lifecycle_params(timezone.now())}
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            REBUILD_SQL.format(
                member=connection.ops.quote_name(Member._meta.db_table),
                order=connection.ops.quote_name(Order._meta.db_table),
                only=only,
                case=_lifecycle_case("s.first", "s.last"),
            ),
            params,
        )
        rebuilt = cursor.rowcount
    if rfm:
        stats_recompute_nightly()
    return rebuilt


LIFECYCLE_FIELDS = ("new_days", "active_days", "at_risk_days", "dormant_days")


def member_settings_update(*, actor: Any, **days: Any) -> MemberSettings:
    """Change the lifecycle thresholds (days since the last purchase); they must grow in order."""
    from django.utils.translation import gettext as _

    from huiyuan.platform.access import check_permission
    from huiyuan.platform.audit import audit_record
    from huiyuan.platform.errors import ValidationFailed

    check_permission(actor, "members.field.manage")
    settings = member_settings()
    values = {name: getattr(settings, name) for name in LIFECYCLE_FIELDS}
    errors: dict[str, list[str]] = {}
    for name, raw in days.items():
        if name not in LIFECYCLE_FIELDS:
            continue
        try:
            values[name] = int(raw)
            if not 1 <= values[name] <= 3650:
                raise ValueError
        except (TypeError, ValueError):
            errors[name] = [_("A number of days between 1 and 3650.")]
    if not errors and not values["active_days"] < values["at_risk_days"] < values["dormant_days"]:
        errors["at_risk_days"] = [_("Active < at risk < dormant: each threshold must be longer than the one before.")]
    if errors:
        raise ValidationFailed(fields=errors)
    changes = {k: [getattr(settings, k), v] for k, v in values.items() if getattr(settings, k) != v}
    if changes:
        for name, value in values.items():
            setattr(settings, name, value)
        settings.save()
        audit_record(actor=actor, action="members.settings.update", obj=settings, changes=changes)
    return settings
