"""Refunds of checkout orders: money back through the order path, and in proportion the points
the order earned and the points and stored value it used, once per refund number."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.db import transaction
from django.db.models import Q, Sum
from django.db.models.functions import Coalesce
from django.utils.translation import gettext as _

from huiyuan.members.models import Member, Order
from huiyuan.members.orders import RefundResult, refund_record

from .ledger import points_spend, restore_points, stored_value_reverse
from .models import PointsEntry, StoredValueEntry

CENT = Decimal("0.01")


def _cents(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def checkout_refund(
    *,
    actor: Any,
    order_no: str,
    refund_no: str,
    amount: Any,
    reason: str = "",
    lines: list[dict[str, Any]] | None = None,
) -> RefundResult:
    """Refund money and reverse, in proportion, the points the order earned and the points and
    stored value it used. Cumulative targets make several partial refunds add up exactly to a full
    one, and the refund number keeps a retry from reversing twice."""
    with transaction.atomic():
        result = refund_record(
            actor=actor, order_no=order_no, refund_no=refund_no, amount=amount, reason=reason, lines=lines
        )
        if not result.created:
            return result
        order = Order.objects.get(pk=result.refund.order_id)
        benefits, member_id = order.benefits or {}, order.member_id
        if not benefits or member_id is None:
            return result
        paid = Decimal(benefits["paid"])
        share = order.refunded_amount / paid if paid else Decimal(1)  # cumulative share refunded
        key = f"refund:{refund_no}"
        earned = int(benefits.get("points_earned") or 0)
        # What earlier refunds of this order took back (negative) and gave back (positive).
        reversed_so_far = PointsEntry.objects.filter(
            member_id=member_id, kind=PointsEntry.Kind.REVERSE, cause="refund", cause_id=order.order_no
        ).aggregate(
            clawed=Coalesce(Sum("amount", filter=Q(amount__lt=0)), 0),
            returned=Coalesce(Sum("amount", filter=Q(amount__gt=0)), 0),
        )
        already_clawed = -reversed_so_far["clawed"]
        claw = int((earned * share).to_integral_value(rounding=ROUND_HALF_UP)) - already_clawed
        if claw > 0:
            # Points already spent cannot be taken back below zero: take what is left.
            available = Member.objects.get(pk=member_id).points_balance
            take = min(claw, available)
            if take:
                points_spend(
                    member_id=member_id,
                    amount=take,
                    idempotency_key=f"{key}:earned",
                    cause="refund",
                    cause_id=order.order_no,
                    reason=_("Refund of order %(no)s") % {"no": order.order_no},
                    actor=actor,
                    kind=PointsEntry.Kind.REVERSE,
                )
        used = int(benefits.get("points_used") or 0)
        give_back = int((used * share).to_integral_value(rounding=ROUND_HALF_UP)) - reversed_so_far["returned"]
        if give_back > 0:
            restore_points(
                member_id=member_id,
                order_no=order.order_no,
                amount=give_back,
                idempotency_key=f"{key}:used",
                actor=actor,
            )
        stored = Decimal(benefits.get("stored_value") or 0)
        if stored:
            returned = sum(
                e.principal + e.bonus
                for e in StoredValueEntry.objects.filter(
                    member_id=member_id, kind=StoredValueEntry.Kind.REVERSE, cause_id=order.order_no
                )
            )
            target = _cents(stored * share) - returned
            if target > 0:
                stored_value_reverse(
                    member_id=member_id,
                    order_no=order.order_no,
                    amount=target,
                    idempotency_key=f"{key}:sv",
                    actor=actor,
                )
    return result
