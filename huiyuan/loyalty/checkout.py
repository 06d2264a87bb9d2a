"""Checkout: one call from the POS computes the member's tier discount, the coupon, points and
stored-value options, and commits the order with every earning and redemption in one
transaction (one read and one write statement; decision record 004). ``order_no`` keys
everything: a replay returns the first result and writes nothing. Refunds reverse what the order
earned and used, in proportion to the amount refunded, once.

Amounts, in order: gross (lines) → tier discount → coupon → points (as cash) → what the member
pays, from stored value first as asked and the rest by the POS's own methods (WeChat, cash…).
Points are earned on what the member actually paid in money, stored value included.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_FLOOR, ROUND_HALF_UP, Decimal
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from huiyuan.members.models import Member, Order, OrderLine
from huiyuan.members.orders import (
    clean_order,
    find_member,
    member_ref_given,
    request_hash_of,
)
from huiyuan.members.parsing import parse_datetime
from huiyuan.members.stats import lifecycle_for
from huiyuan.platform.access import check_permission, in_scope
from huiyuan.platform.errors import Conflict, NotFound, ValidationFailed
from huiyuan.platform.events.services import publish_after_commit
from huiyuan.platform.money import money
from huiyuan.platform.sql import fetch_one_prepared
from huiyuan.platform.tenancy import current_schema, tenant_timezone

from .coupons import coupon_discount, coupon_options, coupon_redeem, normalize_code
from .earning import EarnLine, points_for_order
from .exceptions import CouponNotUsable, InsufficientBalance, InsufficientPoints
from .ledger import (
    actor_user,
    default_expiry,
    points_spend,
    stored_value_spend,
)
from .models import Coupon, LoyaltySettings, Tier
from .snapshot import GUARDED_MEMBER_FIELDS, Snapshot, load_snapshot
from .tiers import best_tier

CENT = Decimal("0.01")


def _cents(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


@dataclass
class Quote:
    member: Member | None
    gross: Decimal
    tier_discount: Decimal
    coupon_code: str
    coupon_discount: Decimal
    points_used: int
    points_value: Decimal
    stored_value: Decimal
    due_external: Decimal
    points_to_earn: int
    max_points_usable: int
    settings: LoyaltySettings
    store_id: int
    pos_discount: Decimal = Decimal(0)  # what a POS that priced the order itself took off

    @property
    def paid(self) -> Decimal:
        """What the member pays in money (stored value included); the order's paid amount."""
        return self.gross - self.tier_discount - self.coupon_discount - self.points_value - self.pos_discount

    def as_dict(self) -> dict[str, Any]:
        return {
            "member_id": self.member.pk if self.member else None,
            "gross": _money(self.gross),
            "tier_discount": _money(self.tier_discount),
            "coupon_code": self.coupon_code,
            "coupon_discount": _money(self.coupon_discount),
            "pos_discount": _money(self.pos_discount),
            "points_used": self.points_used,
            "points_value": _money(self.points_value),
            "stored_value": _money(self.stored_value),
            "due_external": _money(self.due_external),
            "paid": _money(self.paid),
            "points_to_earn": self.points_to_earn,
            "max_points_usable": self.max_points_usable,
            "points_balance": self.member.points_balance if self.member else 0,
            "stored_value_balance": _money(self.member.stored_principal + self.member.stored_bonus)
            if self.member
            else "0.00",
        }


def _money(value: Decimal) -> str:
    """Amounts in answers always carry two decimals ("0.00", "88.00")."""
    return str(_cents(Decimal(value)))


def _price(data: dict[str, Any], snap: Snapshot, *, paid_at: datetime, pos_priced: bool = False) -> Quote:
    """Work out every discount and option for a basket from what ``load_snapshot`` read. A
    ``pos_priced`` order was priced by the POS: what it says was paid is what was paid, and the
    member earns on that; redemptions need checkout."""
    settings, member = snap.settings, snap.member
    store_id = snap.store.pk if snap.store else 0
    lines = data.get("lines") or []
    if lines:
        gross = sum((money(line.get("amount"), f"lines[{i}].amount") for i, line in enumerate(lines)), Decimal(0))
    elif pos_priced and data.get("total_amount") in (None, ""):
        gross = money(data.get("paid_amount"), "paid_amount")
    else:
        gross = money(data.get("total_amount"), "total_amount")
    if pos_priced:
        return _price_as_paid(data, snap, gross=gross, paid_at=paid_at)
    tier_discount = Decimal(0)
    if member is not None and member.tier is not None and member.tier.discount_rate < 1:
        tier_discount = _cents(gross * (1 - member.tier.discount_rate))
    after_tier = gross - tier_discount

    coupon_code, coupon_off = "", Decimal(0)
    if data.get("coupon_code"):
        coupon = Coupon.objects.select_related("template").filter(code=normalize_code(str(data["coupon_code"]))).first()
        if coupon is None or member is None or coupon.member_id != member.pk:
            raise CouponNotUsable(_("No such coupon for this member."), code="COUPON_NOT_FOUND")
        coupon_code, coupon_off = coupon.code, coupon_discount(coupon.template, after_tier)
    after_coupon = after_tier - coupon_off

    points_balance = member.points_balance if member else 0
    cap_value = (after_coupon * settings.max_points_share).quantize(CENT, rounding=ROUND_FLOOR)
    max_points = min(points_balance, int(cap_value * settings.points_per_yuan_redeemed))
    points_used = int(data.get("points") or 0)
    if points_used < 0 or points_used > max_points:
        raise InsufficientPoints(
            _("At most %(n)d points can pay for this order.") % {"n": max_points}, fields={"points": [str(max_points)]}
        )
    points_value = (Decimal(points_used) / settings.points_per_yuan_redeemed).quantize(CENT, rounding=ROUND_FLOOR)
    after_points = after_coupon - points_value

    stored_value = money(data.get("stored_value") or "0", "stored_value")
    balance = (member.stored_principal + member.stored_bonus) if member else Decimal(0)
    if stored_value > min(balance, after_points):
        raise InsufficientBalance(
            _("Balance %(available)s, %(amount)s needed.") % {"available": balance, "amount": stored_value}
        )
    due_external = after_points - stored_value

    points_to_earn = 0
    if member is not None and after_points > 0:
        points_to_earn = points_for_order(
            member=member,
            store_id=store_id,
            paid_at=paid_at,
            lines=_line_shares(lines, gross, after_points),
            settings=settings,
            rules=snap.rules,
        )
    return Quote(
        member,
        gross,
        tier_discount,
        coupon_code,
        coupon_off,
        points_used,
        points_value,
        stored_value,
        due_external,
        points_to_earn,
        max_points,
        settings,
        store_id,
    )


def _price_as_paid(data: dict[str, Any], snap: Snapshot, *, gross: Decimal, paid_at: datetime) -> Quote:
    redemptions = [name for name in ("coupon_code", "points", "stored_value") if data.get(name) not in _NO_AMOUNT]
    if redemptions:
        message = _("Redeeming coupons, points or stored value goes through checkout (/api/v1/checkout).")
        raise ValidationFailed(fields={name: [message] for name in redemptions})
    paid = money(data.get("paid_amount"), "paid_amount")
    if paid > gross:
        raise ValidationFailed(fields={"paid_amount": [_("The paid amount is above the order total.")]})
    member, lines = snap.member, data.get("lines") or []
    earn = 0
    if member is not None and paid > 0:
        earn = points_for_order(
            member=member,
            store_id=snap.store.pk if snap.store else 0,
            paid_at=paid_at,
            lines=_line_shares(lines, gross, paid),
            settings=snap.settings,
            rules=snap.rules,
        )
    return Quote(
        member,
        gross,
        Decimal(0),
        "",
        Decimal(0),
        0,
        Decimal(0),
        Decimal(0),
        paid,
        earn,
        0,
        snap.settings,
        snap.store.pk if snap.store else 0,
        pos_discount=gross - paid,
    )


def checkout_quote(*, actor: Any, data: dict[str, Any]) -> Quote:
    """What the member would get for this basket; writes nothing."""
    check_permission(actor, "loyalty.order.create")
    snap = load_snapshot(data, lock=False, now=timezone.now())
    _check_refs(actor, data, snap)
    return _price(data, snap, paid_at=_paid_at(data))


def checkout_options(*, actor: Any, data: dict[str, Any]) -> dict[str, Any]:
    """What the POS shows before paying: the quote, the member's tier and every unused coupon
    with what it would take off this basket (or why it cannot be used)."""
    quote = checkout_quote(actor=actor, data=data)
    answer = quote.as_dict()
    member = quote.member
    answer["tier"] = {"id": member.tier.pk, "name": member.tier.name} if member and member.tier else None
    answer["coupons"] = (
        coupon_options(member_id=member.pk, store_id=quote.store_id, order_amount=quote.gross - quote.tier_discount)
        if member is not None
        else []
    )
    return answer


def _check_refs(actor: Any, data: dict[str, Any], snap: Snapshot) -> None:
    errors: dict[str, list[str]] = {}
    if snap.store is None or not in_scope(actor, snap.store):
        errors["store"] = [_("Unknown store.")]
    if snap.member is None and member_ref_given(data):
        errors["member"] = [_("No member with this id, phone or card number.")]
    if errors:
        raise ValidationFailed(fields=errors)


def _line_shares(lines: list[dict[str, Any]], gross: Decimal, paid: Decimal) -> list[EarnLine]:
    """Spread the money actually paid over the lines in proportion to their gross amounts."""
    if not lines or gross == 0:
        return [EarnLine(category="", amount=paid)]
    return [
        EarnLine(category=str(line.get("category") or ""), amount=Decimal(str(line["amount"])) * paid / gross)
        for line in lines
    ]


def _paid_at(data: dict[str, Any]) -> datetime:
    try:
        return parse_datetime(data["paid_at"], tenant_timezone()) if data.get("paid_at") else timezone.now()
    except ValueError as exc:
        raise ValidationFailed(fields={"paid_at": [_("Enter a time such as 2026-03-08 14:30.")]}) from exc


@dataclass(frozen=True)
class CheckoutResult:
    order: Order
    created: bool


def order_record(*, actor: Any, data: dict[str, Any]) -> CheckoutResult:
    """Record an order the POS priced itself (``POST /api/v1/orders``): the same path as checkout,
    so points, tier, statistics and events are the same whichever way an order arrives."""
    return checkout_commit(actor=actor, data=data, pos_priced=True)


def checkout_commit(*, actor: Any, data: dict[str, Any], pos_priced: bool = False) -> CheckoutResult:
    """Record the order with its tier discount, redemptions and earnings: one statement reads the
    configuration, store and member, and one writes the order, its lines, the member's statistics
    and balances, the points earned, a tier change and the events.

    An order that redeems nothing (most of them) reads without a lock and writes in autocommit:
    the write re-checks, under the member's row lock, that the member is as read, and writes
    nothing otherwise. Orders that redeem a coupon, points or stored value, and those whose member
    changed in between, lock the member first and go through the ledgers in one transaction."""
    check_permission(actor, "loyalty.order.create")
    hashed = {k: v for k, v in data.items() if k != "payment_password"}
    # The same body priced by the POS and by checkout are two different orders.
    request_hash = request_hash_of({**hashed, "_priced_by": "pos"} if pos_priced else hashed)
    redeems = bool(data.get("coupon_code") or data.get("points")) or data.get("stored_value") not in _NO_AMOUNT
    if data.get("stored_value") not in _NO_AMOUNT and not pos_priced:
        _verify_payer_pin(data)
    if not redeems or pos_priced:
        result = _commit(actor, data, request_hash, lock=False, pos_priced=pos_priced)
        if result is not None:
            return result
    with transaction.atomic():
        result = _commit(actor, data, request_hash, lock=True, pos_priced=pos_priced)
        assert result is not None  # under the lock the member cannot have changed
        return result


_NO_AMOUNT = (None, "", 0, "0")
_STALE = object()


def _commit(
    actor: Any, data: dict[str, Any], request_hash: str, *, lock: bool, pos_priced: bool
) -> CheckoutResult | None:
    now = timezone.now()
    snap = load_snapshot(data, lock=lock, now=now)
    if snap.existing_order is not None:
        return _checkout_replay(actor, snap.existing_order[0], snap.existing_order[1], request_hash)
    if pos_priced:  # every problem of a POS's order at once, by field, before any pricing
        clean_order(actor, data, store=snap.store, member_id=snap.member.pk if snap.member else None)
    _check_refs(actor, data, snap)
    quote = _price(data, snap, paid_at=_paid_at(data), pos_priced=pos_priced)
    externals = list(data.get("payment_methods") or [{"method": "other", "amount": str(quote.due_external)}])
    payments = [p for p in externals if Decimal(str(p.get("amount") or 0)) > 0]
    if quote.stored_value:
        payments.append({"method": "stored_value", "amount": str(quote.stored_value)})
    order_data = {**data, "total_amount": str(quote.gross), "paid_amount": str(quote.paid)}
    order_data["payment_methods"] = payments
    member_id = snap.member.pk if snap.member else None
    cleaned, lines = clean_order(actor, order_data, store=snap.store, member_id=member_id)
    order = _write(actor, cleaned, lines, quote, snap, request_hash=request_hash, now=now)
    if order is _STALE:
        return None  # the member changed since the read: do it again under the lock
    if order is None:  # another request committed this order number first
        existing = Order.objects.get(order_no=cleaned["order_no"])
        return _checkout_replay(actor, existing.pk, existing.request_hash, request_hash)
    assert isinstance(order, Order)
    if snap.member is not None:
        _redeem(actor, order, quote, snap.member)
    return CheckoutResult(order=order, created=True)


def _verify_payer_pin(data: dict[str, Any]) -> None:
    from .stored_value import payment_password_verify

    ref = data.get("member") or {}
    payer = find_member(member_id=ref.get("id"), phone=ref.get("phone"), card_no=ref.get("card_no"))
    if payer is not None:
        payment_password_verify(member_id=payer.pk, pin=data.get("payment_password"))


def _checkout_replay(actor: Any, order_id: int, stored_hash: str, request_hash: str) -> CheckoutResult:
    """The first answer for a number already taken. An order of a store the caller cannot see
    answers 404, exactly like one that does not exist: a replay is a read."""
    order = Order.objects.select_related("store").get(pk=order_id)
    if order.store is None or not in_scope(actor, order.store):
        raise NotFound()
    if stored_hash != request_hash:
        raise Conflict(
            _("Order %(no)s was already recorded with different content.") % {"no": order.order_no},
            code="ORDER_CONFLICT",
        )
    return CheckoutResult(order=order, created=False)


# ``seen``: the member is still as the snapshot read it (always so when the caller holds its
# lock), and from here on locked until the statement's transaction ends. Everything hangs on it
# (``go``), and everything after the order on the order being new: a number already taken writes
# nothing at all.
_WRITE_SQL = """
WITH seen AS (
    SELECT id FROM members_member
    WHERE id = %(member_id)s AND updated_at = %(seen_updated_at)s AND order_count = %(seen_order_count)s
        AND total_spend = %(seen_total_spend)s AND points_balance = %(seen_points_balance)s
        AND stored_principal = %(seen_stored_principal)s AND stored_bonus = %(seen_stored_bonus)s
        AND tier_id IS NOT DISTINCT FROM %(seen_tier_id)s
    FOR UPDATE
), go AS (
    SELECT 1 WHERE %(member_id)s::bigint IS NULL OR EXISTS (SELECT FROM seen)
), o AS (
    INSERT INTO members_order (order_no, store_id, member_id, total_amount, paid_amount, refunded_amount,
        payment_methods, benefits, status, source, paid_at, request_hash, created_at)
    SELECT %(order_no)s, %(store_id)s, %(member_id)s, %(total)s, %(paid)s, 0, %(payments)s::jsonb,
        %(benefits)s::jsonb, 'paid', %(source)s, %(paid_at)s, %(request_hash)s, %(now)s
    FROM go
    ON CONFLICT (order_no) DO NOTHING
    RETURNING id
), line AS (
    INSERT INTO members_orderline (order_id, sku, name, category, quantity, amount, refunded_amount)
    SELECT o.id, l.sku, l.name, l.category, l.quantity, l.amount, 0
    FROM o, unnest(%(skus)s::text[], %(names)s::text[], %(categories)s::text[], %(quantities)s::numeric[],
        %(amounts)s::numeric[]) WITH ORDINALITY AS l(sku, name, category, quantity, amount, n)
    ORDER BY l.n
    RETURNING id
), member AS (
    UPDATE members_member SET order_count = %(order_count)s, total_spend = %(total_spend)s,
        first_purchase_at = %(first_purchase_at)s, last_purchase_at = %(last_purchase_at)s,
        lifecycle = %(lifecycle)s, points_balance = %(points_balance)s, tier_id = %(tier_id)s,
        tier_since = %(tier_since)s
    FROM o WHERE members_member.id = %(member_id)s
), earned AS (
    INSERT INTO loyalty_pointsentry (member_id, kind, amount, balance_after, idempotency_key, cause, cause_id,
        reason, actor_id, created_at)
    SELECT %(member_id)s, 'earn', %(earn)s, %(points_balance)s, %(earn_key)s, 'order', %(order_no)s, '',
        %(actor_id)s, %(now)s
    FROM o WHERE %(earn)s > 0
    RETURNING id
), lot AS (
    INSERT INTO loyalty_pointslot (member_id, earned_by_id, amount, remaining, expires_at, created_at)
    SELECT %(member_id)s, earned.id, %(earn)s, %(earn)s, %(expires_at)s, %(now)s FROM earned
), tier_change AS (
    INSERT INTO loyalty_tierchange (member_id, from_tier_id, to_tier_id, reason, qualifying_spend, created_at)
    SELECT %(member_id)s, %(from_tier_id)s, %(tier_id)s, %(tier_reason)s, %(qualifying_spend)s, %(now)s
    FROM o WHERE %(tier_changed)s
), event AS (
    INSERT INTO events_outboxevent (tenant_schema, event_type, aggregate_type, aggregate_id, payload, created_at,
        attempts, last_error)
    SELECT %(schema)s, e.type, e.aggregate_type,
        CASE WHEN e.of_order THEN o.id::text ELSE e.aggregate_id END,
        CASE WHEN e.of_order THEN e.payload || jsonb_build_object('id', o.id) ELSE e.payload END,
        %(now)s, 0, ''
    FROM o, jsonb_to_recordset(%(events)s::jsonb)
        AS e(type text, aggregate_type text, aggregate_id text, payload jsonb, of_order boolean)
    RETURNING id
)
SELECT (SELECT count(*) FROM go), o.id, (SELECT array_agg(event.id ORDER BY event.id) FROM event),
    (SELECT array_agg(line.id ORDER BY line.id) FROM line)
FROM (VALUES (1)) AS one LEFT JOIN o ON true
"""


def _write(
    actor: Any,
    cleaned: dict[str, Any],
    lines: list[dict[str, Any]],
    quote: Quote,
    snap: Snapshot,
    *,
    request_hash: str,
    now: datetime,
) -> Order | object | None:
    """Insert the order and everything it changes in one statement. Returns None when an order
    with this number already exists and ``_STALE`` when the member changed since the snapshot
    (nothing is written then)."""
    member, order_no = snap.member, cleaned["order_no"]
    earn = quote.points_to_earn if member is not None else 0
    benefits = {**quote.as_dict(), "points_earned": earn}
    for name in ("points_balance", "stored_value_balance", "max_points_usable", "points_to_earn"):
        benefits.pop(name)
    order_paid = {
        "type": "order.paid",
        "aggregate_type": "order",
        "of_order": True,  # the statement adds the new order's id
        "payload": {
            "order_no": order_no,
            "store_id": cleaned["store_id"],
            "member_id": cleaned["member_id"],
            "paid_amount": str(cleaned["paid_amount"]),
            "paid_at": cleaned["paid_at"].isoformat(),
        },
    }
    changes, member_events = (
        _member_changes(member, snap, cleaned, earn=earn, now=now) if member is not None else (_NO_MEMBER, [])
    )
    params = {
        **changes,
        "order_no": order_no,
        "store_id": cleaned["store_id"],
        "total": cleaned["total_amount"],
        "paid": cleaned["paid_amount"],
        "payments": json.dumps(cleaned["payment_methods"], cls=DjangoJSONEncoder),
        "benefits": json.dumps(benefits, cls=DjangoJSONEncoder),
        "source": Order.Source.POS,
        "paid_at": cleaned["paid_at"],
        "request_hash": request_hash,
        "now": now,
        "skus": [line["sku"] for line in lines],
        "names": [line["name"] for line in lines],
        "categories": [line["category"] for line in lines],
        "quantities": [line["quantity"] for line in lines],
        "amounts": [line["amount"] for line in lines],
        "actor_id": getattr(actor_user(actor), "pk", None),
        "schema": current_schema(),
        "events": json.dumps([order_paid, *member_events], cls=DjangoJSONEncoder),
    }
    row = fetch_one_prepared(_WRITE_SQL, params)
    assert row is not None
    went_ahead, order_id, event_ids, line_ids = row
    if not went_ahead:
        return _STALE
    if order_id is None:
        return None
    publish_after_commit(list(event_ids or []))
    if member is not None:  # the ledgers that redeem next start from the balance just written
        member.points_balance, member.tier_id = changes["points_balance"], changes["tier_id"]
    order = Order(
        id=order_id,
        order_no=order_no,
        store_id=cleaned["store_id"],
        member_id=cleaned["member_id"],
        total_amount=cleaned["total_amount"],
        paid_amount=cleaned["paid_amount"],
        refunded_amount=Decimal(0),
        payment_methods=cleaned["payment_methods"],
        benefits=benefits,
        status=Order.Status.PAID,
        source=Order.Source.POS,
        paid_at=cleaned["paid_at"],
        request_hash=request_hash,
        created_at=now,
    )
    # The answer is built from what was written, without reading it back: lines with their ids,
    # the store as the snapshot read it.
    if snap.store is not None:
        order.store = snap.store
    order._prefetched_objects_cache = {  # type: ignore[attr-defined]
        "lines": [OrderLine(id=pk, order_id=order_id, **line) for pk, line in zip(line_ids or [], lines, strict=True)]
    }
    return order


# The write statement's member parameters for an order without a member: nothing to guard,
# update, earn or move.
_NO_MEMBER: dict[str, Any] = {
    **dict.fromkeys(
        (
            "member_id",
            "order_count",
            "total_spend",
            "first_purchase_at",
            "last_purchase_at",
            "lifecycle",
            "points_balance",
            "tier_id",
            "tier_since",
            "expires_at",
            "from_tier_id",
        )
    ),
    **{f"seen_{name}": None for name in GUARDED_MEMBER_FIELDS},
    "earn": 0,
    "earn_key": "",
    "tier_changed": False,
    "tier_reason": "",
    "qualifying_spend": 0,
}


def _member_changes(
    member: Member, snap: Snapshot, cleaned: dict[str, Any], *, earn: int, now: datetime
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """What the order does to its member (statistics, points, tier), as the write statement's
    parameters, and the events that go with it."""
    order_no, paid, paid_at = cleaned["order_no"], cleaned["paid_amount"], cleaned["paid_at"]
    first = min(filter(None, [member.first_purchase_at, paid_at]))
    last = max(filter(None, [member.last_purchase_at, paid_at]))
    balance = member.points_balance + earn
    tier, spend = _tier_after(member, snap, paid=paid, paid_at=paid_at, now=now)
    changed = tier is not None and (member.tier is None or tier.rank > member.tier.rank)
    reason = f"order {order_no}"
    params = {
        "member_id": member.pk,
        "order_count": member.order_count + 1,
        "total_spend": member.total_spend + paid,
        "first_purchase_at": first,
        "last_purchase_at": last,
        "lifecycle": lifecycle_for(first=first, last=last, settings=snap.member_settings, now=now),
        "points_balance": balance,
        "tier_id": tier.pk if changed and tier else member.tier_id,
        "tier_since": now if changed else member.tier_since,
        "earn": earn,
        "earn_key": f"order:{order_no}:earn",
        "expires_at": default_expiry(paid_at, snap.settings),
        "tier_changed": changed,
        "from_tier_id": member.tier_id,
        "tier_reason": reason,
        "qualifying_spend": spend,
        **{f"seen_{name}": getattr(member, name) for name in GUARDED_MEMBER_FIELDS},
    }
    events = []
    if earn:
        payload = {"member_id": member.pk, "amount": earn, "balance": balance, "cause": "order", "cause_id": order_no}
        events.append(
            {"type": "points.earned", "aggregate_type": "member", "aggregate_id": str(member.pk), "payload": payload}
        )
    if changed and tier is not None:
        payload = {
            "member_id": member.pk,
            "from_tier_id": member.tier_id,
            "to_tier_id": tier.pk,
            "reason": reason,
            "upgrade": True,  # an order only ever moves a member up
        }
        events.append(
            {"type": "tier.changed", "aggregate_type": "member", "aggregate_id": str(member.pk), "payload": payload}
        )
    return params, events


def _tier_after(
    member: Member, snap: Snapshot, *, paid: Decimal, paid_at: datetime, now: datetime
) -> tuple[Tier | None, Decimal]:
    """The best tier the member's spend reaches with this order counted."""

    def spend_for(tier: Tier) -> Decimal:
        if not tier.window_days:
            return member.total_spend + paid
        counts = paid_at >= now - timedelta(days=tier.window_days)
        return snap.window_spend.get(tier.window_days, Decimal(0)) + (paid if counts else 0)

    return best_tier(snap.tiers, spend_for)


def _redeem(actor: Any, order: Order, quote: Quote, member: Member) -> None:
    """Coupon, points and stored value used to pay, through their ledgers (the member is locked)."""
    key = f"order:{order.order_no}"
    if quote.coupon_code:
        coupon_redeem(
            code=quote.coupon_code,
            store_id=order.store_id,
            member_id=member.pk,
            order_amount=quote.gross - quote.tier_discount,
            idempotency_key=key,
            order_no=order.order_no,
        )
    if quote.points_used:
        points_spend(
            member_id=member.pk,
            amount=quote.points_used,
            idempotency_key=f"{key}:points",
            cause="order",
            cause_id=order.order_no,
            actor=actor,
            locked=member,
        )
    if quote.stored_value:
        stored_value_spend(
            member_id=member.pk,
            amount=quote.stored_value,
            idempotency_key=f"{key}:sv",
            cause="order",
            cause_id=order.order_no,
            actor=actor,
            locked=member,
            settings=quote.settings,
        )
