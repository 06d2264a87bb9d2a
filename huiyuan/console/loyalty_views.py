"""Console pages for loyalty configuration (tiers, top-up plans, coupon templates) and the
member's ledgers and top-up on the profile."""

from __future__ import annotations

import uuid
from decimal import Decimal, InvalidOperation
from typing import Any

from django.contrib import messages
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from huiyuan.loyalty.coupons import coupon_issue, coupon_template_create
from huiyuan.loyalty.models import CouponTemplate, PointsEntry, StoredValueEntry, Tier, TopUpPlan
from huiyuan.loyalty.stored_value import topup_by_plan, topup_plan_create
from huiyuan.members import selectors
from huiyuan.platform.audit import audit_record
from huiyuan.platform.errors import ValidationFailed

from .forms import error_context
from .views import _guarded


def _decimal(raw: str) -> Decimal | None:
    try:
        return Decimal(raw) if raw.strip() else None
    except InvalidOperation:
        return None


@_guarded("loyalty.config.manage")
def loyalty_settings_page(request: HttpRequest) -> HttpResponse:
    context: dict[str, Any] = {"values": {}}
    if request.method == "POST":
        action = request.POST.get("action")
        values = {k: request.POST.get(k, "") for k in request.POST}
        context["values"] = values
        try:
            if action == "tier":
                _tier_create(request.user, values)
                messages.success(request, _("Tier saved."))
            elif action == "plan":
                topup_plan_create(
                    actor=request.user,
                    name=values.get("name", ""),
                    pay_amount=values.get("pay", "0"),
                    bonus_amount=values.get("bonus") or "0",
                )
                messages.success(request, _("Top-up plan saved."))
            elif action == "coupon":
                coupon_template_create(
                    actor=request.user,
                    name=values.get("name", ""),
                    kind=values.get("kind", ""),
                    amount_off=_decimal(values.get("amount_off", "")),
                    threshold=_decimal(values.get("threshold", "")),
                    percent_off=int(values["percent_off"]) if values.get("percent_off", "").isdigit() else None,
                    gift=values.get("gift", ""),
                    valid_days=int(values["valid_days"]) if values.get("valid_days", "").isdigit() else None,
                    stock=int(values["stock"]) if values.get("stock", "").isdigit() else None,
                )
                messages.success(request, _("Coupon template saved."))
        except ValidationFailed as exc:
            context.update(error_context(exc))
        else:
            return redirect("console:loyalty")
    context.update(
        tiers=Tier.objects.all(),
        plans=TopUpPlan.objects.all(),
        coupons=CouponTemplate.objects.order_by("-pk"),
        kinds=CouponTemplate.Kind.choices,
    )
    return render(request, "console/loyalty.html", context)


def _tier_create(actor: Any, values: dict[str, str]) -> Tier:
    errors: dict[str, list[str]] = {}
    name = values.get("name", "").strip()
    threshold = _decimal(values.get("threshold", "0") or "0")
    discount = _decimal(values.get("discount_rate", "1") or "1")
    multiplier = _decimal(values.get("points_multiplier", "1") or "1")
    if not name:
        errors["name"] = [_("Enter a name.")]
    elif Tier.objects.filter(name=name).exists():
        errors["name"] = [_("Another tier has this name.")]
    if threshold is None or threshold < 0:
        errors["threshold"] = [_("A spend of 0 or more.")]
    if discount is None or not Decimal("0.1") <= discount <= 1:
        errors["discount_rate"] = [_("Between 0.1 and 1 (0.95 means the member pays 95 percent).")]
    if multiplier is None or not Decimal("0") < multiplier <= 10:
        errors["points_multiplier"] = [_("Between 0 and 10.")]
    if errors or threshold is None or discount is None or multiplier is None:
        raise ValidationFailed(fields=errors)
    with transaction.atomic():
        rank = (Tier.objects.order_by("-rank").values_list("rank", flat=True).first() or 0) + 1
        tier = Tier.objects.create(
            name=name,
            rank=rank,
            threshold_spend=threshold,
            discount_rate=discount,
            points_multiplier=multiplier,
            window_days=int(values["window_days"]) if values.get("window_days", "").isdigit() else None,
            birthday_gift=values.get("birthday_gift", "")[:200],
        )
        audit_record(actor=actor, action="loyalty.tier.create", obj=tier)
    return tier


@_guarded("members.member.view")
def member_ledger(request: HttpRequest, member_id: int) -> HttpResponse:
    member = selectors.member_access_by_id(actor=request.user, member_id=member_id)
    context = {
        "member": member,
        "points": PointsEntry.objects.filter(member=member)[:100],
        "stored": StoredValueEntry.objects.filter(member=member)[:100],
        "plans": TopUpPlan.objects.filter(active=True),
        "coupons": member.coupons.select_related("template").order_by("-pk")[:50],
        "templates": CouponTemplate.objects.filter(active=True),
        "request_key": uuid.uuid4().hex,
    }
    return render(request, "console/member_ledger.html", context)


@require_POST
@_guarded("loyalty.order.create")
def member_topup(request: HttpRequest, member_id: int) -> HttpResponse:
    member = selectors.member_access_by_id(actor=request.user, member_id=member_id)
    plan = request.POST.get("plan", "")
    key = request.POST.get("request_key", "")  # a hidden per-form token: a double click tops up once
    if plan.isdigit() and key:
        topup_by_plan(actor=request.user, member_id=member.pk, plan_id=int(plan), idempotency_key=f"console:{key}")
        messages.success(request, _("Topped up."))
    return redirect("console:member-ledger", member_id=member.pk)


@require_POST
@_guarded("members.segment.manage")
def member_coupon(request: HttpRequest, member_id: int) -> HttpResponse:
    member = selectors.member_access_by_id(actor=request.user, member_id=member_id)
    template = request.POST.get("template", "")
    key = request.POST.get("request_key", "")
    if template.isdigit() and key:
        coupon_issue(
            template_id=int(template), member_id=member.pk, idempotency_key=f"console:{key}", actor=request.user
        )
        messages.success(request, _("Coupon issued."))
    return redirect("console:member-ledger", member_id=member.pk)
