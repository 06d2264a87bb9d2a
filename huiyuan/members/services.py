"""Member writes. The members issue extends this with the form engine, merge, history and import."""

from __future__ import annotations

import secrets
from datetime import date
from typing import Any

from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from huiyuan.platform.access import check_permission, in_scope
from huiyuan.platform.audit import audit_record
from huiyuan.platform.errors import ValidationFailed
from huiyuan.platform.events.services import event_record
from huiyuan.platform.phones import InvalidPhone, normalize_phone

from .models import Member, Store


def new_card_no() -> str:
    return "8" + "".join(secrets.choice("0123456789") for _ in range(11))


def member_payload(member: Member) -> dict[str, Any]:
    return {
        "id": member.pk, "card_no": member.card_no, "name": member.name, "phone": member.phone,
        "home_store_id": member.home_store_id, "channel": member.channel,
    }


def member_enroll(
    *, actor: Any, phone: str, name: str = "", gender: str = Member.Gender.UNKNOWN, birthday: date | None = None,
    home_store_id: int | None = None, channel: str = Member.Channel.STORE, consent_sms: bool = False,
) -> Member:
    check_permission(actor, "members.member.create")
    errors: dict[str, list[str]] = {}
    try:
        normalized = normalize_phone(phone)
    except InvalidPhone:
        errors["phone"] = [_("Enter a valid mobile number, e.g. 13800138000.")]
        normalized = ""
    store = Store.objects.filter(pk=home_store_id).first() if home_store_id else None
    if home_store_id and (store is None or not in_scope(actor, store)):
        errors["home_store"] = [_("Unknown store.")]
    if gender not in Member.Gender.values:
        errors["gender"] = [_("Unknown gender.")]
    if normalized and Member.objects.filter(phone=normalized).exists():
        errors["phone"] = [_("A member with this phone number already exists.")]
    if errors:
        raise ValidationFailed(fields=errors)
    for _attempt in range(5):
        try:
            with transaction.atomic():
                member = Member.objects.create(
                    phone=normalized, name=name.strip(), gender=gender, birthday=birthday, home_store=store,
                    channel=channel, consent_sms=consent_sms, card_no=new_card_no(),
                )
                audit_record(actor=actor, action="members.member.create", obj=member)
                event_record("member.created", member_payload(member), aggregate_type="member", aggregate_id=member.pk)
                return member
        except IntegrityError as exc:
            if "phone" in str(exc):
                taken = _("A member with this phone number already exists.")
                raise ValidationFailed(fields={"phone": [taken]}) from exc
            if "card_no" not in str(exc):
                raise
    raise RuntimeError("could not allocate a unique card number")
