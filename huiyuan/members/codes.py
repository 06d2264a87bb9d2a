"""Dynamic member codes: the number the mini program shows as a barcode / QR code for the till's
scanner. 18 digits: "88", the member id in 8 digits, then 8 digits of an HMAC over the id and the
minute, so a screenshot stops working after a few minutes and a typo is refused, not mistaken
for another member. Plain digits because every scanner types digits and Enter."""

from __future__ import annotations

import hmac
from datetime import datetime

from django.conf import settings
from django.utils import timezone

from huiyuan.platform.tenancy import current_schema

PREFIX = "88"
CODE_LENGTH = 18
VALID_MINUTES = 3  # the minute shown plus two late ones: a slow queue at the till still works


def _digits(member_id: int, minute: int) -> str:
    key = f"{settings.SECRET_KEY}:member-code:{current_schema()}".encode()
    digest = hmac.new(key, f"{member_id}:{minute}".encode(), "sha256").digest()
    return f"{int.from_bytes(digest[:8], 'big') % 10**8:08d}"


def _minute(now: datetime) -> int:
    return int(now.timestamp() // 60)


def member_code_for(member_id: int, *, now: datetime | None = None) -> str:
    return f"{PREFIX}{member_id:08d}{_digits(member_id, _minute(now or timezone.now()))}"


def looks_like_member_code(text: str) -> bool:
    return len(text) == CODE_LENGTH and text.isdecimal() and text.startswith(PREFIX)


def member_id_from_code(text: str, *, now: datetime | None = None) -> int | None:
    """The member id a code names, or None when it is not a code, was mistyped or has expired."""
    if not looks_like_member_code(text):
        return None
    member_id = int(text[2:10])
    minute = _minute(now or timezone.now())
    for late in range(VALID_MINUTES):
        if hmac.compare_digest(_digits(member_id, minute - late), text[10:]):
            return member_id
    return None
