"""Tiers: a member moves up as soon as their qualifying spend reaches a higher tier, and down only
at the periodic review, never within the grace period after reaching the tier. Every change is
recorded with its reason and emitted as ``tier.changed``."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from huiyuan.members.models import Member
from huiyuan.platform.errors import NotFound
from huiyuan.platform.events.services import events_record

from .models import LoyaltySettings, Tier, TierChange


def best_tier(tiers: Iterable[Tier], spend_for: Callable[[Tier], Decimal]) -> tuple[Tier | None, Decimal]:
    """The highest tier (by rank) whose threshold the member's spend over that tier's window reaches."""
    best: tuple[Tier | None, Decimal] = (None, Decimal(0))
    for tier in sorted(tiers, key=lambda t: t.rank):
        spend = spend_for(tier)
        if spend >= tier.threshold_spend:
            best = (tier, spend)
    return best


def tier_review(
    *, now: datetime | None = None, settings: LoyaltySettings | None = None, batch_size: int = 5000
) -> dict[str, int]:
    """The periodic review: move every member to the tier their spend earns, downgrading those
    past the grace period. Re-running it changes nothing.

    A batch of members at a time: their rows locked in id order (like every ledger write), their
    spend over each tier window summed in one query, the rule (``best_tier``) applied in Python,
    and the changes, history rows and events written in one statement each."""
    from .ledger import loyalty_settings

    now = now or timezone.now()
    settings = settings or loyalty_settings()
    tiers = list(Tier.objects.order_by("rank"))
    counts = {"upgraded": 0, "downgraded": 0}
    if not tiers:
        return counts
    grace_start = now - timedelta(days=settings.tier_grace_days)
    windows = sorted({t.window_days for t in tiers if t.window_days})
    after = 0
    while True:
        with transaction.atomic():
            members = list(
                Member.objects.select_for_update()
                .filter(Q(tier__isnull=False) | Q(order_count__gt=0), pk__gt=after)
                .order_by("pk")
                .values_list("pk", "tier_id", "tier_since")[:batch_size]
            )
            if not members:
                return counts
            after = members[-1][0]
            spend = _window_spend([m[0] for m in members], windows, now)
            by_id = {t.pk: t for t in tiers}
            changes: list[tuple[int, int | None, Tier | None, Decimal, str]] = []
            for member_id, tier_id, tier_since in members:
                tier, amount = best_tier(tiers, _spend_lookup(spend.get(member_id, {})))
                current = by_id.get(tier_id) if tier_id else None
                current_rank = current.rank if current else -1
                new_rank = tier.rank if tier else -1
                if new_rank > current_rank:
                    changes.append((member_id, tier_id, tier, amount, "review: upgrade"))
                    counts["upgraded"] += 1
                elif new_rank < current_rank and (tier_since is None or tier_since <= grace_start):
                    changes.append((member_id, tier_id, tier, amount, "review: downgrade"))
                    counts["downgraded"] += 1
            _apply_changes(changes, now)


def _spend_lookup(sums: dict[int | None, Decimal]) -> Callable[[Tier], Decimal]:
    return lambda tier: sums.get(tier.window_days or None, Decimal(0))


def _window_spend(member_ids: list[int], windows: list[int], now: datetime) -> dict[int, dict[int | None, Decimal]]:
    """Each member's spend (paid less refunded) over every tier window, and over all time (None)."""
    columns = ", ".join("coalesce(sum(paid_amount - refunded_amount) FILTER (WHERE paid_at >= %s), 0)" for _ in windows)
    # Only placeholders are formatted in: one column per window.
    sql = (
        f"SELECT member_id, coalesce(sum(paid_amount - refunded_amount), 0){', ' + columns if windows else ''} "  # noqa: S608
        "FROM members_order WHERE member_id = ANY(%s) GROUP BY member_id"
    )
    params: list[Any] = [now - timedelta(days=w) for w in windows] + [member_ids]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return {row[0]: {None: row[1], **dict(zip(windows, row[2:], strict=True))} for row in cursor.fetchall()}


def _apply_changes(changes: list[tuple[int, int | None, Tier | None, Decimal, str]], now: datetime) -> None:
    if not changes:
        return
    ranks = dict(Tier.objects.values_list("pk", "rank"))
    with connection.cursor() as cursor:
        cursor.execute(
            """UPDATE members_member m SET tier_id = c.tier_id, tier_since = %s
               FROM unnest(%s::bigint[], %s::bigint[]) AS c(member_id, tier_id) WHERE m.id = c.member_id""",
            [now, [c[0] for c in changes], [c[2].pk if c[2] else None for c in changes]],
        )
    TierChange.objects.bulk_create(
        TierChange(member_id=member_id, from_tier_id=from_id, to_tier=to, reason=reason, qualifying_spend=spend)
        for member_id, from_id, to, spend, reason in changes
    )
    events_record(
        "tier.changed",
        [
            (
                "member",
                member_id,
                {
                    "member_id": member_id,
                    "from_tier_id": from_id,
                    "to_tier_id": to.pk if to else None,
                    "reason": reason,
                    "upgrade": (ranks.get(to.pk, 0) if to else -1) > (ranks.get(from_id, -1) if from_id else -1),
                },
            )
            for member_id, from_id, to, _spend, reason in changes
        ],
    )


def tier_set(*, member_id: int, tier_id: int | None, reason: str) -> bool:
    """Put a member in a tier outside the spend rules (an approved VIP upgrade, an automation
    rule). Recorded and announced like every tier change; setting the tier they have does nothing."""
    with transaction.atomic():
        member = Member.objects.select_for_update().filter(pk=member_id).first()
        tier = Tier.objects.filter(pk=tier_id).first() if tier_id else None
        if member is None or (tier_id and tier is None):
            raise NotFound()
        if member.tier_id == (tier.pk if tier else None):
            return False
        _apply_changes([(member.pk, member.tier_id, tier, Decimal(0), reason[:255])], timezone.now())
    return True
