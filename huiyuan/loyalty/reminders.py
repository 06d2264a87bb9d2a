"""Expiry reminders: ``points.expiring`` (one per member, for all their points expiring within the
tenant's reminder window) and ``coupon.expiring`` (one per coupon). Automation turns them into
messages. Each lot and coupon is reminded once: the job marks what it announced in the same
statement that records the events, so re-running it announces nothing twice."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from huiyuan.platform.events.services import publish_after_commit
from huiyuan.platform.tenancy import current_schema

from .ledger import loyalty_settings

POINTS_EXPIRING_SQL = """
WITH due AS (
    UPDATE loyalty_pointslot SET expiry_reminded_at = %(now)s
    WHERE remaining > 0 AND expires_at > %(now)s AND expires_at <= %(until)s AND expiry_reminded_at IS NULL
    RETURNING member_id, remaining, expires_at
), per_member AS (
    SELECT member_id, sum(remaining) AS points, min(expires_at) AS first_expiry FROM due GROUP BY member_id
)
INSERT INTO events_outboxevent (tenant_schema, event_type, aggregate_type, aggregate_id, payload, created_at,
    attempts, last_error)
SELECT %(schema)s, 'points.expiring', 'member', p.member_id::text,
    jsonb_build_object('member_id', p.member_id, 'points', p.points, 'expires_at', p.first_expiry,
        'balance', m.points_balance),
    %(now)s, 0, ''
FROM per_member p JOIN members_member m ON m.id = p.member_id
RETURNING id
"""

COUPONS_EXPIRING_SQL = """
WITH due AS (
    UPDATE loyalty_coupon SET expiry_reminded_at = %(now)s
    WHERE status = 'issued' AND valid_until > %(now)s AND valid_until <= %(until)s AND expiry_reminded_at IS NULL
    RETURNING id, code, member_id, template_id, valid_until
)
INSERT INTO events_outboxevent (tenant_schema, event_type, aggregate_type, aggregate_id, payload, created_at,
    attempts, last_error)
SELECT %(schema)s, 'coupon.expiring', 'coupon', due.id::text,
    jsonb_build_object('coupon_id', due.id, 'code', due.code, 'member_id', due.member_id,
        'template_id', due.template_id, 'template_name', t.name, 'valid_until', due.valid_until),
    %(now)s, 0, ''
FROM due JOIN loyalty_coupontemplate t ON t.id = due.template_id
RETURNING id
"""


def expiry_reminders_send(*, now: datetime | None = None) -> dict[str, int]:
    """Announce points and coupons expiring within the tenant's reminder window."""
    settings = loyalty_settings()
    if not settings.expiry_reminder_days:
        return {"points_expiring": 0, "coupons_expiring": 0}
    now = now or timezone.now()
    params: dict[str, Any] = {
        "now": now,
        "until": now + timedelta(days=settings.expiry_reminder_days),
        "schema": current_schema(),
    }
    counts = {}
    with transaction.atomic(), connection.cursor() as cursor:
        for name, sql in (("points_expiring", POINTS_EXPIRING_SQL), ("coupons_expiring", COUPONS_EXPIRING_SQL)):
            cursor.execute(sql, params)
            ids = [pk for (pk,) in cursor.fetchall()]
            publish_after_commit(ids)
            counts[name] = len(ids)
    return counts
