"""Order references and validation shared by the one order path (``loyalty.checkout``: checkout
and POS-priced orders) and its reversal (``loyalty.refunds``): find the member and store, clean
and check an order by field, hash a request, read an order within the caller's stores."""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta
from decimal import Decimal
from typing import Any

from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from huiyuan.platform.access import in_scope
from huiyuan.platform.errors import NotFound, ValidationFailed
from huiyuan.platform.money import parse_money
from huiyuan.platform.phones import InvalidPhone, normalize_phone
from huiyuan.platform.tenancy import tenant_timezone

from .models import Member, Order, Store
from .parsing import parse_datetime, parse_decimal

CENT = Decimal("0.01")
MAX_ORDER_AGE = timedelta(days=366)


def request_hash_of(payload: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


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
    paid = parse_money(data.get("paid_amount"), "paid_amount", errors)
    lines: list[dict[str, Any]] = []
    for index, raw in enumerate(data.get("lines") or []):
        line_errors: dict[str, list[str]] = {}
        amount = parse_money(raw.get("amount"), "amount", line_errors)
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
        parse_money(data["total_amount"], "total_amount", errors)
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
        amount = parse_money(raw.get("amount"), f"payment_methods[{index}].amount", errors)
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
    elif paid_at < timezone.now() - MAX_ORDER_AGE:
        # A till posts today's sales; a year-old (or 1900) time is a wrong clock or a wrong field.
        errors.setdefault("paid_at", []).append(
            _("The payment time is more than a year ago; older orders go through the order history import.")
        )
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


def order_access(*, actor: Any, order_no: str) -> Order:
    from huiyuan.platform.access import filter_queryset

    order = filter_queryset(actor, "members.member.view", Order.objects.all()).filter(order_no=str(order_no)).first()
    if order is None:
        raise NotFound()
    return order


def order_list(
    *,
    actor: Any,
    store_id: int | None = None,
    member_id: int | None = None,
    status: str = "",
    paid_from: Any = None,
    paid_to: Any = None,
    min_amount: Decimal | None = None,
    max_amount: Decimal | None = None,
    order_no: str = "",
) -> QuerySet[Order]:
    """Orders the actor may see (their stores' orders), newest first, narrowed by the filters
    given; ``paid_to`` is exclusive."""
    from huiyuan.platform.access import filter_queryset

    qs = filter_queryset(actor, "members.member.view", Order.objects.select_related("store", "member"))
    if store_id is not None:
        qs = qs.filter(store_id=store_id)
    if member_id is not None:
        qs = qs.filter(member_id=member_id)
    if status:
        qs = qs.filter(status=status)
    if paid_from is not None:
        qs = qs.filter(paid_at__gte=paid_from)
    if paid_to is not None:
        qs = qs.filter(paid_at__lt=paid_to)
    if min_amount is not None:
        qs = qs.filter(paid_amount__gte=min_amount)
    if max_amount is not None:
        qs = qs.filter(paid_amount__lte=max_amount)
    if order_no:
        qs = qs.filter(order_no__startswith=order_no.strip())
    return qs.order_by("-paid_at", "-id")
