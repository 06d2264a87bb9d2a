"""Reads of members, always scoped by the caller's role and stores."""

from __future__ import annotations

from typing import Any

from django.db.models import Q, QuerySet

from huiyuan.platform.access import can, filter_queryset
from huiyuan.platform.errors import NotFound
from huiyuan.platform.phones import InvalidPhone, display_phone, mask_phone, mask_phones_in, normalize_phone

from .models import Member, MemberHistory
from .pinyin import looks_like_pinyin


def member_list(*, actor: Any, search: str = "", store_id: int | None = None) -> QuerySet[Member]:
    qs = filter_queryset(actor, "members.member.view", Member.objects.select_related("home_store"))
    if store_id is not None:
        qs = qs.filter(home_store_id=store_id)
    search = search.strip()
    if search:
        match = Q(card_no=search) | Q(name__startswith=search)
        if looks_like_pinyin(search):
            match |= Q(name_keys__contains=[search.lower()])  # 张三 by "zs", "zhang", "zhangsan"
        try:
            match |= Q(phone=normalize_phone(search))
        except InvalidPhone:
            if search.isdecimal() and len(search) >= 4:
                match |= Q(phone__endswith=search)
        qs = qs.filter(match)
    return qs.order_by("-id")


def visible_phone(actor: Any, member: Member, *, for_display: bool = False) -> str:
    """The member's phone as this actor may see it: whole (E.164 for the API, national for
    screens) with the PII permission or a per-store grant, else masked (138****1234)."""
    if member.erased_at is not None:
        return "—"
    if can(actor, "members.pii.view", member):
        return display_phone(member.phone) if for_display else member.phone
    return mask_phone(member.phone)


def member_access_by_id(*, actor: Any, member_id: int) -> Member:
    """The one way to turn a member id from user input into a member: missing and out-of-scope
    both raise the same NotFound."""
    member = member_list(actor=actor).filter(pk=member_id).first()
    if member is None:
        raise NotFound()
    return member


def member_history(*, actor: Any, member: Member, limit: int | None = None) -> list[MemberHistory]:
    """The member's history as this actor may read it: for roles without the phone permission
    every phone number in it (old and new values, snapshots, custom phone fields) is masked."""
    history = MemberHistory.objects.filter(member_id=member.pk)
    entries = list(history[:limit] if limit else history)
    if not can(actor, "members.pii.view", member):
        for entry in entries:
            entry.changes = mask_phones_in(entry.changes)
    return entries


# Lists say "1,000+" beyond this: counting every match of a common search ("zh") over a million
# members costs more than the page itself, and nobody pages that far.
COUNT_CAP = 1000


def capped_count(qs: QuerySet[Any], cap: int = COUNT_CAP) -> tuple[int, bool]:
    """How many rows ``qs`` has, counting at most ``cap + 1`` of them: (count, more than cap)."""
    counted = qs.order_by()[: cap + 1].count()
    return min(counted, cap), counted > cap
