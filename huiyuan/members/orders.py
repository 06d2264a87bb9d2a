"""Orders and refunds from POS / ERP. The external order number is the idempotency key: a replay
of the same order returns the first result, a different order under the same number is refused.
Member statistics change in the same transaction as the order."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from huiyuan.platform.access import check_permission, in_scope
from huiyuan.platform.errors import Conflict, NotFound, ValidationFailed
from huiyuan.platform.events.services import event_record
from huiyuan.platform.phones import InvalidPhone, normalize_phone
from huiyuan.platform.tenancy import tenant_timezone

from .models import Member, Order, OrderLine, Refund, Store
from .parsing import parse_datetime, parse_decimal
from .stats import lifecycle_for

CENT = Decimal("0.01")


@dataclass(frozen=True)
class OrderResult:
    order: Order
    created: bool  # False for a replay


def request_hash_of(payload: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


def _money(raw: Any, field: str, errors: dict[str, list[str]], *, allow_zero: bool = True) -> Decimal:
    try:
        value = parse_decimal(raw)
    except (ValueError, TypeError):
        errors.setdefault(field, []).append(_("Enter an amount such as 88.50."))
        return Decimal(0)
    if value < 0 or (value == 0 and not allow_zero):
        errors.setdefault(field, []).append(_("The amount must be positive."))
    if value != value.quantize(CENT):
        errors.setdefault(field, []).append(_("At most two decimal places."))
    return value.quantize(CENT)


def find_member(*, member_id: Any = None, phone: Any = None, card_no: Any = None) -> Member | None:
    if member_id not in (None, ""):
        return Member.objects.filter(pk=member_id).first() if str(member_id).isdecimal() else None
    if card_no not in (None, ""):
        return Member.objects.filter(card_no=str(card_no).strip()).first()
    if phone not in (None, ""):
        try:
            return Member.objects.filter(phone=normalize_phone(phone)).first()
        except InvalidPhone:
            return None
    return None


def find_store(ref: Any) -> Store | None:
    if ref in (None, ""):
        return None
    text = str(ref).strip()
    store = Store.objects.filter(code__iexact=text).first()
    if store is None and text.isdecimal():
        store = Store.objects.filter(pk=int(text)).first()
    return store


def member_ref_given(data: dict[str, Any]) -> bool:
    ref = data.get("member") or {}
    return isinstance(ref, dict) and any(ref.get(k) not in (None, "") for k in ("id", "phone", "card_no"))


def _clean_order(actor: Any, data: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    member = None
    if member_ref_given(data):
        ref = data["member"]
        member = find_member(member_id=ref.get("id"), phone=ref.get("phone"), card_no=ref.get("card_no"))
    return clean_order(actor, data, store=find_store(data.get("store")), member_id=member.pk if member else None)


def clean_order(
    actor: Any, data: dict[str, Any], *, store: Store | None, member_id: int | None
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Validate an order whose store and member the caller has looked up (checkout reads them in
    the statement that locks the member). Every problem is reported, by field."""
    errors: dict[str, list[str]] = {}
    order_no = str(data.get("order_no") or "").strip()
    if not order_no or len(order_no) > 64:
        errors["order_no"] = [_("Give the POS order number (at most 64 characters).")]
    if store is None or not in_scope(actor, store):
        errors["store"] = [_("Unknown store.")]
    if member_id is None and member_ref_given(data):
        errors["member"] = [_("No member with this id, phone or card number.")]
    paid = _money(data.get("paid_amount"), "paid_amount", errors)
    lines: list[dict[str, Any]] = []
    for index, raw in enumerate(data.get("lines") or []):
        line_errors: dict[str, list[str]] = {}
        amount = _money(raw.get("amount"), "amount", line_errors)
        try:
            quantity = parse_decimal(raw.get("quantity", 1))
            if quantity <= 0:
                raise ValueError
        except (ValueError, TypeError):
            line_errors.setdefault("quantity", []).append(_("The quantity must be positive."))
            quantity = Decimal(1)
        for name, messages in line_errors.items():
            errors[f"lines[{index}].{name}"] = messages
        lines.append(
            {
                "sku": str(raw.get("sku") or "")[:64],
                "name": str(raw.get("name") or "")[:200],
                "category": str(raw.get("category") or "")[:64],
                "quantity": quantity,
                "amount": amount,
            }
        )
    lines_total = sum((line["amount"] for line in lines), Decimal(0))
    total = (
        _money(data["total_amount"], "total_amount", errors)
        if data.get("total_amount") not in (None, "")
        else (lines_total if lines else paid)
    )
    if lines and lines_total != total:
        errors.setdefault("lines", []).append(
            _("The lines add up to %(sum)s, not %(total)s.") % {"sum": lines_total, "total": total}
        )
    if paid > total:
        errors.setdefault("paid_amount", []).append(_("The paid amount is above the order total."))
    payments = []
    for index, raw in enumerate(data.get("payment_methods") or []):
        method = str(raw.get("method") or "").strip()[:32]
        amount = _money(raw.get("amount"), f"payment_methods[{index}].amount", errors)
        if not method:
            errors[f"payment_methods[{index}].method"] = [_("Name the payment method, e.g. wechat.")]
        payments.append({"method": method, "amount": str(amount)})
    if payments and sum(Decimal(p["amount"]) for p in payments) != paid:
        errors.setdefault("payment_methods", []).append(_("The payments do not add up to the paid amount."))
    try:
        paid_at = parse_datetime(data["paid_at"], tenant_timezone()) if data.get("paid_at") else timezone.now()
    except ValueError:
        errors["paid_at"] = [_("Enter a time such as 2026-03-08 14:30.")]
        paid_at = timezone.now()
    if paid_at > timezone.now() + timedelta(minutes=10):
        errors.setdefault("paid_at", []).append(_("The payment time is in the future."))
    if errors:
        raise ValidationFailed(fields=errors)
    cleaned = {
        "order_no": order_no,
        "store_id": store.pk if store else None,
        "member_id": member_id,
        "total_amount": total,
        "paid_amount": paid,
        "payment_methods": payments,
        "paid_at": paid_at,
    }
    return cleaned, lines


def order_payload(order: Order) -> dict[str, Any]:
    return {
        "id": order.pk,
        "order_no": order.order_no,
        "store_id": order.store_id,
        "member_id": order.member_id,
        "paid_amount": str(order.paid_amount),
        "paid_at": order.paid_at.isoformat(),
    }


def _apply_purchase(member_id: int, amount: Decimal, paid_at: datetime, *, count_delta: int) -> None:
    member = Member.objects.select_for_update().get(pk=member_id)
    member.order_count = max(0, member.order_count + count_delta)
    member.total_spend = member.total_spend + amount
    if count_delta > 0:
        member.first_purchase_at = min(filter(None, [member.first_purchase_at, paid_at]))
        member.last_purchase_at = max(filter(None, [member.last_purchase_at, paid_at]))
    member.lifecycle = lifecycle_for(first=member.first_purchase_at, last=member.last_purchase_at)
    member.save(update_fields=["order_count", "total_spend", "first_purchase_at", "last_purchase_at", "lifecycle"])


def order_record(*, actor: Any, data: dict[str, Any], source: str = Order.Source.POS) -> OrderResult:
    check_permission(actor, "loyalty.order.create")
    cleaned, lines = _clean_order(actor, data)
    # Hash what the client sent for the time, not the server's "now" a missing time defaults to:
    # otherwise a retry without a time would look like a different order.
    request_hash = request_hash_of({**cleaned, "paid_at": data.get("paid_at") or None, "lines": lines})
    existing = Order.objects.filter(order_no=cleaned["order_no"]).first()
    if existing is not None:
        return _replay(existing, request_hash)
    try:
        with transaction.atomic():
            order = Order.objects.create(**cleaned, source=source, request_hash=request_hash)
            OrderLine.objects.bulk_create([OrderLine(order=order, **line) for line in lines])
            if order.member_id:
                _apply_purchase(order.member_id, order.paid_amount, order.paid_at, count_delta=1)
            event_record("order.paid", order_payload(order), aggregate_type="order", aggregate_id=order.pk)
    except IntegrityError:
        # A concurrent request with the same number committed first: this one is its replay.
        existing = Order.objects.filter(order_no=cleaned["order_no"]).first()
        if existing is None:
            raise
        return _replay(existing, request_hash)
    return OrderResult(order=order, created=True)


def _replay(existing: Order, request_hash: str) -> OrderResult:
    if existing.request_hash and existing.request_hash != request_hash:
        raise Conflict(
            _("Order %(no)s was already recorded with different content.") % {"no": existing.order_no},
            code="ORDER_CONFLICT",
        )
    return OrderResult(order=existing, created=False)


def order_access(*, actor: Any, order_no: str) -> Order:
    from huiyuan.platform.access import filter_queryset

    order = filter_queryset(actor, "members.member.view", Order.objects.all()).filter(order_no=order_no).first()
    if order is None:
        raise NotFound()
    return order


@dataclass(frozen=True)
class RefundResult:
    refund: Refund
    created: bool


def refund_record(
    *,
    actor: Any,
    order_no: str,
    refund_no: str,
    amount: Any,
    reason: str = "",
    lines: list[dict[str, Any]] | None = None,
    refunded_at: Any = None,
) -> RefundResult:
    """Refund part or all of an order, once: ``refund_no`` is the idempotency key, and the total
    refunded never exceeds what was paid."""
    check_permission(actor, "loyalty.order.create")
    errors: dict[str, list[str]] = {}
    refund_no = str(refund_no or "").strip()
    if not refund_no or len(refund_no) > 64:
        errors["refund_no"] = [_("Give the refund number (at most 64 characters).")]
    value = _money(amount, "amount", errors, allow_zero=False)
    if errors:
        raise ValidationFailed(fields=errors)
    request_hash = request_hash_of(
        {"order_no": order_no, "refund_no": refund_no, "amount": value, "lines": lines or []}
    )
    existing = Refund.objects.filter(refund_no=refund_no).first()
    if existing is not None:
        return _refund_replay(existing, request_hash)
    try:
        with transaction.atomic():
            order = order_access(actor=actor, order_no=order_no)
            order = Order.objects.select_for_update().get(pk=order.pk)
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
                refunded_at=parse_datetime(refunded_at, tenant_timezone()) if refunded_at else timezone.now(),
            )
            order.refunded_amount = F("refunded_amount") + value
            fully = value == remaining
            order.status = Order.Status.REFUNDED if fully else Order.Status.PARTIALLY_REFUNDED
            order.save(update_fields=["refunded_amount", "status"])
            if order.member_id:
                _apply_purchase(order.member_id, -value, order.paid_at, count_delta=-1 if fully else 0)
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
        line_id = raw.get("line_id")
        line = by_id.get(int(str(line_id))) if str(line_id).isdecimal() else None
        if line is None:
            errors[f"lines[{index}].line_id"] = [_("Not a line of this order.")]
            continue
        amount = _money(raw.get("amount"), f"lines[{index}].amount", errors, allow_zero=False)
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
