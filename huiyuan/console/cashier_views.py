"""The till (收银台) and the order pages. The till is one page whose script talks to the same
checkout API the POS uses (quote, commit, refund), so the console and a POS cannot disagree on a
price; the order list and order page are plain server-rendered pages."""

from __future__ import annotations

import uuid
from datetime import datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy as _lazy

from huiyuan.loyalty import refunds
from huiyuan.loyalty.selectors import order_effects
from huiyuan.members import selectors as member_selectors
from huiyuan.members.models import Order, Store
from huiyuan.members.orders import order_access, order_list
from huiyuan.members.parsing import parse_date
from huiyuan.members.stores import store_list
from huiyuan.platform.access import can
from huiyuan.platform.errors import DomainError, ValidationFailed
from huiyuan.platform.tenancy import tenant_timezone

from .forms import error_context
from .views import _guarded, _page


def _till_texts() -> dict[str, str]:
    """Words the till's script shows, translated here so the page speaks the user's language."""
    return {
        "not_found": _("No member found. Check the number, or enrol them."),
        "choose": _("Several members match; choose one:"),
        "points": _("Points"),
        "stored_value": _("Stored value"),
        "tier": _("Tier"),
        "no_tier": _("No tier"),
        "frozen": _("This member's account is frozen: no points or stored value can be used."),
        "no_coupon": _("No coupon"),
        "cannot_use": _("cannot be used"),
        "gross": _("Items total"),
        "tier_discount": _("Tier discount"),
        "coupon_discount": _("Coupon"),
        "points_value": _("Points used"),
        "stored_value_paid": _("From stored value"),
        "due": _("To pay (cash, WeChat, Alipay…)"),
        "to_earn": _("Points to earn"),
        "max_points": _("At most %(n)s points on this order"),
        "done": _("Paid. Order %(no)s"),
        "network": _("The server could not be reached. Nothing is charged twice: press Take payment again to retry."),
        "yuan": _("¥"),
        "remove": _("Remove"),
        "item": _("Item"),
        "empty_basket": _("Add an item or type an amount first."),
        "walk_in": _("Walk-in customer (no member)"),
    }


PAYMENT_LABELS = {
    "stored_value": _lazy("Stored value"),
    "wechat": _lazy("WeChat Pay"),
    "alipay": _lazy("Alipay"),
    "cash": _lazy("Cash"),
    "card": _lazy("Bank card"),
    "other": _lazy("Other"),
}
# What the till offers for the rest of a bill (stored value has its own field).
TILL_PAYMENT_METHODS = ("wechat", "alipay", "cash", "card")


def _till_stores(request: HttpRequest) -> list[Store]:
    return list(store_list(actor=request.user, status=Store.Status.OPEN))


@_guarded("loyalty.order.create")
def cashier(request: HttpRequest) -> HttpResponse:
    stores = _till_stores(request)
    chosen = request.GET.get("store") or request.session.get("till_store")
    store = next((s for s in stores if str(s.pk) == str(chosen)), stores[0] if stores else None)
    if store is not None:
        request.session["till_store"] = store.pk  # the till remembers its store between sales
    return render(
        request,
        "console/cashier.html",
        {
            "stores": stores,
            "store": store,
            "texts": _till_texts(),
            "member_id": request.GET.get("member", ""),
            "can_enrol": can(request.user, "members.member.create"),
            "payment_methods": [(method, PAYMENT_LABELS[method]) for method in TILL_PAYMENT_METHODS],
        },
    )


def _order_filters(request: HttpRequest) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """The list's filters from the query string; a value that does not parse is named, not a 500."""
    filters: dict[str, Any] = {}
    errors: dict[str, list[str]] = {}
    get = request.GET
    if get.get("store", "").isdecimal():
        filters["store_id"] = int(get["store"])
    if get.get("status") in Order.Status.values:
        filters["status"] = get["status"]
    if get.get("order_no"):
        filters["order_no"] = get["order_no"][:64]
    tz = tenant_timezone()
    for name, key, shift in (("from", "paid_from", 0), ("to", "paid_to", 1)):
        if get.get(name):
            try:
                day = parse_date(get[name]) + timedelta(days=shift)
            except ValueError:
                errors[name] = [_("Enter a date such as 2026-03-08.")]
            else:
                filters[key] = datetime.combine(day, time.min, tzinfo=tz)
    for name, key in (("min", "min_amount"), ("max", "max_amount")):
        if get.get(name):
            try:
                filters[key] = Decimal(get[name])
            except InvalidOperation:
                errors[name] = [_("Enter an amount such as 88.00.")]
    if get.get("member"):
        text = get["member"].strip()
        found = list(member_selectors.member_list(actor=request.user, search=text)[:2])
        if len(found) == 1:
            filters["member_id"] = found[0].pk
        else:
            errors["member"] = [
                _("No member matches this.")
                if not found
                else _("Several members match; give the phone or card number.")
            ]
    return filters, errors


@_guarded("members.member.view")
def orders(request: HttpRequest) -> HttpResponse:
    filters, errors = _order_filters(request)
    qs = order_list(actor=request.user, **filters) if not errors else Order.objects.none()
    page = _page(request, qs)
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "console/orders.html",
        {
            "page": page,
            "errors": errors,
            "values": request.GET,
            "stores": store_list(actor=request.user),
            "statuses": Order.Status.choices,
            "extra_query": "&" + query.urlencode() if query else "",
            "can_sell": can(request.user, "loyalty.order.create"),
        },
    )


@_guarded("members.member.view")
def order_detail(request: HttpRequest, order_no: str) -> HttpResponse:
    order = order_access(actor=request.user, order_no=order_no)
    context: dict[str, Any] = {
        "order": order,
        "lines": list(order.lines.all()),
        "payments": [
            {"label": PAYMENT_LABELS.get(p.get("method", ""), p.get("method", "")), "amount": p.get("amount")}
            for p in order.payment_methods or []
        ],
        "benefits": order.benefits or {},
        "effects": order_effects(order=order),
        "member_phone": member_selectors.visible_phone(request.user, order.member, for_display=True)
        if order.member
        else "",
        "can_refund": can(request.user, "loyalty.order.create") and order.status != Order.Status.REFUNDED,
        "refundable": order.paid_amount - order.refunded_amount,
        "refund_no": f"R{uuid.uuid4().hex[:20].upper()}",  # one per form shown: a double submit is a replay
    }
    if request.method == "POST" and context["can_refund"]:
        amount = request.POST.get("amount", "").strip()
        lines = [
            {"line_id": line.pk, "amount": request.POST.get(f"line_{line.pk}", "").strip()}
            for line in context["lines"]
            if request.POST.get(f"line_{line.pk}", "").strip() not in ("", "0", "0.00")
        ]
        try:
            if not amount and lines:  # a refund of some lines only: their amounts add up to it
                amount = str(sum((Decimal(x["amount"]) for x in lines), Decimal(0)))
            result = refunds.order_refund(
                actor=request.user,
                order_no=order.order_no,
                refund_no=request.POST.get("refund_no", "")[:64] or context["refund_no"],
                amount=amount,
                reason=request.POST.get("reason", "").strip()[:255],
                lines=lines or None,
            )
        except (ValidationFailed, InvalidOperation) as exc:
            if isinstance(exc, InvalidOperation):
                exc = ValidationFailed(fields={"amount": [_("Enter an amount such as 88.00.")]})
            context.update(error_context(exc))
            context["posted"] = request.POST
        except DomainError as exc:
            context["error_message"] = exc.message
            context["posted"] = request.POST
        else:
            messages.success(
                request,
                _("Refunded ¥%(amount)s. Points and stored value were reversed in proportion.")
                % {"amount": result.refund.amount},
            )
            return redirect(reverse("console:order", args=[order.order_no]))
    return render(request, "console/order_detail.html", context)
