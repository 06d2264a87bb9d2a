"""Console pages for loyalty configuration (points settings, earn rules, tiers, top-up plans,
coupon templates) and the member's ledgers and top-up on the profile. Each form posts an
``action`` that maps to one service in ``loyalty.config`` and friends."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import Any

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from huiyuan.loyalty import config, selectors
from huiyuan.loyalty.adjustments import coupon_exchange, pending_adjustments, points_adjust, points_adjustment_decide
from huiyuan.loyalty.coupons import coupon_issue, coupon_template_create
from huiyuan.loyalty.exceptions import CouponNotUsable, CouponOutOfStock, InsufficientPoints
from huiyuan.loyalty.ledger import loyalty_settings
from huiyuan.loyalty.models import (
    CouponTemplate,
    EarnRule,
    LoyaltySettings,
    PointsAdjustment,
)
from huiyuan.loyalty.stored_value import topup_by_plan, topup_plan_create
from huiyuan.members import selectors as member_selectors
from huiyuan.members.models import Store
from huiyuan.platform.access import can
from huiyuan.platform.errors import Conflict, PermissionDenied, ValidationFailed

from .forms import error_context
from .views import _guarded, _page


def _decimal(raw: str) -> Decimal | None:
    try:
        return Decimal(raw) if raw.strip() else None
    except InvalidOperation:
        return None


@_guarded("loyalty.config.manage")
def loyalty_settings_page(request: HttpRequest) -> HttpResponse:
    context: dict[str, Any] = {"values": {}}
    if request.method == "POST":
        values = {k: request.POST.get(k, "") for k in request.POST}
        context["values"] = values
        try:
            message = _ACTIONS[values.get("action", "")](request.user, values)
        except (ValidationFailed, KeyError) as exc:
            if not isinstance(exc, ValidationFailed):
                raise Http404 from exc
            context.update(error_context(exc))
            context["failed_action"] = values.get("action")
        else:
            messages.success(request, message)
            return redirect("console:loyalty")
    rules = selectors.earn_rule_list()
    labels = config.earn_rule_labels(rules)
    settings_values = config.settings_data(loyalty_settings())
    settings_values["excluded_categories"] = ", ".join(settings_values["excluded_categories"])
    context.update(
        settings_values=settings_values | _settings_form_values(context),
        tiers=selectors.tier_list(),
        rules=[(rule, labels[rule.pk]) for rule in rules],
        rule_kinds=EarnRule.Kind.choices,
        stores=Store.objects.order_by("code"),
        weekdays=config.weekday_choices(),
        plans=selectors.topup_plan_list(),
        coupons=selectors.coupon_template_list(),
        kinds=CouponTemplate.Kind.choices,
        pending=pending_adjustments(actor=request.user)[:50],
        rounding_choices=LoyaltySettings.Rounding.choices,
        expiry_choices=LoyaltySettings.Expiry.choices,
        bonus_choices=LoyaltySettings.BonusUse.choices,
    )
    return render(request, "console/loyalty.html", context)


def _settings_form_values(context: dict[str, Any]) -> dict[str, Any]:
    """After a failed save, show what the user typed rather than what is stored."""
    if context.get("failed_action") != "settings":
        return {}
    return {k: v for k, v in context["values"].items() if k in _SETTINGS_FIELDS}


_SETTINGS_FIELDS = (
    "points_per_yuan",
    "points_rounding",
    "max_points_per_order",
    "excluded_categories",
    "points_expiry",
    "points_expiry_months",
    "points_per_yuan_redeemed",
    "max_points_share",
    "bonus_use",
    "tier_grace_days",
    "expiry_reminder_days",
    "adjustment_approval_points",
)


def _save_settings(actor: Any, values: dict[str, str]) -> str:
    config.loyalty_settings_update(actor=actor, data={k: values[k] for k in _SETTINGS_FIELDS if k in values})
    return _("Points settings saved.")


def _add_rule(actor: Any, values: dict[str, str]) -> str:
    # One form, a matching field per kind: tier and store pick from lists, the category is typed.
    kind = values.get("kind", "")
    match = values.get(f"match_{kind}", "")
    config.earn_rule_create(actor=actor, data={"kind": kind, "match": match, "multiplier": values.get("multiplier")})
    return _("Earn rule added.")


def _toggle_rule(actor: Any, values: dict[str, str]) -> str:
    config.earn_rule_update(actor=actor, rule_id=_id(values), data={"active": values.get("active") == "1"})
    return _("Earn rule saved.")


def _save_tier(actor: Any, values: dict[str, str]) -> str:
    fields = ("name", "threshold_spend", "window_days", "discount_rate", "points_multiplier", "birthday_gift")
    data: dict[str, Any] = {k: values[k] for k in fields if k in values}
    data["free_shipping"] = values.get("free_shipping") == "on"
    config.tier_save(actor=actor, data=data, tier_id=_id(values) if values.get("id") else None)
    return _("Tier saved.")


def _delete_tier(actor: Any, values: dict[str, str]) -> str:
    config.tier_delete(actor=actor, tier_id=_id(values))
    return _("Tier deleted.")


def _add_plan(actor: Any, values: dict[str, str]) -> str:
    topup_plan_create(
        actor=actor,
        name=values.get("name", ""),
        pay_amount=values.get("pay", "0"),
        bonus_amount=values.get("bonus") or "0",
    )
    return _("Top-up plan saved.")


def _toggle_plan(actor: Any, values: dict[str, str]) -> str:
    config.topup_plan_set_active(actor=actor, plan_id=_id(values), active=values.get("active") == "1")
    return _("Top-up plan saved.")


def _add_coupon(actor: Any, values: dict[str, str]) -> str:
    coupon_template_create(
        actor=actor,
        name=values.get("name", ""),
        kind=values.get("kind", ""),
        amount_off=_decimal(values.get("amount_off", "")),
        threshold=_decimal(values.get("threshold", "")),
        percent_off=int(values["percent_off"]) if values.get("percent_off", "").isdecimal() else None,
        gift=values.get("gift", ""),
        valid_days=int(values["valid_days"]) if values.get("valid_days", "").isdecimal() else None,
        stock=int(values["stock"]) if values.get("stock", "").isdecimal() else None,
        points_price=_points_price(values.get("points_price", "")),
    )
    return _("Coupon template saved.")


def _points_price(raw: str) -> Any:
    text = raw.strip()
    return None if not text else int(text) if text.isdecimal() else text  # the service reports a bad one


def _toggle_coupon(actor: Any, values: dict[str, str]) -> str:
    config.coupon_template_set_active(actor=actor, template_id=_id(values), active=values.get("active") == "1")
    return _("Coupon template saved.")


def _id(values: dict[str, str]) -> int:
    raw = values.get("id", "")
    if not raw.isdecimal():
        raise Http404
    return int(raw)


_ACTIONS: dict[str, Callable[[Any, dict[str, str]], str]] = {
    "settings": _save_settings,
    "rule": _add_rule,
    "rule_toggle": _toggle_rule,
    "tier": _save_tier,
    "tier_delete": _delete_tier,
    "plan": _add_plan,
    "plan_toggle": _toggle_plan,
    "coupon": _add_coupon,
    "coupon_toggle": _toggle_coupon,
}


@_guarded("members.member.view")
def member_ledger(request: HttpRequest, member_id: int) -> HttpResponse:
    member = member_selectors.member_access_by_id(actor=request.user, member_id=member_id)
    ledger = selectors.member_ledger(member=member)
    context = {
        "member": member,
        "points": selectors.ledger_sources(ledger.points),
        "stored": selectors.ledger_sources(ledger.stored_value),
        "plans": selectors.topup_plan_list(active_only=True),
        "coupons": ledger.coupons,
        "templates": selectors.coupon_template_list(active_only=True),
        "exchangeable": selectors.coupon_template_list(active_only=True, exchangeable_only=True),
        "adjustments": ledger.adjustments,
        "request_key": uuid.uuid4().hex,
        # Forms for what this staff member may do, and no others.
        "can_top_up": can(request.user, "loyalty.order.create"),
        "can_issue": can(request.user, "members.segment.manage"),
        "can_adjust": can(request.user, "loyalty.balance.adjust"),
    }
    return render(request, "console/member_ledger.html", context)


@require_POST
@_guarded("loyalty.balance.adjust")
def member_adjust(request: HttpRequest, member_id: int) -> HttpResponse:
    try:
        adjustment = points_adjust(
            actor=request.user,
            member_id=member_id,
            amount=request.POST.get("amount", ""),
            reason=request.POST.get("reason", ""),
            idempotency_key=f"console:{request.POST.get('request_key', '')}",
        )
    except (ValidationFailed, InsufficientPoints) as exc:
        messages.error(request, " ".join([str(exc.message), *(m for ms in exc.fields.values() for m in ms)]))
    else:
        if adjustment.status == PointsAdjustment.Status.PENDING:
            messages.info(request, _("The adjustment waits for approval."))
        else:
            messages.success(request, _("Points adjusted."))
    return redirect("console:member-ledger", member_id=member_id)


@require_POST
@_guarded("loyalty.order.create")
def member_exchange(request: HttpRequest, member_id: int) -> HttpResponse:
    template = request.POST.get("template", "")
    key = request.POST.get("request_key", "")
    if template.isdecimal() and key:
        try:
            coupon_exchange(
                actor=request.user, member_id=member_id, template_id=int(template), idempotency_key=f"console:{key}"
            )
        except (InsufficientPoints, CouponNotUsable, CouponOutOfStock) as exc:
            messages.error(request, str(exc.message))
        else:
            messages.success(request, _("Points exchanged."))
    return redirect("console:member-ledger", member_id=member_id)


@require_POST
@_guarded("loyalty.adjustment.approve")
def adjustment_decide(request: HttpRequest, adjustment_id: int) -> HttpResponse:
    try:
        points_adjustment_decide(
            actor=request.user,
            adjustment_id=adjustment_id,
            approve=request.POST.get("decision") == "approve",
            note=request.POST.get("note", ""),
        )
    except (PermissionDenied, InsufficientPoints, Conflict) as exc:
        messages.error(request, str(exc.message))
    else:
        messages.success(request, _("Decision saved."))
    return redirect("console:loyalty")


@require_POST
@_guarded("loyalty.order.create")
def member_topup(request: HttpRequest, member_id: int) -> HttpResponse:
    member = member_selectors.member_access_by_id(actor=request.user, member_id=member_id)
    plan = request.POST.get("plan", "")
    key = request.POST.get("request_key", "")  # a hidden per-form token: a double click tops up once
    if plan.isdecimal() and key:
        topup_by_plan(actor=request.user, member_id=member.pk, plan_id=int(plan), idempotency_key=f"console:{key}")
        messages.success(request, _("Topped up."))
    return redirect("console:member-ledger", member_id=member.pk)


@require_POST
@_guarded("members.segment.manage")
def member_coupon(request: HttpRequest, member_id: int) -> HttpResponse:
    member = member_selectors.member_access_by_id(actor=request.user, member_id=member_id)
    template = request.POST.get("template", "")
    key = request.POST.get("request_key", "")
    if template.isdecimal() and key:
        coupon_issue(
            template_id=int(template), member_id=member.pk, idempotency_key=f"console:{key}", actor=request.user
        )
        messages.success(request, _("Coupon issued."))
    return redirect("console:member-ledger", member_id=member.pk)


@_guarded("members.member.view")
def coupon_page(request: HttpRequest) -> HttpResponse:
    """Issued coupons: who holds which, used where and when, or why void; voiding for HQ."""
    from huiyuan.loyalty.coupons import coupon_void
    from huiyuan.loyalty.models import Coupon

    if request.method == "POST" and can(request.user, "loyalty.config.manage"):
        try:
            coupon_void(actor=request.user, code=request.POST.get("code", ""), reason=request.POST.get("reason", ""))
        except (ValidationFailed, Conflict, CouponNotUsable) as exc:
            messages.error(request, " ".join([str(exc.message), *(m for ms in exc.fields.values() for m in ms)]))
        else:
            messages.success(request, _("Coupon voided."))
        return redirect(f"{request.path}?{request.GET.urlencode()}")
    get = request.GET
    template = get.get("template", "")
    coupons = selectors.coupon_list(
        actor=request.user,
        template_id=int(template) if template.isdecimal() else None,
        status=get.get("status", ""),
        code=get.get("code", "")[:32],
    )
    query = get.copy()
    query.pop("page", None)
    return render(
        request,
        "console/coupons.html",
        {
            "page": _page(request, coupons),
            "templates": selectors.coupon_template_list(),
            "statuses": Coupon.Status.choices,
            "values": get,
            "extra_query": "&" + query.urlencode() if query else "",
            "can_void": can(request.user, "loyalty.config.manage"),
        },
    )
