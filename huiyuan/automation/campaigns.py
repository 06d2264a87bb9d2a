"""Campaigns: act once on every member of a segment (a coupon, a message, a task), now or at a
set time, with a random hold-out group kept out and recorded so the effect can be measured.

A campaign is a rule of its own (trigger "campaign") so it shares the engine, the guards and the
runs log. The audience is the segment as the launching staff member may see it (their stores),
frozen when the campaign runs."""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

from django.db import connection, transaction
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from huiyuan.members.models import Member
from huiyuan.members.segments import segment_get, segment_members
from huiyuan.platform.access import check_permission
from huiyuan.platform.audit import audit_record
from huiyuan.platform.errors import Conflict, NotFound, ValidationFailed
from huiyuan.platform.events.registry import Event, subscribe
from huiyuan.platform.events.services import deliveries_schedule

from .engine import runs_start
from .models import Campaign, CampaignMember, Rule
from .registry import ACTIONS, CHANNELS
from .rules import actions_clean, version_write

CAMPAIGN_DUE = "automation.campaign"
SAMPLE_SIZE = 10


def in_holdout(campaign_id: int, member_id: int, percent: int) -> bool:
    """A stable random draw: the same member is in or out of a campaign's hold-out every time."""
    digest = hashlib.sha256(f"{campaign_id}:{member_id}".encode()).digest()
    return int.from_bytes(digest[:4], "big") % 100 < percent


def _audience(actor: Any, segment_id: int) -> tuple[Any, QuerySet[Member]]:
    segment = segment_get(actor=actor, segment_id=segment_id)
    return segment, segment_members(actor=actor, rule=segment.rule).filter(status=Member.Status.ACTIVE)


def campaign_preview(*, actor: Any, segment_id: int, actions: Any, holdout_percent: int = 0) -> dict[str, Any]:
    """Count, a sample and the cost (messages by channel, coupons) before anything is sent."""
    check_permission(actor, "automation.rule.manage")
    cleaned = actions_clean(actions, actor)
    holdout_percent = _percent(holdout_percent)
    _segment, members = _audience(actor, segment_id)
    count = members.count()
    reached = count - round(count * holdout_percent / 100)
    cost: dict[str, int] = {}
    for action in cleaned:
        if ACTIONS[action["type"]].sends_message:
            channel = CHANNELS[action["channel"]]
            reachable = members
            if channel.consent_field:
                reachable = reachable.filter(**{channel.consent_field: True})
            if channel.key == "email":
                reachable = reachable.exclude(email="")
            share = reachable.count() * (100 - holdout_percent) // 100
            cost[f"messages:{channel.key}"] = cost.get(f"messages:{channel.key}", 0) + share
        if ACTIONS[action["type"]].issues_coupon:
            cost["coupons"] = cost.get("coupons", 0) + reached
        if action["type"] == "create_task":
            cost["tasks"] = cost.get("tasks", 0) + reached
    sample = list(members.order_by("?").values("pk", "card_no", "name")[:SAMPLE_SIZE])
    return {"count": count, "reached": reached, "held_out": count - reached, "cost": cost, "sample": sample}


def _percent(value: Any) -> int:
    try:
        percent = int(value or 0)
    except (TypeError, ValueError):
        percent = -1
    if not 0 <= percent <= 50:
        raise ValidationFailed(fields={"holdout_percent": [_("A hold-out share from 0 to 50 percent.")]})
    return percent


def campaign_create(
    *,
    actor: Any,
    name: str,
    segment_id: int,
    actions: Any,
    holdout_percent: int = 0,
    scheduled_at: datetime | None = None,
) -> Campaign:
    check_permission(actor, "automation.rule.manage")
    cleaned = actions_clean(actions, actor)
    percent = _percent(holdout_percent)
    if not str(name or "").strip():
        raise ValidationFailed(fields={"name": [_("Enter a name.")]})
    now = timezone.now()
    if scheduled_at is not None and scheduled_at < now:
        raise ValidationFailed(fields={"scheduled_at": [_("Choose a time in the future, or send now.")]})
    segment, _members = _audience(actor, segment_id)
    with transaction.atomic():
        rule = Rule.objects.create(
            name=name.strip()[:100], is_campaign=True, status=Rule.Status.ACTIVE, created_by=actor
        )
        rule.version = version_write(
            rule,
            {
                "trigger": {"type": "campaign"},
                "conditions": {"member": None, "event": []},
                "actions": cleaned,
                "guards": {"once_per": "ever", "quiet_hours": True},
            },
            actor,
        )
        rule.save(update_fields=["version"])
        campaign = Campaign.objects.create(
            name=rule.name,
            segment=segment,
            audience=segment.rule,
            rule=rule,
            holdout_percent=percent,
            scheduled_at=scheduled_at or now,
            created_by=actor,
        )
        audit_record(
            actor=actor,
            action="automation.campaign.create",
            obj=campaign,
            changes={"segment": segment.name, "holdout_percent": percent},
        )
        if scheduled_at is None:
            campaign_launch(campaign, actor=actor)
            campaign.refresh_from_db()
        else:
            deliveries_schedule(CAMPAIGN_DUE, CAMPAIGN_DUE, [({"campaign_id": campaign.pk}, scheduled_at)])
    return campaign


def campaign_launch(campaign: Campaign, *, actor: Any) -> int:
    """Freeze the audience (as ``actor`` sees it), draw the hold-out, record everyone, start the
    runs of the rest. Runs once per campaign."""
    campaign = Campaign.objects.select_for_update(of=("self",)).select_related("rule__version").get(pk=campaign.pk)
    if campaign.status != Campaign.Status.SCHEDULED:
        return 0
    members = segment_members(actor=actor, rule=campaign.audience).filter(status=Member.Status.ACTIVE)
    ids = list(members.values_list("pk", flat=True))
    held = {i for i in ids if in_holdout(campaign.pk, i, campaign.holdout_percent)}
    CampaignMember.objects.bulk_create(
        (CampaignMember(campaign=campaign, member_id=i, holdout=i in held) for i in ids), batch_size=5000
    )
    reach = [i for i in ids if i not in held]
    version = campaign.rule.version
    assert version is not None
    started = runs_start(version, None, now=timezone.now(), member_ids=reach, period=("%s", ["campaign"]))
    campaign.status, campaign.launched_at = Campaign.Status.DONE, timezone.now()
    campaign.reached, campaign.held_out = started, len(held)
    campaign.save(update_fields=["status", "launched_at", "reached", "held_out"])
    return started


def _on_campaign_due(event: Event) -> None:
    campaign = Campaign.objects.select_related("created_by").filter(pk=event.payload["campaign_id"]).first()
    if campaign is None or campaign.status != Campaign.Status.SCHEDULED:
        return
    # The audience is what its creator may see, as at the time it runs.
    creator = campaign.created_by
    if creator is None or not creator.is_active:
        campaign.status = Campaign.Status.CANCELLED
        campaign.save(update_fields=["status"])
        return
    campaign_launch(campaign, actor=creator)


subscribe(CAMPAIGN_DUE, CAMPAIGN_DUE, _on_campaign_due, label=gettext_lazy("Scheduled campaigns"))


def campaign_cancel(*, actor: Any, campaign_id: int) -> Campaign:
    check_permission(actor, "automation.rule.manage")
    with transaction.atomic():
        campaign = Campaign.objects.select_for_update().filter(pk=campaign_id).first()
        if campaign is None:
            raise NotFound()
        if campaign.status != Campaign.Status.SCHEDULED:
            raise Conflict(_("This campaign has already run."), code="CAMPAIGN_DONE")
        campaign.status = Campaign.Status.CANCELLED
        campaign.save(update_fields=["status"])
        audit_record(actor=actor, action="automation.campaign.cancel", obj=campaign, changes={})
    return campaign


def campaign_list(*, actor: Any) -> QuerySet[Campaign]:
    check_permission(actor, "automation.rule.manage")
    return Campaign.objects.select_related("segment", "rule")


def campaign_effect(campaign: Campaign) -> dict[str, Any]:
    """Buyers and sales since launch, reached group against hold-out group."""
    if campaign.launched_at is None:
        return {}
    sql = """
        SELECT cm.holdout, count(DISTINCT cm.member_id) AS members,
               count(DISTINCT o.member_id) AS buyers, coalesce(sum(o.paid_amount - o.refunded_amount), 0) AS sales
          FROM automation_campaignmember cm
          LEFT JOIN members_order o ON o.member_id = cm.member_id AND o.paid_at >= %s
         WHERE cm.campaign_id = %s GROUP BY cm.holdout
    """
    with connection.cursor() as cursor:
        cursor.execute(sql, [campaign.launched_at, campaign.pk])
        rows = {holdout: (members, buyers, sales) for holdout, members, buyers, sales in cursor.fetchall()}
    result = {}
    for name, holdout in (("reached", False), ("holdout", True)):
        members, buyers, sales = rows.get(holdout, (0, 0, 0))
        result[name] = {
            "members": members,
            "buyers": buyers,
            "sales": sales,
            "rate": round(buyers / members * 100, 1) if members else None,
        }
    return result
