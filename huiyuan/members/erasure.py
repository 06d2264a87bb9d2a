"""Erasing a member's personal data on their request (PIPL's deletion right) while the books stay:
orders, points and stored-value ledgers and coupons keep their rows and amounts, attached to a
member row that no longer names anyone. Other packages clear what they hold about the person
(messages, payment password, mini-program link) through erasers registered in ``ready()``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from huiyuan.platform.access import check_permission
from huiyuan.platform.audit import audit_record
from huiyuan.platform.errors import Conflict, ValidationFailed
from huiyuan.platform.events.services import event_record
from huiyuan.platform.models import AuditEntry

from .models import Member, MemberHistory, MemberTag
from .selectors import member_access_by_id
from .services import history_record

MemberEraser = Callable[[int], None]
ERASERS: list[MemberEraser] = []


def register_member_eraser(eraser: MemberEraser) -> None:
    """``eraser(member_id)`` runs inside the erasing transaction and removes what its package
    keeps that names or reaches the person."""
    ERASERS.append(eraser)


def member_erase(*, actor: Any, member_id: int, reason: str, confirm_card_no: str) -> Member:
    """Anonymise the member: name, phone, e-mail, birthday, address, custom fields, tags, consents
    and the values in their history go; card number, orders and balances stay. Once only."""
    check_permission(actor, "members.member.delete")
    errors: dict[str, list[str]] = {}
    if not reason.strip():
        errors["reason"] = [_("Say why, e.g. the member's request of 2026-03-08.")]
    with transaction.atomic():
        member = member_access_by_id(actor=actor, member_id=member_id)
        member = Member.objects.select_for_update().get(pk=member.pk)
        if member.erased_at is not None:
            raise Conflict(_("This member's personal data was already erased."), code="MEMBER_ERASED")
        if confirm_card_no.strip() != member.card_no:
            errors["confirm_card_no"] = [_("Type the member's card number to confirm.")]
        if errors:
            raise ValidationFailed(fields=errors)
        Member.objects.filter(pk=member.pk).update(
            name="",
            phone=f"erased-{member.pk}",  # unique and never a reachable number
            email="",
            birthday=None,
            province="",
            city="",
            gender=Member.Gender.UNKNOWN,
            custom_fields={},
            name_keys=[],
            name_keys_of="",
            consent_sms=False,
            consent_wechat=False,
            consent_email=False,
            status=Member.Status.FROZEN,
            erased_at=timezone.now(),
        )
        MemberTag.objects.filter(member_id=member.pk).delete()
        # The history keeps who did what and when, without the values that named the person.
        MemberHistory.objects.filter(member_id=member.pk).update(changes={})
        AuditEntry.objects.filter(object_type="members.member", object_id=str(member.pk)).update(
            object_repr=member.card_no
        )
        for eraser in ERASERS:
            eraser(member.pk)
        history_record(member.pk, MemberHistory.Action.ERASED, {"reason": reason.strip()}, actor=actor)
        audit_record(
            actor=actor,
            action="members.member.erase",
            object_type="members.member",
            object_id=str(member.pk),
            object_repr=member.card_no,
            changes={"reason": reason.strip()},
        )
        event_record("member.erased", {"id": member.pk}, aggregate_type="member", aggregate_id=member.pk)
    return Member.objects.get(pk=member.pk)
