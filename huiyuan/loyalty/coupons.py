"""Coupons: templates, issuing (stock and per-member limits hold under concurrency), redemption
at checkout (each coupon once, whoever asks at the same moment), expiry and voiding."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from huiyuan.members.models import Member, Store
from huiyuan.platform.access import check_permission
from huiyuan.platform.audit import audit_record
from huiyuan.platform.errors import NotFound, ValidationFailed
from huiyuan.platform.events.services import event_record

from .exceptions import CouponNotUsable, CouponOutOfStock
from .models import Coupon, CouponTemplate

# Crockford's alphabet without I, L, O, U: nothing a cashier can misread.
CODE_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
CENT = Decimal("0.01")


def new_code() -> str:
    raw = "".join(secrets.choice(CODE_ALPHABET) for _ in range(12))
    return f"{raw[:4]}-{raw[4:8]}-{raw[8:]}"


def normalize_code(code: str) -> str:
    cleaned = (
        code.strip().upper().replace(" ", "").replace("-", "").replace("O", "0").replace("I", "1").replace("L", "1")
    )
    return f"{cleaned[:4]}-{cleaned[4:8]}-{cleaned[8:]}" if len(cleaned) == 12 else code.strip().upper()


def coupon_template_create(*, actor: Any, store_ids: list[int] | None = None, **data: Any) -> CouponTemplate:
    check_permission(actor, "loyalty.config.manage")
    errors: dict[str, list[str]] = {}
    kind = data.get("kind")
    if not str(data.get("name") or "").strip():
        errors["name"] = [_("Enter a name.")]
    if kind not in CouponTemplate.Kind.values:
        errors["kind"] = [_("Unknown kind.")]
    if kind in (CouponTemplate.Kind.FIXED, CouponTemplate.Kind.THRESHOLD) and not (data.get("amount_off") or 0) > 0:
        errors["amount_off"] = [_("Give the amount taken off.")]
    if kind == CouponTemplate.Kind.THRESHOLD and not (data.get("threshold") or 0) > 0:
        errors["threshold"] = [_("Give the spend the discount starts at.")]
    if kind == CouponTemplate.Kind.PERCENT and not 0 < (data.get("percent_off") or 0) < 100:
        errors["percent_off"] = [_("Between 1 and 99 percent.")]
    if kind == CouponTemplate.Kind.GIFT and not str(data.get("gift") or "").strip():
        errors["gift"] = [_("Describe the gift.")]
    if not data.get("valid_days") and not data.get("valid_until"):
        errors["valid_until"] = [_("Give an end date or a number of days from issue.")]
    if data.get("valid_from") and data.get("valid_until") and data["valid_from"] >= data["valid_until"]:
        errors["valid_until"] = [_("The end must come after the start.")]
    price = data.get("points_price")
    if price is not None and not (isinstance(price, int) and 0 < price <= 10_000_000):
        errors["points_price"] = [_("A whole number of points, or empty if it cannot be exchanged.")]
    if errors:
        raise ValidationFailed(fields=errors)
    with transaction.atomic():
        template = CouponTemplate.objects.create(**data)
        if store_ids:
            template.stores.set(Store.objects.filter(pk__in=store_ids))
        audit_record(actor=actor, action="loyalty.coupon_template.create", obj=template)
    return template


def _validity(template: CouponTemplate, now: datetime) -> tuple[datetime | None, datetime | None]:
    if template.valid_days:
        return now, now + timedelta(days=template.valid_days)
    return template.valid_from, template.valid_until


def coupon_issue(*, template_id: int, member_id: int, idempotency_key: str, actor: Any = None) -> Coupon:
    """Give one coupon to a member; a retry with the same key returns the same coupon."""
    with transaction.atomic():
        existing = Coupon.objects.filter(issue_key=idempotency_key).first()
        if existing is not None:
            return existing
        member = Member.objects.select_for_update().filter(pk=member_id).first()  # serialises limits
        template = CouponTemplate.objects.filter(pk=template_id, active=True).first()
        if member is None or template is None:
            raise NotFound()
        if template.per_member_limit is not None:
            held = Coupon.objects.filter(template=template, member=member).exclude(status=Coupon.Status.VOID).count()
            if held >= template.per_member_limit:
                raise CouponNotUsable(
                    _("This member already has the most coupons of this kind allowed."), code="COUPON_LIMIT_REACHED"
                )
        # Take one from stock in a single conditional UPDATE: concurrent issuers cannot oversell.
        taken = (
            CouponTemplate.objects.filter(pk=template.pk)
            .filter(Q(stock__isnull=True) | Q(issued_count__lt=F("stock")))
            .update(issued_count=F("issued_count") + 1)
        )
        if not taken:
            raise CouponOutOfStock()
        valid_from, valid_until = _validity(template, timezone.now())
        for _attempt in range(5):
            try:
                with transaction.atomic():
                    coupon = Coupon.objects.create(
                        template=template,
                        member=member,
                        code=new_code(),
                        issue_key=idempotency_key,
                        valid_from=valid_from,
                        valid_until=valid_until,
                    )
                break
            except IntegrityError:
                if Coupon.objects.filter(issue_key=idempotency_key).exists():
                    raise
        else:
            raise RuntimeError("could not allocate a unique coupon code")
        event_record(
            "coupon.issued",
            {"member_id": member_id, "coupon_id": coupon.pk, "template_id": template.pk, "code": coupon.code},
            aggregate_type="member",
            aggregate_id=member_id,
        )
    return coupon


@dataclass(frozen=True)
class Redemption:
    coupon: Coupon
    discount: Decimal
    replayed: bool


def coupon_discount(template: CouponTemplate, order_amount: Decimal) -> Decimal:
    if template.kind == CouponTemplate.Kind.FIXED:
        return min(template.amount_off or Decimal(0), order_amount)
    if template.kind == CouponTemplate.Kind.THRESHOLD:
        return min(template.amount_off or Decimal(0), order_amount)
    if template.kind == CouponTemplate.Kind.PERCENT:
        return (order_amount * Decimal(template.percent_off or 0) / 100).quantize(CENT, rounding=ROUND_HALF_UP)
    return Decimal(0)  # a gift takes nothing off the bill


def coupon_refusal(
    coupon: Coupon, *, store_id: int, order_amount: Decimal, now: datetime, store_ids: set[int] | None = None
) -> CouponNotUsable | None:
    """Why this coupon cannot pay for this basket now, or None if it can. ``store_ids``: the
    template's stores, when the caller has them already."""
    if coupon.status != Coupon.Status.ISSUED:
        return CouponNotUsable(
            _("This coupon is %(status)s.") % {"status": coupon.get_status_display()},
            code=f"COUPON_{coupon.status.upper()}",
        )
    if (coupon.valid_from and now < coupon.valid_from) or (coupon.valid_until and now >= coupon.valid_until):
        return CouponNotUsable(_("This coupon is not valid at this time."), code="COUPON_NOT_VALID_NOW")
    template = coupon.template
    allowed = store_ids if store_ids is not None else set(template.stores.values_list("pk", flat=True))
    if allowed and store_id not in allowed:
        return CouponNotUsable(_("This coupon cannot be used in this store."), code="COUPON_WRONG_STORE")
    if template.kind == CouponTemplate.Kind.THRESHOLD and order_amount < (template.threshold or 0):
        return CouponNotUsable(
            _("Spend at least %(threshold)s to use this coupon.") % {"threshold": template.threshold},
            code="COUPON_THRESHOLD_NOT_MET",
        )
    return None


def coupon_options(*, member_id: int, store_id: int, order_amount: Decimal) -> list[dict[str, Any]]:
    """The member's unused coupons for this basket, best first: what each would take off, or why
    it cannot be used (so the cashier can tell the member)."""
    now = timezone.now()
    coupons = list(
        Coupon.objects.filter(member_id=member_id, status=Coupon.Status.ISSUED)
        .select_related("template")
        .prefetch_related("template__stores")
        .order_by("valid_until", "pk")[:50]
    )
    ranked: list[tuple[bool, Decimal, dict[str, Any]]] = []
    for coupon in coupons:
        stores = {store.pk for store in coupon.template.stores.all()}
        refusal = coupon_refusal(coupon, store_id=store_id, order_amount=order_amount, now=now, store_ids=stores)
        discount = coupon_discount(coupon.template, order_amount) if refusal is None else Decimal("0.00")
        option = {
            "code": coupon.code,
            "name": coupon.template.name,
            "kind": coupon.template.kind,
            "gift": coupon.template.gift,
            "valid_until": coupon.valid_until,
            "usable": refusal is None,
            "discount": str(discount),
            "reason": "" if refusal is None else str(refusal.message),
        }
        ranked.append((refusal is not None, -discount, option))
    ranked.sort(key=lambda item: (item[0], item[1]))
    return [option for _unusable, _discount, option in ranked]


def coupon_redeem(
    *,
    code: str,
    store_id: int,
    order_amount: Any,
    idempotency_key: str,
    member_id: int | None = None,
    order_no: str = "",
) -> Redemption:
    """Use a coupon once. The coupon row is locked, so of many simultaneous attempts exactly one
    succeeds and the rest are told it is already used; a retry with the same key gets the same answer."""
    amount = Decimal(str(order_amount))
    with transaction.atomic():
        coupon = Coupon.objects.select_for_update().select_related("template").filter(code=normalize_code(code)).first()
        if coupon is None or (member_id is not None and coupon.member_id != member_id):
            raise CouponNotUsable(_("No such coupon for this member."), code="COUPON_NOT_FOUND")
        if coupon.redeem_key == idempotency_key:
            return Redemption(coupon=coupon, discount=coupon.discount or Decimal(0), replayed=True)
        now = timezone.now()
        refusal = coupon_refusal(coupon, store_id=store_id, order_amount=amount, now=now)
        if refusal is not None:
            raise refusal
        template = coupon.template
        discount = coupon_discount(template, amount)
        Coupon.objects.filter(pk=coupon.pk).update(
            status=Coupon.Status.REDEEMED,
            redeemed_at=now,
            redeem_key=idempotency_key,
            redeemed_store_id=store_id,
            redeemed_order_no=order_no[:64],
            discount=discount,
        )
        coupon.refresh_from_db()
        event_record(
            "coupon.redeemed",
            {"member_id": coupon.member_id, "coupon_id": coupon.pk, "discount": str(discount), "order_no": order_no},
            aggregate_type="member",
            aggregate_id=coupon.member_id,
        )
    return Redemption(coupon=coupon, discount=discount, replayed=False)


def coupon_void(*, actor: Any, code: str, reason: str) -> Coupon:
    check_permission(actor, "loyalty.config.manage")
    with transaction.atomic():
        coupon = Coupon.objects.select_for_update().filter(code=normalize_code(code)).first()
        if coupon is None:
            raise NotFound()
        if coupon.status != Coupon.Status.ISSUED:
            raise CouponNotUsable(_("Only an unused coupon can be voided."))
        Coupon.objects.filter(pk=coupon.pk).update(status=Coupon.Status.VOID, void_reason=reason[:255])
        audit_record(actor=actor, action="loyalty.coupon.void", obj=coupon, changes={"reason": reason})
    coupon.refresh_from_db()
    return coupon


def coupon_expire_due(*, now: datetime | None = None) -> int:
    """Mark coupons past their end as expired; re-running changes nothing."""
    return Coupon.objects.filter(status=Coupon.Status.ISSUED, valid_until__lte=now or timezone.now()).update(
        status=Coupon.Status.EXPIRED
    )


def coupon_issue_to_segment(*, actor: Any, rule: Any, template_id: int) -> dict[str, int]:
    """ "Act on this segment": one coupon of the template for every member of the segment (within
    the actor's stores). Re-running issues nothing twice: the key is per template and member."""
    from huiyuan.members.segments import segment_members

    check_permission(actor, "members.segment.manage")
    issued = skipped = 0
    for member_id in segment_members(actor=actor, rule=rule).values_list("pk", flat=True).iterator():
        try:
            coupon_issue(
                template_id=int(template_id),
                member_id=member_id,
                actor=actor,
                idempotency_key=f"segment:{template_id}:{member_id}",
            )
            issued += 1
        except (CouponNotUsable, CouponOutOfStock):
            skipped += 1
    audit_record(
        actor=actor,
        action="loyalty.coupon.issue_segment",
        object_type="loyalty.coupontemplate",
        object_id=str(template_id),
        changes={"issued": issued, "skipped": skipped, "rule": rule},
    )
    return {"issued": issued, "skipped": skipped}
