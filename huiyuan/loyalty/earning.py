"""How many points an order earns: base rate per yuan paid, multiplied by every matching rule
(tier, store, category per line, weekday, birthday month), excluded categories earning nothing,
rounded per the tenant's setting and capped per order."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_UP, Decimal

from huiyuan.members.models import Member
from huiyuan.platform.tenancy import tenant_timezone

from .models import EarnRule, LoyaltySettings

ROUNDING = {"down": ROUND_FLOOR, "half_up": ROUND_HALF_UP, "up": ROUND_CEILING}


@dataclass(frozen=True)
class EarnLine:
    category: str
    amount: Decimal  # the money actually paid for this line (after discounts)


def points_for_order(
    *,
    member: Member,
    store_id: int,
    paid_at: datetime,
    lines: Sequence[EarnLine],
    settings: LoyaltySettings,
    rules: Sequence[EarnRule] | None = None,
) -> int:
    rules = list(EarnRule.objects.filter(active=True)) if rules is None else list(rules)
    local = paid_at.astimezone(tenant_timezone())
    order_multiplier = Decimal(1)
    if member.tier_id and member.tier is not None:
        order_multiplier *= member.tier.points_multiplier
    for rule in rules:
        if (
            (rule.kind == EarnRule.Kind.TIER and rule.match == str(member.tier_id))
            or (rule.kind == EarnRule.Kind.STORE and rule.match == str(store_id))
            or (rule.kind == EarnRule.Kind.WEEKDAY and rule.match == str(local.isoweekday()))
            or (rule.kind == EarnRule.Kind.BIRTHDAY_MONTH and member.birthday and member.birthday.month == local.month)
        ):
            order_multiplier *= rule.multiplier
    by_category = {r.match: r.multiplier for r in rules if r.kind == EarnRule.Kind.CATEGORY}
    excluded = set(settings.excluded_categories or [])
    raw = Decimal(0)
    for line in lines:
        if line.category in excluded or line.amount <= 0:
            continue
        raw += line.amount * settings.points_per_yuan * by_category.get(line.category, Decimal(1))
    points = int((raw * order_multiplier).to_integral_value(rounding=ROUNDING[settings.points_rounding]))
    if settings.max_points_per_order is not None:
        points = min(points, settings.max_points_per_order)
    return max(points, 0)
