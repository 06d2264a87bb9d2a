"""Reading automation: a rule's results and its runs log, campaigns' effect, messages, inbox."""

from __future__ import annotations

from typing import Any

from django.db import connection
from django.db.models import QuerySet

from huiyuan.platform.access import check_permission

from .models import Message, Rule, Step

RULE_STATS_SQL = """
SELECT
  (SELECT count(*) FROM automation_run r WHERE r.rule_id = %(rule)s) AS reached,
  (SELECT count(*) FROM automation_message msg WHERE msg.rule_id = %(rule)s AND msg.status = 'sent') AS sent,
  (SELECT count(*) FROM automation_step s JOIN automation_run r ON r.id = s.run_id
    WHERE r.rule_id = %(rule)s AND s.status = 'dead') AS failed,
  (SELECT count(*) FROM automation_step s JOIN automation_run r ON r.id = s.run_id
    WHERE r.rule_id = %(rule)s AND s.status = 'skipped') AS skipped,
  (SELECT count(*) FROM loyalty_coupon c JOIN automation_step s ON c.issue_key = 'automation:step:' || s.id
     JOIN automation_run r ON r.id = s.run_id WHERE r.rule_id = %(rule)s) AS coupons_issued,
  (SELECT count(*) FROM loyalty_coupon c JOIN automation_step s ON c.issue_key = 'automation:step:' || s.id
     JOIN automation_run r ON r.id = s.run_id WHERE r.rule_id = %(rule)s AND c.status = 'redeemed') AS coupons_redeemed,
  (SELECT coalesce(sum(o.paid_amount - o.refunded_amount), 0) FROM members_order o
     WHERE EXISTS (SELECT 1 FROM automation_run r WHERE r.rule_id = %(rule)s AND r.member_id = o.member_id
                   AND o.paid_at >= r.created_at)) AS sales
"""


def rule_stats(rule: Rule) -> dict[str, Any]:
    """Reached members, messages sent, failed and skipped actions, coupons issued and redeemed, and
    sales from reached members after they were reached."""
    with connection.cursor() as cursor:
        cursor.execute(RULE_STATS_SQL, {"rule": rule.pk})
        row = cursor.fetchone()
        names = [col.name for col in cursor.description]
    return dict(zip(names, row, strict=True))


def rule_steps(*, actor: Any, rule_id: int, status: str = "") -> QuerySet[Step]:
    """The runs log of a rule: each action for each member, newest first."""
    check_permission(actor, "automation.rule.manage")
    qs = Step.objects.filter(run__rule_id=rule_id).select_related("run__member", "run__version").order_by("-pk")
    if status:
        qs = qs.filter(status=status)
    return qs


def member_messages(member_id: int) -> QuerySet[Message]:
    return Message.objects.filter(member_id=member_id).order_by("-pk")


def message_list(*, actor: Any, status: str = "", channel: str = "") -> QuerySet[Message]:
    """Messages to members, newest first, within the members the actor may see."""
    from huiyuan.members.selectors import member_list

    check_permission(actor, "automation.rule.manage")
    qs = Message.objects.filter(member__in=member_list(actor=actor).values("pk")).select_related("member", "rule")
    if status:
        qs = qs.filter(status=status)
    if channel:
        qs = qs.filter(channel=channel)
    return qs.order_by("-pk")
