"""Stored value (储值) around the ledger: top-up plans, refunds of a top-up (only the principal
that is still unspent, and the bonus that came with it), the optional payment password, and the
daily statement finance reconciles against."""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.contrib.auth.hashers import check_password, make_password
from django.db import transaction
from django.db.models import Count, Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from huiyuan.platform.access import check_permission
from huiyuan.platform.audit import audit_record
from huiyuan.platform.errors import NotFound, ValidationFailed
from huiyuan.platform.tenancy import tenant_timezone

from .exceptions import PaymentPasswordLocked, PaymentPasswordRequired, PaymentPasswordWrong
from .ledger import CENT, StoredValueResult, _append_stored_value, _lock_member, stored_value_topup
from .models import Cause, PaymentPassword, StoredValueEntry, TopUpPlan

PIN_RE = re.compile(r"^\d{6}$")
MAX_ATTEMPTS = 5
LOCK_MINUTES = 30


def topup_plan_create(*, actor: Any, name: str, pay_amount: Any, bonus_amount: Any = 0) -> TopUpPlan:
    check_permission(actor, "loyalty.config.manage")
    errors: dict[str, list[str]] = {}
    try:
        pay, bonus = Decimal(str(pay_amount)), Decimal(str(bonus_amount or 0))
    except ArithmeticError:
        raise ValidationFailed(fields={"pay_amount": [_("Enter an amount such as 1000.")]}) from None
    if not name.strip():
        errors["name"] = [_("Enter a name.")]
    if pay <= 0 or pay != pay.quantize(CENT):
        errors["pay_amount"] = [_("Enter a positive amount with at most two decimals.")]
    if bonus < 0 or bonus != bonus.quantize(CENT):
        errors["bonus_amount"] = [_("Enter a positive amount with at most two decimals.")]
    if errors:
        raise ValidationFailed(fields=errors)
    with transaction.atomic():
        plan = TopUpPlan.objects.create(name=name.strip(), pay_amount=pay, bonus_amount=bonus)
        audit_record(
            actor=actor, action="loyalty.topup_plan.create", obj=plan, changes={"pay": str(pay), "bonus": str(bonus)}
        )
    return plan


def topup_by_plan(*, actor: Any, member_id: int, plan_id: int, idempotency_key: str) -> StoredValueResult:
    check_permission(actor, "loyalty.order.create")
    plan = TopUpPlan.objects.filter(pk=plan_id, active=True).first()
    if plan is None:
        raise NotFound()
    return stored_value_topup(
        member_id=member_id,
        principal=plan.pay_amount,
        bonus=plan.bonus_amount,
        idempotency_key=idempotency_key,
        cause=Cause.STAFF,
        cause_id=f"plan:{plan.pk}",
        reason=plan.name,
        actor=actor,
    )


def topup_refund(*, actor: Any, topup_entry_id: int, idempotency_key: str, reason: str = "") -> StoredValueResult:
    """Give back the unspent part of one top-up's principal, and take back the bonus that came
    with it in the same proportion. A top-up is refunded at most once."""
    check_permission(actor, "loyalty.balance.adjust")
    with transaction.atomic():
        topup = StoredValueEntry.objects.filter(pk=topup_entry_id, kind=StoredValueEntry.Kind.TOPUP).first()
        if topup is None:
            raise NotFound()
        member = _lock_member(topup.member_id)
        existing = StoredValueEntry.objects.filter(idempotency_key=idempotency_key).first()
        if existing is not None:
            return StoredValueResult(entry=existing, replayed=True)
        if StoredValueEntry.objects.filter(kind=StoredValueEntry.Kind.REFUND, cause_id=f"topup:{topup.pk}").exists():
            raise ValidationFailed(fields={"topup": [_("This top-up has already been refunded.")]})
        principal = min(topup.principal, member.stored_principal)
        if principal <= 0:
            raise ValidationFailed(fields={"topup": [_("Nothing of this top-up is left to refund.")]})
        share = principal / topup.principal
        bonus = min((topup.bonus * share).quantize(CENT, rounding=ROUND_HALF_UP), member.stored_bonus)
        entry = _append_stored_value(
            member,
            StoredValueEntry.Kind.REFUND,
            -principal,
            -bonus,
            key=idempotency_key,
            cause=Cause.REFUND,
            cause_id=f"topup:{topup.pk}",
            reason=reason,
            actor=actor,
        )
        audit_record(
            actor=actor,
            action="loyalty.stored_value.refund_topup",
            obj=entry,
            changes={"principal": str(principal), "bonus": str(bonus)},
        )
    return StoredValueResult(entry=entry, replayed=False)


def payment_password_set(*, actor: Any, member_id: int, pin: str) -> None:
    check_permission(actor, "members.member.update")
    if not PIN_RE.match(pin or ""):
        raise ValidationFailed(fields={"pin": [_("Six digits.")]})
    if len(set(pin)) == 1 or pin in "0123456789" or pin in "9876543210":
        raise ValidationFailed(fields={"pin": [_("Too easy to guess; avoid repeated or consecutive digits.")]})
    PaymentPassword.objects.update_or_create(
        member_id=member_id, defaults={"password_hash": make_password(pin), "failed_attempts": 0, "locked_until": None}
    )
    audit_record(
        actor=actor, action="loyalty.payment_password.set", object_type="members.member", object_id=str(member_id)
    )


def payment_password_verify(*, member_id: int, pin: str | None) -> None:
    """Raise unless the PIN is right (or the member has none); five wrong tries lock it for 30
    minutes. Call it before opening the payment's transaction: the failed-attempt count must be
    committed even though the payment is refused."""
    refusal: Exception | None = None
    with transaction.atomic():
        record = PaymentPassword.objects.select_for_update().filter(member_id=member_id).first()
        if record is None:
            return
        now = timezone.now()
        if record.locked_until and record.locked_until > now:
            refusal = PaymentPasswordLocked()
        elif not pin:
            refusal = PaymentPasswordRequired()
        elif check_password(pin, record.password_hash):
            if record.failed_attempts:
                PaymentPassword.objects.filter(pk=record.pk).update(failed_attempts=0, locked_until=None)
        else:
            attempts = record.failed_attempts + 1
            locked = now + timedelta(minutes=LOCK_MINUTES) if attempts >= MAX_ATTEMPTS else None
            PaymentPassword.objects.filter(pk=record.pk).update(
                failed_attempts=0 if locked else attempts, locked_until=locked
            )
            refusal = PaymentPasswordLocked() if locked else PaymentPasswordWrong()
    if refusal is not None:
        raise refusal


def stored_value_statement(*, day: date) -> dict[str, Any]:
    """One day (in the merchant's time zone) of stored value: opening and closing balances and the
    movements by kind, principal and bonus apart, as finance reconciles them."""
    tz = tenant_timezone()
    start = datetime.combine(day, time.min, tzinfo=tz)
    end = start + timedelta(days=1)

    def totals(qs: Any) -> tuple[Decimal, Decimal]:
        agg = qs.aggregate(p=Sum("principal"), b=Sum("bonus"))
        return agg["p"] or Decimal(0), agg["b"] or Decimal(0)

    opening = totals(StoredValueEntry.objects.filter(created_at__lt=start))
    closing = totals(StoredValueEntry.objects.filter(created_at__lt=end))
    movements = {
        row["kind"]: {"principal": str(row["p"]), "bonus": str(row["b"]), "count": row["n"]}
        for row in StoredValueEntry.objects.filter(created_at__gte=start, created_at__lt=end)
        .values("kind")
        .annotate(p=Sum("principal"), b=Sum("bonus"), n=Count("id"))
    }
    return {
        "date": day.isoformat(),
        "opening": {"principal": str(opening[0]), "bonus": str(opening[1])},
        "movements": movements,
        "closing": {"principal": str(closing[0]), "bonus": str(closing[1])},
    }
