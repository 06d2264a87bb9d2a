"""Members signing themselves up in the merchant's WeChat mini program: the login code names the
person (openid), the phone-number code gives their verified phone; an existing member with that
phone is linked, not duplicated. The answer carries a signed member token the mini program keeps."""

from __future__ import annotations

from typing import Any

from django.core import signing
from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from huiyuan.members.models import Member
from huiyuan.members.services import member_self_enroll
from huiyuan.platform.errors import ValidationFailed
from huiyuan.platform.tenancy import current_schema

from .models import Connection, MemberIdentity
from .registry import MEMBER_SOURCE, PROVIDERS, VendorError, VendorRefused
from .services import provider_for, vendor_call, vendor_error_text

TOKEN_SALT = "huiyuan.member"


def mini_program_connection() -> Connection | None:
    keys = [key for key, cls in PROVIDERS.items() if MEMBER_SOURCE in cls.capabilities]
    return Connection.objects.filter(provider__in=keys, enabled=True).order_by("pk").first()


def mini_program_signup(*, code: str, phone_code: str = "", name: str = "") -> dict[str, Any]:
    connection = mini_program_connection()
    if connection is None:
        raise ValidationFailed(fields={"code": [_("This merchant has not connected a mini program.")]})
    provider: Any = provider_for(connection)
    try:
        openid, union_id = vendor_call(connection, "code2session", "", lambda: provider.code_to_openid(code))
    except VendorRefused as exc:
        raise ValidationFailed(fields={"code": [vendor_error_text(exc)]}) from exc
    except VendorError as exc:
        raise ValidationFailed(
            fields={"code": [_("WeChat did not answer; try again."), vendor_error_text(exc)]}
        ) from exc
    known = MemberIdentity.objects.select_related("member").filter(connection=connection, external_id=openid).first()
    if known is not None:
        return _answer(known.member, created=False)
    if not phone_code:
        raise ValidationFailed(fields={"phone_code": [_("New members share their phone number to sign up.")]})
    try:
        phone = vendor_call(connection, "phone_number", "", lambda: provider.phone_from_code(phone_code))
    except VendorError as exc:
        raise ValidationFailed(fields={"phone_code": [vendor_error_text(exc)]}) from exc
    member, created = member_self_enroll(
        phone=phone, name=name, channel=Member.Channel.MINI_PROGRAM, source="mini_program"
    )
    try:
        with transaction.atomic():
            MemberIdentity.objects.create(connection=connection, member=member, external_id=openid, union_id=union_id)
    except IntegrityError:
        pass  # the same person, twice at once: linked by the other request
    return _answer(member, created=created)


def _answer(member: Member, *, created: bool) -> dict[str, Any]:
    return {
        "created": created,
        "member": {
            "id": member.pk,
            "card_no": member.card_no,
            "name": member.name,
            "points": member.points_balance,
            "tier": member.tier.name if member.tier else "",
        },
        "token": signing.dumps({"s": current_schema(), "m": member.pk}, salt=TOKEN_SALT),
    }


def member_from_token(token: str) -> Member | None:
    """The member a mini program's token names, in this merchant only; None for a bad token."""
    try:
        data = signing.loads(token, salt=TOKEN_SALT, max_age=90 * 24 * 3600)
    except signing.BadSignature:
        return None
    if data.get("s") != current_schema():
        return None
    return Member.objects.select_related("tier").filter(pk=data.get("m")).first()
