"""Loyalty configuration API: points settings, earn rules and tiers. Thin views over
``loyalty.config``; anyone who takes orders may read the configuration, configurers change it."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response

from huiyuan.platform.api.base import TenantAPIView

from .. import config
from ..ledger import loyalty_settings
from ..models import EarnRule, Tier
from .views import _body

READ, WRITE = "loyalty.order.create", "loyalty.config.manage"


def _rule(rule: EarnRule) -> dict[str, Any]:
    return {
        "id": rule.pk,
        "kind": rule.kind,
        "match": rule.match,
        "multiplier": f"{Decimal(rule.multiplier):.2f}",
        "active": rule.active,
    }


def _tier(tier: Tier) -> dict[str, Any]:
    return {
        "id": tier.pk,
        "name": tier.name,
        "rank": tier.rank,
        "threshold_spend": f"{Decimal(tier.threshold_spend):.2f}",
        "window_days": tier.window_days,
        "discount_rate": f"{Decimal(tier.discount_rate):.3f}",
        "points_multiplier": f"{Decimal(tier.points_multiplier):.2f}",
        "birthday_gift": tier.birthday_gift,
        "free_shipping": tier.free_shipping,
    }


class LoyaltySettingsView(TenantAPIView):
    """Earn rate, rounding, cap, excluded categories, expiry, redemption, bonus use, tier grace and
    reminder days. ``PATCH`` changes the fields given."""

    operations = {"GET": READ, "PATCH": WRITE}

    def get(self, request: Request) -> Response:
        return Response(config.settings_data(loyalty_settings()))

    def patch(self, request: Request) -> Response:
        settings = config.loyalty_settings_update(actor=request.user, data=_body(request))
        return Response(config.settings_data(settings))


class EarnRuleListView(TenantAPIView):
    operations = {"GET": READ, "POST": WRITE}

    def get(self, request: Request) -> Response:
        return Response([_rule(r) for r in EarnRule.objects.order_by("-active", "pk")])

    def post(self, request: Request) -> Response:
        rule = config.earn_rule_create(actor=request.user, data=_body(request))
        return Response(_rule(rule), status=status.HTTP_201_CREATED)


class EarnRuleDetailView(TenantAPIView):
    """Change the multiplier or switch the rule off (``{"active": false}``)."""

    operations = {"PATCH": WRITE}

    def patch(self, request: Request, rule_id: int) -> Response:
        return Response(_rule(config.earn_rule_update(actor=request.user, rule_id=rule_id, data=_body(request))))


class TierListView(TenantAPIView):
    operations = {"GET": READ, "POST": WRITE}

    def get(self, request: Request) -> Response:
        return Response([_tier(t) for t in Tier.objects.order_by("rank")])

    def post(self, request: Request) -> Response:
        return Response(
            _tier(config.tier_save(actor=request.user, data=_body(request))), status=status.HTTP_201_CREATED
        )


class TierDetailView(TenantAPIView):
    operations = {"PATCH": WRITE, "DELETE": WRITE}

    def patch(self, request: Request, tier_id: int) -> Response:
        return Response(_tier(config.tier_save(actor=request.user, tier_id=tier_id, data=_body(request))))

    def delete(self, request: Request, tier_id: int) -> Response:
        config.tier_delete(actor=request.user, tier_id=tier_id)
        return Response(status=status.HTTP_204_NO_CONTENT)
