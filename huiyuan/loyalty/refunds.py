"""Refunds: the one service that reverses an order, whichever way it arrived. Money back through
the order, statistics, and in proportion the points the order earned and the points and stored
value it used, once per refund number."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F, Q, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext as _

from huiyuan.members.models import Member, Order, Refund
from huiyuan.members.orders import order_access, request_hash_of
from huiyuan.members.parsing import parse_datetime
from huiyuan.members.stats import purchase_stats_apply
from huiyuan.platform.access import check_permission
from huiyuan.platform.audit import audit_record
from huiyuan.platform.errors import Conflict, ValidationFailed
from huiyuan.platform.events.services import event_record
from huiyuan.platform.money import parse_money
from huiyuan.platform.tenancy import tenant_timezone

from .ledger import points_spend, restore_points, stored_value_reverse
from .models import PointsEntry, StoredValueEntry

CENT = Decimal("0.01")


def _cents(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


@dataclass(frozen=True)
class RefundResult:
    refund: Refund
    created: bool  # False for a replay


def order_refund(
    *,
    actor: Any,
    order_no: str,
    refund_no: str,
    amount: Any,
    reason: str = "",
    lines: list[dict[str, Any]] | None = None,
    refunded_at: Any = None,
) -> RefundResult:
    """The one way an order is reversed (``/orders/<no>/refunds`` and ``/checkout/<no>/refunds``):
    money back, statistics, and in proportion the points the order earned and the points and
    stored value it used. Cumulative targets make several partial refunds add up exactly to a full
    one, and the refund number keeps a retry from reversing twice."""
    with transaction.atomic():
        result = _refund_money(
            actor=actor,
            order_no=order_no,
            refund_no=refund_no,
            amount=amount,
            reason=reason,
            lines=lines,
            refunded_at=refunded_at,
        )
        if not result.created:
            return result
        order = Order.objects.get(pk=result.refund.order_id)
        audit_record(
            actor=actor,
            action="loyalty.order.refund",
            object_type="order",
            object_id=order.order_no,
            object_repr=order.order_no,
            changes={"refund_no": refund_no, "amount": str(result.refund.amount), "reason": reason},
        )
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


def _refund_money(
    *,
    actor: Any,
    order_no: str,
    refund_no: str,
    amount: Any,
    reason: str,
    lines: list[dict[str, Any]] | None,
    refunded_at: Any,
) -> RefundResult:
    """Refund part or all of an order's money, once: ``refund_no`` is the idempotency key, and the
    total refunded never exceeds what was paid. Concurrent retries of one refund wait for the
    first on the order's lock and then answer as its replay."""
    check_permission(actor, "loyalty.order.create")
    errors: dict[str, list[str]] = {}
    refund_no = str(refund_no or "").strip()
    if not refund_no or len(refund_no) > 64:
        errors["refund_no"] = [_("Give the refund number (at most 64 characters).")]
    value = parse_money(amount, "amount", errors, positive=True)
    when = timezone.now()
    if refunded_at not in (None, ""):
        try:
            when = parse_datetime(refunded_at, tenant_timezone())
        except ValueError:
            errors["refunded_at"] = [_("Enter a time such as 2026-03-08 14:30.")]
    if errors:
        raise ValidationFailed(fields=errors)
    request_hash = request_hash_of(
        {"order_no": order_no, "refund_no": refund_no, "amount": value, "lines": lines or []}
    )
    order = order_access(actor=actor, order_no=order_no)  # scope first: a replay is a read too
    existing = Refund.objects.filter(refund_no=refund_no).first()
    if existing is not None:
        return _refund_replay(existing, request_hash)
    try:
        with transaction.atomic():
            order = Order.objects.select_for_update().get(pk=order.pk)
            # A concurrent retry committed while we waited for the lock: answer as its replay.
            existing = Refund.objects.filter(refund_no=refund_no).first()
            if existing is not None:
                return _refund_replay(existing, request_hash)
            remaining = order.paid_amount - order.refunded_amount
            if value > remaining:
                raise ValidationFailed(
                    fields={
                        "amount": [_("At most %(left)s can still be refunded on this order.") % {"left": remaining}]
                    }
                )
            line_refunds = _apply_line_refunds(order, lines or [], value)
            refund = Refund.objects.create(
                refund_no=refund_no,
                order=order,
                amount=value,
                reason=reason[:255],
                lines=line_refunds,
                request_hash=request_hash,
                refunded_at=when,
            )
            order.refunded_amount = F("refunded_amount") + value
            fully = value == remaining
            order.status = Order.Status.REFUNDED if fully else Order.Status.PARTIALLY_REFUNDED
            order.save(update_fields=["refunded_amount", "status"])
            if order.member_id:
                purchase_stats_apply(order.member_id, -value, order.paid_at, count_delta=-1 if fully else 0)
            event_record(
                "order.refunded",
                {
                    "order_id": order.pk,
                    "order_no": order.order_no,
                    "refund_no": refund_no,
                    "amount": str(value),
                    "member_id": order.member_id,
                    "full": fully,
                },
                aggregate_type="order",
                aggregate_id=order.pk,
            )
    except IntegrityError:
        existing = Refund.objects.filter(refund_no=refund_no).first()
        if existing is None:
            raise
        return _refund_replay(existing, request_hash)
    return RefundResult(refund=refund, created=True)


def _apply_line_refunds(order: Order, lines: list[dict[str, Any]], total: Decimal) -> list[dict[str, Any]]:
    if not lines:
        return []
    applied: list[dict[str, Any]] = []
    errors: dict[str, list[str]] = {}
    by_id = {line.pk: line for line in order.lines.select_for_update()}
    for index, raw in enumerate(lines):
        line_id = raw.get("line_id") if isinstance(raw, dict) else None
        line = by_id.get(int(str(line_id))) if str(line_id).isdecimal() else None
        if line is None:
            errors[f"lines[{index}].line_id"] = [_("Not a line of this order.")]
            continue
        amount = parse_money(raw.get("amount"), f"lines[{index}].amount", errors, positive=True)
        if amount > line.amount - line.refunded_amount:
            errors[f"lines[{index}].amount"] = [_("More than is left on this line.")]
            continue
        line.refunded_amount += amount
        line.save(update_fields=["refunded_amount"])
        applied.append({"line_id": line.pk, "amount": str(amount)})
    if not errors and sum(Decimal(a["amount"]) for a in applied) != total:
        errors["lines"] = [_("The line amounts do not add up to the refund amount.")]
    if errors:
        raise ValidationFailed(fields=errors)
    return applied


def _refund_replay(existing: Refund, request_hash: str) -> RefundResult:
    if existing.request_hash != request_hash:
        raise Conflict(
            _("Refund %(no)s was already recorded with different content.") % {"no": existing.refund_no},
            code="REFUND_CONFLICT",
        )
    return RefundResult(refund=existing, created=False)
