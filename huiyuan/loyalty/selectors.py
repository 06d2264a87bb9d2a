"""What the console and the API read of loyalty: one home for each read, so both show the same."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db.models import QuerySet

from huiyuan.members.models import Member, Order, Refund

from .models import Coupon, CouponTemplate, EarnRule, PointsAdjustment, PointsEntry, StoredValueEntry, Tier, TopUpPlan

LEDGER_PAGE = 100


@dataclass(frozen=True)
class MemberLedger:
    points: list[PointsEntry]
    stored_value: list[StoredValueEntry]
    coupons: list[Any]
    adjustments: list[PointsAdjustment]


def member_ledger(*, member: Member) -> MemberLedger:
    """A member's newest points and stored-value entries, coupons and manual adjustments (the caller
    has already checked the member is theirs: ``member_access_by_id``)."""
    return MemberLedger(
        points=list(PointsEntry.objects.filter(member=member).select_related("actor")[:LEDGER_PAGE]),
        stored_value=list(StoredValueEntry.objects.filter(member=member).select_related("actor")[:LEDGER_PAGE]),
        coupons=list(member.coupons.select_related("template").order_by("-pk")[:50]),  # type: ignore[attr-defined]
        adjustments=list(PointsAdjustment.objects.filter(member=member).select_related("requested_by")[:20]),
    )


def earn_rule_list() -> list[EarnRule]:
    return list(EarnRule.objects.order_by("-active", "pk"))


def tier_list() -> QuerySet[Tier]:
    return Tier.objects.order_by("rank")


def topup_plan_list(*, active_only: bool = False) -> QuerySet[TopUpPlan]:
    plans = TopUpPlan.objects.all()
    return plans.filter(active=True) if active_only else plans


def coupon_template_list(*, active_only: bool = False, exchangeable_only: bool = False) -> QuerySet[CouponTemplate]:
    templates = CouponTemplate.objects.order_by("-active", "-pk")
    if active_only:
        templates = templates.filter(active=True)
    if exchangeable_only:
        templates = templates.filter(points_price__isnull=False)
    return templates


@dataclass(frozen=True)
class OrderEffects:
    """Everything an order did beyond its own row, for its page: ledger entries it caused (earned,
    spent, reversed by refunds), the coupon it used, its refunds and their audit entries."""

    points: list[PointsEntry]
    stored_value: list[StoredValueEntry]
    coupons: list[Coupon]
    refunds: list[Refund]
    audit: list[Any]


def order_effects(*, order: Order) -> OrderEffects:
    """The caller has already checked the order is theirs (``order_access``)."""
    from huiyuan.platform.models import AuditEntry

    by_order = {"member_id": order.member_id, "cause_id": order.order_no}
    return OrderEffects(
        points=list(PointsEntry.objects.filter(**by_order).select_related("actor").order_by("pk")),
        stored_value=list(StoredValueEntry.objects.filter(**by_order).select_related("actor").order_by("pk")),
        coupons=list(Coupon.objects.filter(redeemed_order_no=order.order_no).select_related("template")),
        refunds=list(order.refunds.order_by("pk")),  # type: ignore[attr-defined]
        audit=list(
            AuditEntry.objects.filter(object_type="order", object_id=order.order_no).select_related("actor")[:50]
        ),
    )


def ledger_sources(entries: list[Any]) -> list[dict[str, Any]]:
    """Where each ledger entry came from, in words: the order number (linkable), the top-up plan's
    name, the coupon exchanged for, who did it — never a bare id such as "plan:1" or "4"."""
    from django.utils.translation import gettext as _

    plan_ids = {int(e.cause_id[5:]) for e in entries if e.cause_id.startswith("plan:") and e.cause_id[5:].isdecimal()}
    plans = dict(TopUpPlan.objects.filter(pk__in=plan_ids).values_list("pk", "name")) if plan_ids else {}
    rows = []
    for entry in entries:
        order_no = entry.cause_id if entry.cause in ("order", "refund") else ""
        detail = ""
        if entry.cause_id.startswith("plan:") and entry.cause_id[5:].isdecimal():
            detail = _("top-up plan %(name)s") % {"name": plans.get(int(entry.cause_id[5:]), "—")}
        elif entry.cause_id.startswith("topup:"):
            detail = _("refund of a top-up")
        rows.append(
            {
                "entry": entry,
                "cause": entry.get_cause_display(),
                "order_no": order_no,
                "detail": detail,
                "who": entry.actor.display_name if entry.actor else "",
            }
        )
    return rows


def coupon_list(
    *, actor: Any, template_id: int | None = None, status: str = "", code: str = "", member_id: int | None = None
) -> QuerySet[Coupon]:
    """Coupons held by members the actor may see (their stores' members), newest first."""
    from huiyuan.platform.access import filter_queryset

    qs = filter_queryset(
        actor,
        "members.member.view",
        Coupon.objects.select_related("template", "member", "redeemed_store"),
        store_field="member__home_store",
    )
    if template_id is not None:
        qs = qs.filter(template_id=template_id)
    if status in Coupon.Status.values:
        qs = qs.filter(status=status)
    if code.strip():
        from .coupons import normalize_code

        qs = qs.filter(code=normalize_code(code))
    if member_id is not None:
        qs = qs.filter(member_id=member_id)
    return qs.order_by("-issued_at", "-pk")
