"""What the cashier screen reads: the member at the till, found by whatever the member offers.

A chain's members shop in every store, so an exact identifier (phone, card number, a scanned
member code) finds any member of the merchant, as checkout itself does. Partial input (last four
digits, a name, pinyin initials) could list strangers, so it searches only the members the
cashier may list (their own stores)."""

from __future__ import annotations

import contextlib
from typing import Any

from django.db.models import Q
from django.utils.translation import gettext as _

from huiyuan.members.codes import looks_like_member_code, member_id_from_code
from huiyuan.members.models import Member
from huiyuan.members.selectors import member_list, visible_phone
from huiyuan.platform.access import check_permission
from huiyuan.platform.errors import ValidationFailed
from huiyuan.platform.phones import InvalidPhone, normalize_phone

LOOKUP_LIMIT = 10


def till_member_lookup(*, actor: Any, query: str) -> list[Member]:
    check_permission(actor, "loyalty.order.create")
    text = "".join(query.split())
    if not text:
        return []
    if looks_like_member_code(text):
        member_id = member_id_from_code(text)
        if member_id is None:
            raise ValidationFailed(
                fields={"q": [_("This member code has expired or was misread. Ask the member to refresh it.")]}
            )
        return list(Member.objects.select_related("tier", "payment_password").filter(pk=member_id))
    exact = Q(card_no=text)
    with contextlib.suppress(InvalidPhone):
        exact |= Q(phone=normalize_phone(text))
    found = list(Member.objects.select_related("tier", "payment_password").filter(exact)[:LOOKUP_LIMIT])
    if found:
        return found
    return list(member_list(actor=actor, search=text).select_related("tier", "payment_password")[:LOOKUP_LIMIT])


def till_member_card(*, actor: Any, member: Member) -> dict[str, Any]:
    """The member as the till shows them: who, tier and balances (coupons come with the quote)."""
    return {
        "id": member.pk,
        "name": member.name,
        "phone": visible_phone(actor, member, for_display=True),
        "card_no": member.card_no,
        "tier": member.tier.name if member.tier else "",
        "points": member.points_balance,
        "stored_value": str(member.stored_principal + member.stored_bonus),
        "frozen": member.status == Member.Status.FROZEN,
        "has_payment_password": hasattr(member, "payment_password"),  # read with the member (select_related)
    }
