"""Manual points adjustments and points exchanged for coupons or gifts.

An adjustment always names its reason. Up to the tenant's threshold it applies at once; above it,
it waits until someone with approval rights other than the requester applies or rejects it, so no
single person can mint a large balance. Applying goes through the ledger with the adjustment's
own key, so a double click or a retried approval never credits twice."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from huiyuan.members.models import Member
from huiyuan.members.selectors import member_access_by_id
from huiyuan.platform.access import check_permission, filter_queryset
from huiyuan.platform.audit import audit_record
from huiyuan.platform.errors import Conflict, NotFound, PermissionDenied, ValidationFailed

from .coupons import coupon_issue
from .exceptions import CouponNotUsable
from .ledger import actor_user, loyalty_settings, points_earn, points_spend
from .models import Cause, Coupon, CouponTemplate, PointsAdjustment, PointsEntry


def points_adjust(*, actor: Any, member_id: int, amount: Any, reason: str, idempotency_key: str) -> PointsAdjustment:
    """Request a correction of ``amount`` points (negative to take off). Returns the adjustment,
    applied or waiting for approval."""
    check_permission(actor, "loyalty.balance.adjust")
    member = member_access_by_id(actor=actor, member_id=member_id)
    errors: dict[str, list[str]] = {}
    try:
        value = int(str(amount).strip())
    except ValueError:
        value = 0  # reported below
    if value == 0 or abs(value) > 10_000_000:
        errors["amount"] = [_("A whole number of points, e.g. 200 or -50.")]
    if not str(reason or "").strip():
        errors["reason"] = [_("Say why, e.g. the complaint or order it corrects.")]
    if not idempotency_key:
        errors["idempotency_key"] = [_("Missing request key.")]
    if errors:
        raise ValidationFailed(fields=errors)
    with transaction.atomic():
        # Lock the member first, like every ledger write: a double click's second request waits
        # here and then finds the first one's adjustment.
        Member.objects.select_for_update().filter(pk=member.pk).first()
        existing = PointsAdjustment.objects.filter(idempotency_key=idempotency_key).first()
        if existing is not None:
            if existing.member_id != member.pk or existing.amount != value:
                raise Conflict(_("This request key was used for another adjustment."), code="KEY_CONFLICT")
            return existing
        adjustment = PointsAdjustment.objects.create(
            member=member,
            amount=value,
            reason=str(reason).strip()[:255],
            idempotency_key=idempotency_key,
            requested_by=actor_user(actor),
        )
        audit_record(
            actor=actor,
            action="loyalty.points.adjust_request",
            obj=member,
            changes={"amount": value, "reason": adjustment.reason},
        )
        if abs(value) <= loyalty_settings().adjustment_approval_points:
            _apply(adjustment, actor)
    return adjustment


def _apply(adjustment: PointsAdjustment, actor: Any) -> None:
    common = {
        "member_id": adjustment.member_id,
        "idempotency_key": f"adjust:{adjustment.pk}",
        "cause": Cause.STAFF,
        "cause_id": str(adjustment.pk),
        "reason": adjustment.reason,
        "actor": actor,
        "kind": PointsEntry.Kind.ADJUST,
    }
    if adjustment.amount > 0:
        result = points_earn(amount=adjustment.amount, **common)
    else:
        result = points_spend(amount=-adjustment.amount, **common)
    adjustment.entry = result.entry
    adjustment.status = PointsAdjustment.Status.APPLIED
    adjustment.save(update_fields=["entry", "status"])


def points_adjustment_decide(*, actor: Any, adjustment_id: int, approve: bool, note: str = "") -> PointsAdjustment:
    """Apply or reject a waiting adjustment. Deciding twice the same way returns the decision."""
    check_permission(actor, "loyalty.adjustment.approve")
    with transaction.atomic():
        adjustments = pending_adjustments(actor=actor, status=None).select_for_update(of=("self",))
        adjustment = adjustments.filter(pk=adjustment_id).first()
        if adjustment is None:
            raise NotFound()
        wanted = PointsAdjustment.Status.APPLIED if approve else PointsAdjustment.Status.REJECTED
        if adjustment.status == wanted:
            return adjustment
        if adjustment.status != PointsAdjustment.Status.PENDING:
            raise Conflict(_("This adjustment was already decided."), code="ALREADY_DECIDED")
        if adjustment.requested_by_id is not None and adjustment.requested_by_id == getattr(actor, "pk", None):
            raise PermissionDenied(_("Someone other than the requester must approve it."))
        adjustment.decided_by = actor_user(actor)
        adjustment.decided_at = timezone.now()
        adjustment.decision_note = str(note or "").strip()[:255]
        adjustment.save(update_fields=["decided_by", "decided_at", "decision_note"])
        if approve:
            _apply(adjustment, actor)
        else:
            adjustment.status = PointsAdjustment.Status.REJECTED
            adjustment.save(update_fields=["status"])
        audit_record(
            actor=actor,
            action="loyalty.points.adjust_approve" if approve else "loyalty.points.adjust_reject",
            obj=adjustment.member,
            changes={"amount": adjustment.amount, "note": adjustment.decision_note},
        )
    return adjustment


def pending_adjustments(*, actor: Any, status: str | None = PointsAdjustment.Status.PENDING) -> QuerySet[Any]:
    """Adjustments of members in the actor's stores, newest first."""
    check_permission(actor, "loyalty.balance.adjust")
    qs = PointsAdjustment.objects.select_related("member", "requested_by")
    if status:
        qs = qs.filter(status=status)
    members = filter_queryset(actor, "members.member.view", Member.objects.all())
    return qs.filter(member__in=members.values("pk"))


def coupon_exchange(*, actor: Any, member_id: int, template_id: int, idempotency_key: str) -> Coupon:
    """Spend the template's points price and issue the coupon (or gift voucher), both or neither.
    A retry with the same key returns the same coupon and spends nothing more."""
    check_permission(actor, "loyalty.order.create")
    member = member_access_by_id(actor=actor, member_id=member_id)
    template = CouponTemplate.objects.filter(pk=template_id, active=True, points_price__isnull=False).first()
    if template is None or not template.points_price:
        raise CouponNotUsable(_("This coupon cannot be exchanged for points."), code="NOT_EXCHANGEABLE")
    key = f"exchange:{idempotency_key}"
    with transaction.atomic():
        points_spend(
            member_id=member.pk,
            amount=template.points_price,
            idempotency_key=key,
            cause=Cause.EXCHANGE,
            cause_id=str(template.pk),
            reason=template.name,
            actor=actor,
        )
        coupon = coupon_issue(template_id=template.pk, member_id=member.pk, idempotency_key=key, actor=actor)
    return coupon
