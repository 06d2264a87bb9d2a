"""Unsubscribe links in messages: a signed token naming the merchant, the member and the channel,
good for a year. Opening the link asks to confirm (mail scanners open links; a click must not be
enough), confirming withdraws the member's consent for that channel and records it."""

from __future__ import annotations

from typing import Any

from django.core import signing
from django.db import connection, transaction

from huiyuan.members.models import Member, MemberHistory
from huiyuan.members.services import history_record, member_payload
from huiyuan.platform.events.services import event_record
from huiyuan.platform.tenancy import tenant_url

SALT = "huiyuan.unsubscribe"
MAX_AGE = 366 * 24 * 3600
CONSENT_FIELDS = {"email": "consent_email", "sms": "consent_sms", "wechat": "consent_wechat"}


def unsubscribe_url(member: Any, channel: str) -> str:
    token = signing.dumps({"s": connection.schema_name, "m": member.pk, "c": channel}, salt=SALT)  # type: ignore[attr-defined]
    return tenant_url(f"/unsubscribe/{token}/")


def unsubscribe_read(token: str) -> tuple[Member, str] | None:
    """The member and channel a token names, in this merchant; None for a bad or foreign token."""
    try:
        data = signing.loads(token, salt=SALT, max_age=MAX_AGE)
    except signing.BadSignature:
        return None
    if data.get("s") != connection.schema_name or data.get("c") not in CONSENT_FIELDS:  # type: ignore[attr-defined]
        return None
    member = Member.objects.filter(pk=data.get("m")).first()
    return (member, data["c"]) if member is not None else None


def unsubscribe_confirm(token: str) -> bool:
    found = unsubscribe_read(token)
    if found is None:
        return False
    member, channel = found
    field = CONSENT_FIELDS[channel]
    with transaction.atomic():
        if Member.objects.filter(pk=member.pk, **{field: True}).update(**{field: False}):
            history_record(
                member.pk, MemberHistory.Action.UPDATED, {field: [True, False]}, actor=None, source="unsubscribe"
            )
            member.refresh_from_db()
            event_record(
                "member.updated",
                {**member_payload(member), "changed": [field]},
                aggregate_type="member",
                aggregate_id=member.pk,
            )
    return True
