"""Checkout: one call from the POS computes the member's tier discount, the coupon, points and
stored-value options, and commits the order with every earning and redemption in one
transaction. ``order_no`` keys everything: a replay returns the first result and writes nothing.
Refunds reverse what the order earned and used, in proportion to the amount refunded, once.

Amounts, in order: gross (lines) → tier discount → coupon → points (as cash) → what the member
pays, from stored value first as asked and the rest by the POS's own methods (WeChat, cash…).
Points are earned on what the member actually paid in money, stored value included.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_FLOOR, ROUND_HALF_UP, Decimal
from typing import Any

from django.db import transaction
from django.utils.translation import gettext as _

from huiyuan.members.models import Member, Order
from huiyuan.members.orders import RefundResult, find_member, order_record, refund_record
from huiyuan.platform.access import check_permission
from huiyuan.platform.errors import ValidationFailed

from .coupons import coupon_discount, coupon_redeem, normalize_code
from .earning import EarnLine, points_for_order
from .exceptions import CouponNotUsable, InsufficientBalance, InsufficientPoints
from .ledger import (
    loyalty_settings,
    points_earn,
    points_spend,
    restore_points,
    stored_value_reverse,
    stored_value_spend,
)
from .models import Coupon, LoyaltySettings, PointsEntry, StoredValueEntry, Tier
from .tiers import tier_upgrade_if_eligible

CENT = Decimal("0.01")


def _cents(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


@dataclass
class Quote:
    member: Member | None
    gross: Decimal
    tier_discount: Decimal
    coupon_code: str
    coupon_discount: Decimal
    points_used: int
    points_value: Decimal
    stored_value: Decimal
    due_external: Decimal
    points_to_earn: int
    max_points_usable: int
    settings: LoyaltySettings
    tiers: list[Tier]

    @property
    def paid(self) -> Decimal:
        """What the member pays in money (stored value included); the order's paid amount."""
        return self.gross - self.tier_discount - self.coupon_discount - self.points_value

    def as_dict(self) -> dict[str, Any]:
        return {
            "member_id": self.member.pk if self.member else None,
            "gross": str(self.gross),
            "tier_discount": str(self.tier_discount),
            "coupon_code": self.coupon_code,
            "coupon_discount": str(self.coupon_discount),
            "points_used": self.points_used,
            "points_value": str(self.points_value),
            "stored_value": str(self.stored_value),
            "due_external": str(self.due_external),
            "paid": str(self.paid),
            "points_to_earn": self.points_to_earn,
            "max_points_usable": self.max_points_usable,
            "points_balance": self.member.points_balance if self.member else 0,
            "stored_value_balance": str(self.member.stored_principal + self.member.stored_bonus)
            if self.member
            else "0",
        }


def _decimal(raw: Any, field: str) -> Decimal:
    try:
        value = Decimal(str(raw))
    except ArithmeticError as exc:
        raise ValidationFailed(fields={field: [_("Enter an amount such as 88.50.")]}) from exc
    if not value.is_finite() or value < 0 or value != value.quantize(CENT):
        raise ValidationFailed(fields={field: [_("Enter a positive amount with at most two decimals.")]})
    return value


def checkout_quote(*, data: dict[str, Any], store_id: int) -> Quote:
    """Work out every discount and option for a basket; writes nothing."""
    settings = loyalty_settings()
    ref = data.get("member") or {}
    member = find_member(member_id=ref.get("id"), phone=ref.get("phone"), card_no=ref.get("card_no"))
    if member is not None:
        member = Member.objects.select_related("tier").get(pk=member.pk)
    lines = data.get("lines") or []
    gross = (
        sum((_decimal(line.get("amount"), f"lines[{i}].amount") for i, line in enumerate(lines)), Decimal(0))
        if lines
        else _decimal(data.get("total_amount"), "total_amount")
    )
    tier_discount = Decimal(0)
    if member is not None and member.tier is not None and member.tier.discount_rate < 1:
        tier_discount = _cents(gross * (1 - member.tier.discount_rate))
    after_tier = gross - tier_discount

    coupon_code, coupon_off = "", Decimal(0)
    if data.get("coupon_code"):
        coupon = Coupon.objects.select_related("template").filter(code=normalize_code(str(data["coupon_code"]))).first()
        if coupon is None or member is None or coupon.member_id != member.pk:
            raise CouponNotUsable(_("No such coupon for this member."), code="COUPON_NOT_FOUND")
        coupon_code, coupon_off = coupon.code, coupon_discount(coupon.template, after_tier)
    after_coupon = after_tier - coupon_off

    points_balance = member.points_balance if member else 0
    cap_value = (after_coupon * settings.max_points_share).quantize(CENT, rounding=ROUND_FLOOR)
    max_points = min(points_balance, int(cap_value * settings.points_per_yuan_redeemed))
    points_used = int(data.get("points") or 0)
    if points_used < 0 or points_used > max_points:
        raise InsufficientPoints(
            _("At most %(n)d points can pay for this order.") % {"n": max_points}, fields={"points": [str(max_points)]}
        )
    points_value = (Decimal(points_used) / settings.points_per_yuan_redeemed).quantize(CENT, rounding=ROUND_FLOOR)
    after_points = after_coupon - points_value

    stored_value = _decimal(data.get("stored_value") or "0", "stored_value")
    balance = (member.stored_principal + member.stored_bonus) if member else Decimal(0)
    if stored_value > min(balance, after_points):
        raise InsufficientBalance(
            _("Balance %(available)s, %(amount)s needed.") % {"available": balance, "amount": stored_value}
        )
    due_external = after_points - stored_value

    points_to_earn = 0
    if member is not None and after_points > 0:
        shares = _line_shares(lines, gross, after_points)
        points_to_earn = points_for_order(
            member=member, store_id=store_id, paid_at=_paid_at(data), lines=shares, settings=settings
        )
    return Quote(
        member,
        gross,
        tier_discount,
        coupon_code,
        coupon_off,
        points_used,
        points_value,
        stored_value,
        due_external,
        points_to_earn,
        max_points,
        settings,
        list(Tier.objects.order_by("rank")),
    )


def _line_shares(lines: list[dict[str, Any]], gross: Decimal, paid: Decimal) -> list[EarnLine]:
    """Spread the money actually paid over the lines in proportion to their gross amounts."""
    if not lines or gross == 0:
        return [EarnLine(category="", amount=paid)]
    return [
        EarnLine(category=str(line.get("category") or ""), amount=Decimal(str(line["amount"])) * paid / gross)
        for line in lines
    ]


def _paid_at(data: dict[str, Any]) -> Any:
    from django.utils import timezone

    from huiyuan.members.parsing import parse_datetime
    from huiyuan.platform.tenancy import tenant_timezone

    return parse_datetime(data["paid_at"], tenant_timezone()) if data.get("paid_at") else timezone.now()


@dataclass(frozen=True)
class CheckoutResult:
    order: Order
    created: bool


def checkout_commit(*, actor: Any, data: dict[str, Any]) -> CheckoutResult:
    check_permission(actor, "loyalty.order.create")
    order_no = str(data.get("order_no") or "").strip()
    existing = Order.objects.filter(order_no=order_no).first() if order_no else None
    if existing is not None and existing.benefits:
        return CheckoutResult(order=existing, created=False)  # a replay: the first result, nothing written
    from huiyuan.members.orders import find_store

    from .stored_value import payment_password_verify

    store = find_store(data.get("store"))
    if data.get("stored_value") not in (None, "", 0, "0"):
        ref = data.get("member") or {}
        payer = find_member(member_id=ref.get("id"), phone=ref.get("phone"), card_no=ref.get("card_no"))
        if payer is not None:
            payment_password_verify(member_id=payer.pk, pin=data.get("payment_password"))
    with transaction.atomic():
        quote = checkout_quote(data=data, store_id=store.pk if store else 0)
        externals = list(data.get("payment_methods") or [{"method": "other", "amount": str(quote.due_external)}])
        payments = [p for p in externals if Decimal(str(p.get("amount") or 0)) > 0]
        if quote.stored_value:
            payments.append({"method": "stored_value", "amount": str(quote.stored_value)})
        order_data = {
            **data,
            "total_amount": str(quote.gross),
            "paid_amount": str(quote.paid),
            "payment_methods": payments,
        }
        result = order_record(actor=actor, data=order_data)
        if not result.created:
            return CheckoutResult(order=result.order, created=False)
        order, member = result.order, quote.member
        earned = 0
        if member is not None:
            # The order path above locked the member row; every ledger write below reuses it.
            member = Member.objects.select_for_update(of=("self",)).select_related("tier").get(pk=member.pk)
            settings = quote.settings
            key = f"order:{order.order_no}"
            if quote.coupon_code:
                coupon_redeem(
                    code=quote.coupon_code,
                    store_id=order.store_id,
                    member_id=member.pk,
                    order_amount=quote.gross - quote.tier_discount,
                    idempotency_key=key,
                    order_no=order.order_no,
                )
            if quote.points_used:
                points_spend(
                    member_id=member.pk,
                    amount=quote.points_used,
                    idempotency_key=f"{key}:points",
                    cause="order",
                    cause_id=order.order_no,
                    actor=actor,
                    locked=member,
                )
            if quote.stored_value:
                stored_value_spend(
                    member_id=member.pk,
                    amount=quote.stored_value,
                    idempotency_key=f"{key}:sv",
                    cause="order",
                    cause_id=order.order_no,
                    actor=actor,
                    locked=member,
                    settings=settings,
                )
            if quote.points_to_earn:
                points_earn(
                    member_id=member.pk,
                    amount=quote.points_to_earn,
                    idempotency_key=f"{key}:earn",
                    cause="order",
                    cause_id=order.order_no,
                    actor=actor,
                    earned_at=order.paid_at,
                    locked=member,
                    settings=settings,
                )
                earned = quote.points_to_earn
            tier_upgrade_if_eligible(member.pk, reason=f"order {order.order_no}", locked=member, tiers=quote.tiers)
        benefits = {**quote.as_dict(), "points_earned": earned}
        for name in ("points_balance", "stored_value_balance", "max_points_usable", "points_to_earn"):
            benefits.pop(name)
        Order.objects.filter(pk=order.pk).update(benefits=benefits)
        order.benefits = benefits
    return CheckoutResult(order=order, created=True)


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
        already_clawed = -sum(
            PointsEntry.objects.filter(
                member_id=member_id,
                kind=PointsEntry.Kind.REVERSE,
                cause="refund",
                cause_id=order.order_no,
                amount__lt=0,
            ).values_list("amount", flat=True)
        )
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
        already_returned = sum(
            PointsEntry.objects.filter(
                member_id=member_id,
                kind=PointsEntry.Kind.REVERSE,
                cause="refund",
                cause_id=order.order_no,
                amount__gt=0,
            ).values_list("amount", flat=True)
        )
        give_back = int((used * share).to_integral_value(rounding=ROUND_HALF_UP)) - already_returned
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
