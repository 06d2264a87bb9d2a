"""Tiers: a member moves up as soon as their qualifying spend reaches a higher tier, and down only
at the periodic review, never within the grace period after reaching the tier. Every change is
recorded with its reason and emitted as ``tier.changed``."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from decimal import Decimal

from django.db import transaction
from django.db.models import F, Sum
from django.utils import timezone

from huiyuan.members.models import Member, Order
from huiyuan.platform.events.services import event_record

from .models import LoyaltySettings, Tier, TierChange


def qualifying_spend(member_id: int, tier: Tier | None, now: datetime) -> Decimal:
    orders = Order.objects.filter(member_id=member_id)
    if tier is not None and tier.window_days:
        orders = orders.filter(paid_at__gte=now - timedelta(days=tier.window_days))
    total = orders.aggregate(s=Sum(F("paid_amount") - F("refunded_amount")))["s"]
    return total or Decimal(0)


def best_tier(tiers: Iterable[Tier], spend_for: Callable[[Tier], Decimal]) -> tuple[Tier | None, Decimal]:
    """The highest tier (by rank) whose threshold the member's spend over that tier's window reaches."""
    best: tuple[Tier | None, Decimal] = (None, Decimal(0))
    for tier in sorted(tiers, key=lambda t: t.rank):
        spend = spend_for(tier)
        if spend >= tier.threshold_spend:
            best = (tier, spend)
    return best


def eligible_tier(member_id: int, now: datetime, tiers: list[Tier] | None = None) -> tuple[Tier | None, Decimal]:
    spend_by_window: dict[int | None, Decimal] = {}  # tiers usually share one window: one query

    def spend_for(tier: Tier) -> Decimal:
        if tier.window_days not in spend_by_window:
            spend_by_window[tier.window_days] = qualifying_spend(member_id, tier, now)
        return spend_by_window[tier.window_days]

    return best_tier(tiers if tiers is not None else Tier.objects.all(), spend_for)


def _change(member: Member, to: Tier | None, spend: Decimal, reason: str, now: datetime) -> TierChange:
    change = TierChange.objects.create(
        member=member, from_tier_id=member.tier_id, to_tier=to, reason=reason, qualifying_spend=spend
    )
    Member.objects.filter(pk=member.pk).update(tier=to, tier_since=now)
    event_record(
        "tier.changed",
        {
            "member_id": member.pk,
            "from_tier_id": change.from_tier_id,
            "to_tier_id": to.pk if to else None,
            "reason": reason,
        },
        aggregate_type="member",
        aggregate_id=member.pk,
    )
    return change


def tier_upgrade_if_eligible(
    member_id: int,
    *,
    reason: str = "spend",
    now: datetime | None = None,
    locked: Member | None = None,
    tiers: list[Tier] | None = None,
) -> TierChange | None:
    """Called in the transaction of every order: upgrades only, at once. ``locked``: the member
    row with its tier, when the caller holds its lock; ``tiers``: the tenant's tiers by rank."""
    if tiers is not None and not tiers:
        return None  # a merchant without tiers
    now = now or timezone.now()
    member = locked or Member.objects.select_for_update(of=("self",)).select_related("tier").get(pk=member_id)
    tier, spend = eligible_tier(member_id, now, tiers)
    if tier is not None and (member.tier is None or tier.rank > member.tier.rank):
        return _change(member, tier, spend, reason, now)
    return None


def tier_review(*, now: datetime | None = None, settings: LoyaltySettings | None = None) -> dict[str, int]:
    """The periodic review: move every member to the tier their spend earns, downgrading those
    past the grace period. Re-running it changes nothing."""
    from .ledger import loyalty_settings

    now = now or timezone.now()
    settings = settings or loyalty_settings()
    grace_start = now - timedelta(days=settings.tier_grace_days)
    counts = {"upgraded": 0, "downgraded": 0}
    members = Member.objects.filter(tier__isnull=False) | Member.objects.filter(order_count__gt=0)
    for member_id in members.values_list("pk", flat=True).iterator():
        with transaction.atomic():
            member = Member.objects.select_for_update(of=("self",)).select_related("tier").get(pk=member_id)
            tier, spend = eligible_tier(member_id, now)
            current_rank = member.tier.rank if member.tier else -1
            new_rank = tier.rank if tier else -1
            if new_rank > current_rank:
                _change(member, tier, spend, "review: upgrade", now)
                counts["upgraded"] += 1
            elif new_rank < current_rank and (member.tier_since is None or member.tier_since <= grace_start):
                _change(member, tier, spend, "review: downgrade", now)
                counts["downgraded"] += 1
    return counts
