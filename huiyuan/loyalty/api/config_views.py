"""Loyalty configuration API (points settings, earn rules, tiers) and the manual side of the
points ledger (adjustments with approval, points exchanged for coupons). Thin views over
``loyalty.config`` and ``loyalty.adjustments``."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from huiyuan.platform.api.base import TenantAPIView
from huiyuan.platform.api.inputs import CountField, StrictSerializer, TextField, validated
from huiyuan.platform.api.pagination import JSON_OBJECT_LIST
from huiyuan.platform.errors import ValidationFailed
from huiyuan.platform.idempotency import idempotent

from .. import adjustments, config, selectors
from ..ledger import loyalty_settings
from ..models import EarnRule, PointsAdjustment, Tier
from .views import _body, _ledger_key

READ, WRITE = "loyalty.order.create", "loyalty.config.manage"
EARN_RULE_FIELDS = frozenset({"kind", "match", "multiplier", "active"})
TIER_FIELDS = frozenset(
    {"name", "threshold_spend", "window_days", "discount_rate", "points_multiplier", "birthday_gift", "free_shipping"}
)


def _known(request: Request, allowed: frozenset[str]) -> dict[str, Any]:
    """The JSON body, refusing fields this endpoint does not take (the service checks values)."""
    data = _body(request)
    if unknown := sorted(str(k) for k in data if k not in allowed):
        raise ValidationFailed(fields={name: [_("Unknown field.")] for name in unknown})
    return data


class AdjustmentInput(StrictSerializer):
    amount = CountField(help_text="points to add (negative to deduct)")
    reason = TextField(max_length=255)


class DecisionInput(StrictSerializer):
    approve = serializers.BooleanField()
    note = TextField(required=False, allow_blank=True, max_length=255, default="")


class ExchangeInput(StrictSerializer):
    template_id = CountField(min_value=1)


def _rule(rule: EarnRule, label: str = "") -> dict[str, Any]:
    return {
        "id": rule.pk,
        "kind": rule.kind,
        "match": rule.match,
        "label": label or config.earn_rule_labels([rule])[rule.pk],
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

    @extend_schema(responses=JSON_OBJECT_LIST)
    def get(self, request: Request) -> Response:
        rules = selectors.earn_rule_list()
        labels = config.earn_rule_labels(rules)
        return Response([_rule(r, labels[r.pk]) for r in rules])

    @idempotent()
    def post(self, request: Request) -> Response:
        rule = config.earn_rule_create(actor=request.user, data=_known(request, EARN_RULE_FIELDS))
        return Response(_rule(rule), status=status.HTTP_201_CREATED)


class EarnRuleDetailView(TenantAPIView):
    """Change the multiplier or switch the rule off (``{"active": false}``)."""

    operations = {"PATCH": WRITE}

    def patch(self, request: Request, rule_id: int) -> Response:
        data = _known(request, EARN_RULE_FIELDS)
        return Response(_rule(config.earn_rule_update(actor=request.user, rule_id=rule_id, data=data)))


class TierListView(TenantAPIView):
    operations = {"GET": READ, "POST": WRITE}

    @extend_schema(responses=JSON_OBJECT_LIST)
    def get(self, request: Request) -> Response:
        return Response([_tier(t) for t in selectors.tier_list()])

    @idempotent()
    def post(self, request: Request) -> Response:
        return Response(
            _tier(config.tier_save(actor=request.user, data=_known(request, TIER_FIELDS))),
            status=status.HTTP_201_CREATED,
        )


class TierDetailView(TenantAPIView):
    operations = {"PATCH": WRITE, "DELETE": WRITE}

    def patch(self, request: Request, tier_id: int) -> Response:
        data = _known(request, TIER_FIELDS)
        return Response(_tier(config.tier_save(actor=request.user, tier_id=tier_id, data=data)))

    def delete(self, request: Request, tier_id: int) -> Response:
        config.tier_delete(actor=request.user, tier_id=tier_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


def _adjustment(adjustment: PointsAdjustment) -> dict[str, Any]:
    return {
        "id": adjustment.pk,
        "member_id": adjustment.member_id,
        "amount": adjustment.amount,
        "reason": adjustment.reason,
        "status": adjustment.status,
        "requested_by": str(adjustment.requested_by) if adjustment.requested_by_id else None,
        "decided_by": str(adjustment.decided_by) if adjustment.decided_by_id else None,
        "decision_note": adjustment.decision_note,
        "entry_id": adjustment.entry_id,
        "created_at": adjustment.created_at,
    }


class MemberPointsAdjustmentView(TenantAPIView):
    """Correct a member's points by hand with a reason (``Idempotency-Key`` required). 201 when
    applied; 202 when it is above the approval threshold and waits for a second person."""

    operation = "loyalty.balance.adjust"

    @extend_schema(request=AdjustmentInput)
    def post(self, request: Request, member_id: int) -> Response:
        key = _ledger_key(request)
        data = validated(AdjustmentInput, request.data)
        adjustment = adjustments.points_adjust(
            actor=request.user,
            member_id=member_id,
            amount=data["amount"],
            reason=data["reason"],
            idempotency_key=f"api:{key}",
        )
        applied = adjustment.status == PointsAdjustment.Status.APPLIED
        return Response(
            _adjustment(adjustment), status=status.HTTP_201_CREATED if applied else status.HTTP_202_ACCEPTED
        )


class PointsAdjustmentListView(TenantAPIView):
    """Adjustments of members in your stores; ``?status=pending`` (default), ``applied``, ``rejected``
    or ``all``."""

    operation = "loyalty.balance.adjust"

    @extend_schema(responses=JSON_OBJECT_LIST)
    def get(self, request: Request) -> Response:
        wanted = request.query_params.get("status", PointsAdjustment.Status.PENDING)
        if wanted not in [*PointsAdjustment.Status.values, "all"]:
            raise ValidationFailed(fields={"status": [_("pending, applied, rejected or all.")]})
        qs = adjustments.pending_adjustments(actor=request.user, status=None if wanted == "all" else wanted)
        return Response([_adjustment(a) for a in qs[:200]])


class PointsAdjustmentDecisionView(TenantAPIView):
    """``{"approve": true | false, "note": "..."}``: apply or reject a waiting adjustment."""

    operation = "loyalty.adjustment.approve"

    @extend_schema(request=DecisionInput)
    def post(self, request: Request, adjustment_id: int) -> Response:
        data = validated(DecisionInput, request.data)
        adjustment = adjustments.points_adjustment_decide(
            actor=request.user, adjustment_id=adjustment_id, approve=data["approve"], note=data["note"]
        )
        return Response(_adjustment(adjustment))


class MemberCouponExchangeView(TenantAPIView):
    """Exchange points for a coupon or gift voucher (``{"template_id": …}``; ``Idempotency-Key``
    required): the points are spent and the coupon issued together, once."""

    operation = "loyalty.order.create"

    @extend_schema(request=ExchangeInput)
    def post(self, request: Request, member_id: int) -> Response:
        key = _ledger_key(request)
        template_id = validated(ExchangeInput, request.data)["template_id"]
        coupon = adjustments.coupon_exchange(
            actor=request.user, member_id=member_id, template_id=template_id, idempotency_key=f"api:{key}"
        )
        body = {
            "coupon_id": coupon.pk,
            "code": coupon.code,
            "template_id": coupon.template_id,
            "valid_until": coupon.valid_until,
        }
        return Response(body, status=status.HTTP_201_CREATED)
