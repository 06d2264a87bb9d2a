"""Points and stored-value ledgers: the only code that writes their entries and cached balances.

Every write locks the member row first (``SELECT … FOR UPDATE``), so concurrent writes for one
member run one after another; then it looks for an entry with the same idempotency key (a retry
gets the first result back) and only then checks the balance and appends. The cached balance on
the member changes in the same transaction; CHECK constraints make a negative balance impossible
even for code that forgets to check.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from dateutil.relativedelta import relativedelta
from django.db import connection, transaction
from django.db.models import F, Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from huiyuan.members.models import Member
from huiyuan.platform.access import ApiKeyPrincipal
from huiyuan.platform.errors import NotFound, ValidationFailed
from huiyuan.platform.events.services import event_record
from huiyuan.platform.money import money
from huiyuan.platform.tenancy import tenant_timezone

from .exceptions import InsufficientBalance, InsufficientPoints, LedgerKeyConflict
from .models import Cause, LoyaltySettings, PointsEntry, PointsLot, PointsLotMovement, StoredValueEntry

CENT = Decimal("0.01")
_DEFAULT = object()


@dataclass(frozen=True)
class PointsResult:
    entry: PointsEntry
    replayed: bool


@dataclass(frozen=True)
class StoredValueResult:
    entry: StoredValueEntry
    replayed: bool


def loyalty_settings() -> LoyaltySettings:
    return LoyaltySettings.objects.order_by("pk").first() or LoyaltySettings.objects.create()


def _lock_member(member_id: int) -> Member:
    member = Member.objects.select_for_update().filter(pk=member_id).first()
    if member is None:
        raise NotFound()
    return member


def actor_user(actor: Any) -> Any:
    return (
        actor if actor is not None and not isinstance(actor, ApiKeyPrincipal) and getattr(actor, "pk", None) else None
    )


def default_expiry(earned_at: datetime, settings: LoyaltySettings | None = None) -> datetime | None:
    settings = settings or loyalty_settings()
    if settings.points_expiry == LoyaltySettings.Expiry.NEVER:
        return None
    local = earned_at.astimezone(tenant_timezone())
    if settings.points_expiry == LoyaltySettings.Expiry.END_OF_YEAR:
        # Points earned in a year last until the end of the next one (a common Chinese rule).
        return datetime(local.year + 2, 1, 1, tzinfo=local.tzinfo)
    return earned_at + relativedelta(months=settings.points_expiry_months)


def _positive_points(amount: int) -> None:
    if not isinstance(amount, int) or isinstance(amount, bool) or amount <= 0:
        raise ValidationFailed(fields={"amount": [_("Points are a positive whole number.")]})


def _replay_points(key: str, member_id: int, amount: int) -> PointsResult | None:
    existing = PointsEntry.objects.filter(idempotency_key=key).first()
    if existing is None:
        return None
    if existing.member_id != member_id or abs(existing.amount) != amount:
        raise LedgerKeyConflict()
    return PointsResult(entry=existing, replayed=True)


def _append_points(
    member: Member,
    kind: str,
    amount: int,
    *,
    key: str,
    cause: str,
    cause_id: str = "",
    reason: str = "",
    actor: Any = None,
) -> PointsEntry:
    """Append one points entry and move the locked member's cached balance with it."""
    balance = member.points_balance + amount
    entry = PointsEntry.objects.create(
        member_id=member.pk,
        kind=kind,
        amount=amount,
        balance_after=balance,
        idempotency_key=key,
        cause=cause,
        cause_id=str(cause_id),
        reason=reason[:255],
        actor=actor_user(actor),
    )
    Member.objects.filter(pk=member.pk).update(points_balance=balance)
    member.points_balance = balance
    return entry


def _append_stored_value(
    member: Member,
    kind: str,
    principal: Decimal,
    bonus: Decimal,
    *,
    key: str,
    cause: str,
    cause_id: str = "",
    reason: str = "",
    actor: Any = None,
) -> StoredValueEntry:
    """Append one stored-value entry and move the locked member's cached balances with it."""
    entry = StoredValueEntry.objects.create(
        member_id=member.pk,
        kind=kind,
        principal=principal,
        bonus=bonus,
        principal_after=member.stored_principal + principal,
        bonus_after=member.stored_bonus + bonus,
        idempotency_key=key,
        cause=cause,
        cause_id=str(cause_id),
        reason=reason[:255],
        actor=actor_user(actor),
    )
    Member.objects.filter(pk=member.pk).update(stored_principal=entry.principal_after, stored_bonus=entry.bonus_after)
    member.stored_principal, member.stored_bonus = entry.principal_after, entry.bonus_after
    return entry


def points_earn(
    *,
    member_id: int,
    amount: int,
    idempotency_key: str,
    cause: str,
    cause_id: str = "",
    reason: str = "",
    actor: Any = None,
    expires_at: Any = _DEFAULT,
    earned_at: datetime | None = None,
    locked: Member | None = None,
    settings: LoyaltySettings | None = None,
    kind: str = PointsEntry.Kind.EARN,
) -> PointsResult:
    """Credit points as a new lot that expires by the tenant's rule (or ``expires_at``).
    ``locked``: the member row, when the caller already holds its lock in this transaction."""
    _positive_points(amount)
    with transaction.atomic(savepoint=locked is None):  # the caller's transaction, if it holds the lock
        member = locked or _lock_member(member_id)
        if replay := _replay_points(idempotency_key, member_id, amount):
            return replay
        entry = _append_points(
            member,
            kind,
            amount,
            key=idempotency_key,
            cause=cause,
            cause_id=cause_id,
            reason=reason,
            actor=actor,
        )
        expiry = default_expiry(earned_at or entry.created_at, settings) if expires_at is _DEFAULT else expires_at
        PointsLot.objects.create(
            member_id=member_id, earned_by=entry, amount=amount, remaining=amount, expires_at=expiry
        )
        event_record(
            "points.earned",
            {
                "member_id": member_id,
                "amount": amount,
                "balance": entry.balance_after,
                "cause": cause,
                "cause_id": str(cause_id),
            },
            aggregate_type="member",
            aggregate_id=member_id,
        )
    return PointsResult(entry=entry, replayed=False)


def _consume_lots(member_id: int, amount: int, entry: PointsEntry, *, now: datetime) -> None:
    """Take ``amount`` from open, unexpired lots, the soonest-expiring first (FIFO by expiry)."""
    lots = (
        PointsLot.objects.select_for_update()
        .filter(member_id=member_id, remaining__gt=0)
        .exclude(expires_at__lte=now)
        .order_by(F("expires_at").asc(nulls_last=True), "id")
    )
    left = amount
    movements = []
    for lot in lots:
        take = min(lot.remaining, left)
        PointsLot.objects.filter(pk=lot.pk).update(remaining=F("remaining") - take)
        movements.append(PointsLotMovement(entry=entry, lot=lot, amount=-take))
        left -= take
        if left == 0:
            break
    if left:
        # The cached balance said yes but the lots disagree: refuse rather than go negative.
        raise InsufficientPoints()
    PointsLotMovement.objects.bulk_create(movements)


def points_spend(
    *,
    member_id: int,
    amount: int,
    idempotency_key: str,
    cause: str,
    cause_id: str = "",
    reason: str = "",
    actor: Any = None,
    kind: str = PointsEntry.Kind.SPEND,
    locked: Member | None = None,
) -> PointsResult:
    _positive_points(amount)
    with transaction.atomic(savepoint=locked is None):  # the caller's transaction, if it holds the lock
        member = locked or _lock_member(member_id)
        if replay := _replay_points(idempotency_key, member_id, amount):
            return replay
        spendable = _spendable_points(member_id)
        if amount > min(member.points_balance, spendable):
            raise InsufficientPoints(
                _("%(balance)d points available, %(amount)d needed.")
                % {"balance": min(member.points_balance, spendable), "amount": amount}
            )
        entry = _append_points(
            member, kind, -amount, key=idempotency_key, cause=cause, cause_id=cause_id, reason=reason, actor=actor
        )
        _consume_lots(member_id, amount, entry, now=timezone.now())
    return PointsResult(entry=entry, replayed=False)


def _spendable_points(member_id: int) -> int:
    """Open lots not yet expired (expired lots wait for the expiry job but are not spendable)."""
    return int(
        PointsLot.objects.filter(member_id=member_id, remaining__gt=0)
        .exclude(expires_at__lte=timezone.now())
        .aggregate(total=Sum("remaining"))["total"]
        or 0
    )


def restore_points(
    *, member_id: int, order_no: str, amount: int, idempotency_key: str, actor: Any = None
) -> PointsResult:
    """Give back points an order used (a refund): into the very lots they came from, latest
    consumed first, so they keep their original expiry."""
    _positive_points(amount)
    with transaction.atomic():
        member = _lock_member(member_id)
        if replay := _replay_points(idempotency_key, member_id, amount):
            return replay
        spend = PointsEntry.objects.get(idempotency_key=f"order:{order_no}:points")
        taken: dict[int, int] = {}
        for movement in PointsLotMovement.objects.filter(entry=spend).order_by("-id"):
            taken[movement.lot_id] = -movement.amount
        restored_before = PointsLotMovement.objects.filter(
            entry__kind=PointsEntry.Kind.REVERSE, entry__cause_id=order_no, amount__gt=0, lot_id__in=list(taken)
        ).values_list("lot_id", "amount")
        for lot_id, restored in restored_before:
            taken[lot_id] -= restored
        entry = _append_points(
            member,
            PointsEntry.Kind.REVERSE,
            amount,
            key=idempotency_key,
            cause=Cause.REFUND,
            cause_id=order_no,
            actor=actor,
        )
        left = amount
        movements = []
        for lot_id, room in taken.items():
            give = min(room, left)
            if give <= 0:
                continue
            PointsLot.objects.filter(pk=lot_id).update(remaining=F("remaining") + give)
            movements.append(PointsLotMovement(entry=entry, lot_id=lot_id, amount=give))
            left -= give
            if left == 0:
                break
        if left:
            raise ValidationFailed(fields={"amount": [_("More points than the order used.")]})
        PointsLotMovement.objects.bulk_create(movements)
        _expire_restored(member, movements, key=idempotency_key, actor=actor)
    return PointsResult(entry=entry, replayed=False)


def _expire_restored(member: Member, movements: list[PointsLotMovement], *, key: str, actor: Any) -> None:
    """Points given back into a lot whose time has passed would have expired with it: they expire
    again at once, as an entry of their own. (The nightly job expires a lot once; without this a
    lot refilled after its expiry would stay spendable for ever.)"""
    now = timezone.now()
    past = set(
        PointsLot.objects.filter(pk__in=[m.lot_id for m in movements], expires_at__lte=now).values_list("pk", flat=True)
    )
    for movement in movements:
        if movement.lot_id not in past:
            continue
        expired = _append_points(
            member,
            PointsEntry.Kind.EXPIRE,
            -movement.amount,
            key=f"{key}:expire:{movement.lot_id}",
            cause=Cause.EXPIRY,
            cause_id=str(movement.lot_id),
            actor=actor,
        )
        PointsLot.objects.filter(pk=movement.lot_id).update(remaining=F("remaining") - movement.amount)
        PointsLotMovement.objects.create(entry=expired, lot_id=movement.lot_id, amount=-movement.amount)


EXPIRE_SQL = """
CREATE TEMP TABLE expiring ON COMMIT DROP AS
SELECT l.id AS lot_id, l.member_id, l.remaining,
       m.points_balance - sum(l.remaining) OVER (PARTITION BY l.member_id ORDER BY l.expires_at, l.id) AS balance_after
FROM loyalty_pointslot l JOIN members_member m ON m.id = l.member_id
WHERE l.member_id = ANY(%(ids)s) AND l.remaining > 0 AND l.expires_at <= %(now)s;

INSERT INTO loyalty_pointsentry (member_id, kind, amount, balance_after, idempotency_key, cause, cause_id, reason,
                                 created_at)
SELECT member_id, 'expire', -remaining, balance_after, 'expire:lot:' || lot_id || '@' || %(run)s, 'expiry',
       lot_id::text, '', %(now)s
FROM expiring ORDER BY member_id, balance_after DESC;

INSERT INTO loyalty_pointslotmovement (entry_id, lot_id, amount)
SELECT e.id, x.lot_id, -x.remaining FROM expiring x
JOIN loyalty_pointsentry e ON e.idempotency_key = 'expire:lot:' || x.lot_id || '@' || %(run)s;

UPDATE loyalty_pointslot SET remaining = 0 WHERE id IN (SELECT lot_id FROM expiring);

UPDATE members_member m SET points_balance = m.points_balance - s.total
FROM (SELECT member_id, sum(remaining) AS total FROM expiring GROUP BY member_id) s WHERE m.id = s.member_id;

INSERT INTO events_outboxevent (tenant_schema, event_type, aggregate_type, aggregate_id, payload, created_at,
                                attempts, last_error)
SELECT %(schema)s, 'points.expired', 'member', member_id::text,
       jsonb_build_object('member_id', member_id, 'amount', sum(remaining), 'lots', count(*)), now(), 0, ''
FROM expiring GROUP BY member_id;
"""


def points_expire_due(*, now: datetime | None = None, batch_members: int = 5000) -> int:
    """Expire every lot whose time has come, a batch of members per transaction, set-based: one
    entry and movement per lot, one balance update and one ``points.expired`` event per member.

    Re-runnable: an expired lot has nothing remaining, so nothing expires twice. The entry's key
    names the lot and the run (``expire:lot:<id>@<run>``): a lot refilled by a refund after it
    expired (see ``_expire_restored``; a server whose clock is behind the job's can do it) expires
    again on a later run instead of stopping the job on a duplicate key. Members are locked in id
    order, like every other ledger write, so the job and the tills never deadlock and never see a
    half-expired member."""
    from huiyuan.platform.tenancy import current_schema

    now = now or timezone.now()
    expired = 0
    after = 0
    while True:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                """SELECT id FROM members_member WHERE id IN (
                       SELECT DISTINCT member_id FROM loyalty_pointslot
                       WHERE remaining > 0 AND expires_at <= %s AND member_id > %s ORDER BY member_id LIMIT %s)
                   ORDER BY id FOR UPDATE""",
                [now, after, batch_members],
            )
            ids = [pk for (pk,) in cursor.fetchall()]
            if not ids:
                return expired
            cursor.execute("DROP TABLE IF EXISTS expiring")
            run = uuid.uuid4().hex[:16]  # names this run in the entries' keys
            cursor.execute(EXPIRE_SQL, {"ids": ids, "now": now, "run": run, "schema": current_schema()})
            cursor.execute("SELECT coalesce(sum(remaining), 0) FROM expiring")
            (batch_total,) = cursor.fetchone()  # type: ignore[misc]
            expired += int(batch_total)
            after = ids[-1]


# ---- stored value ---------------------------------------------------------------------------------
def _replay_stored(key: str, member_id: int, total: Decimal) -> StoredValueResult | None:
    existing = StoredValueEntry.objects.filter(idempotency_key=key).first()
    if existing is None:
        return None
    if existing.member_id != member_id or abs(existing.principal + existing.bonus) != total:
        raise LedgerKeyConflict()
    return StoredValueResult(entry=existing, replayed=True)


def stored_value_topup(
    *,
    member_id: int,
    principal: Any,
    bonus: Any = 0,
    idempotency_key: str,
    cause: str = Cause.STAFF,
    cause_id: str = "",
    reason: str = "",
    actor: Any = None,
) -> StoredValueResult:
    principal_amount, bonus_amount = money(principal, "principal"), money(bonus, "bonus")
    if principal_amount <= 0:
        raise ValidationFailed(fields={"principal": [_("A top-up needs a positive amount.")]})
    with transaction.atomic():
        member = _lock_member(member_id)
        if replay := _replay_stored(idempotency_key, member_id, principal_amount + bonus_amount):
            return replay
        entry = _append_stored_value(
            member,
            StoredValueEntry.Kind.TOPUP,
            principal_amount,
            bonus_amount,
            key=idempotency_key,
            cause=cause,
            cause_id=str(cause_id),
            reason=reason,
            actor=actor,
        )
        event_record(
            "stored_value.topped_up",
            {"member_id": member_id, "principal": str(principal_amount), "bonus": str(bonus_amount)},
            aggregate_type="member",
            aggregate_id=member_id,
        )
    return StoredValueResult(entry=entry, replayed=False)


def split_spend(amount: Decimal, principal: Decimal, bonus: Decimal, mode: str) -> tuple[Decimal, Decimal]:
    """How much of a spend comes from principal and from bonus."""
    if mode == LoyaltySettings.BonusUse.LAST:
        from_principal = min(amount, principal)
        return from_principal, amount - from_principal
    total = principal + bonus
    from_bonus = (amount * bonus / total).quantize(CENT, rounding=ROUND_HALF_UP) if total else Decimal(0)
    from_bonus = min(from_bonus, bonus)
    from_principal = amount - from_bonus
    if from_principal > principal:  # rounding pushed past the principal: take the rest from bonus
        from_bonus += from_principal - principal
        from_principal = principal
    return from_principal, from_bonus


def stored_value_spend(
    *,
    member_id: int,
    amount: Any,
    idempotency_key: str,
    cause: str = Cause.ORDER,
    cause_id: str = "",
    reason: str = "",
    actor: Any = None,
    locked: Member | None = None,
    settings: LoyaltySettings | None = None,
) -> StoredValueResult:
    total = money(amount, "amount")
    if total <= 0:
        raise ValidationFailed(fields={"amount": [_("Enter a positive amount.")]})
    with transaction.atomic(savepoint=locked is None):  # the caller's transaction, if it holds the lock
        member = locked or _lock_member(member_id)
        if replay := _replay_stored(idempotency_key, member_id, total):
            return replay
        available = member.stored_principal + member.stored_bonus
        if total > available:
            raise InsufficientBalance(
                _("Balance %(available)s, %(amount)s needed.") % {"available": available, "amount": total}
            )
        from_principal, from_bonus = split_spend(
            total, member.stored_principal, member.stored_bonus, (settings or loyalty_settings()).bonus_use
        )
        entry = _append_stored_value(
            member,
            StoredValueEntry.Kind.SPEND,
            -from_principal,
            -from_bonus,
            key=idempotency_key,
            cause=cause,
            cause_id=str(cause_id),
            reason=reason,
            actor=actor,
        )
        event_record(
            "stored_value.spent",
            {"member_id": member_id, "amount": str(total), "principal": str(from_principal), "bonus": str(from_bonus)},
            aggregate_type="member",
            aggregate_id=member_id,
        )
        threshold = (settings or loyalty_settings()).low_balance_threshold
        if threshold and available >= threshold > available - total:
            event_record(
                "stored_value.low",
                {"member_id": member_id, "balance": str(available - total), "threshold": str(threshold)},
                aggregate_type="member",
                aggregate_id=member_id,
            )
    return StoredValueResult(entry=entry, replayed=False)


# ---- reconciliation -----------------------------------------------------------------------------
@dataclass(frozen=True)
class Drift:
    member_id: int
    ledger: str
    cached: Any
    from_entries: Any
    from_lots: Any = None


def reconcile() -> list[Drift]:
    """Prove sum(entries) = cached balance (= sum of open lots for points) for every member; return
    every member where they differ (an empty list means the books balance)."""
    drifts: list[Drift] = []
    points = dict(PointsEntry.objects.values("member_id").annotate(s=Sum("amount")).values_list("member_id", "s"))
    lots = dict(
        PointsLot.objects.filter(remaining__gt=0)
        .values("member_id")
        .annotate(s=Sum("remaining"))
        .values_list("member_id", "s")
    )
    stored = {
        row["member_id"]: (row["p"], row["b"])
        for row in StoredValueEntry.objects.values("member_id").annotate(p=Sum("principal"), b=Sum("bonus"))
    }
    members = Member.objects.filter(pk__in=set(points) | set(lots) | set(stored)).values_list(
        "pk", "points_balance", "stored_principal", "stored_bonus"
    )
    for pk, cached_points, principal, bonus in members:
        if not cached_points == points.get(pk, 0) == lots.get(pk, 0):
            drifts.append(Drift(pk, "points", cached_points, points.get(pk, 0), lots.get(pk, 0)))
        if (principal, bonus) != stored.get(pk, (Decimal(0), Decimal(0))):
            drifts.append(Drift(pk, "stored_value", (principal, bonus), stored.get(pk)))
    return drifts


def stored_value_reverse(
    *, member_id: int, order_no: str, amount: Decimal, idempotency_key: str, actor: Any = None
) -> StoredValueResult:
    """Return stored value an order spent (a refund), split between principal and bonus in the
    proportion the order took them."""
    total = money(amount, "amount")
    with transaction.atomic():
        member = _lock_member(member_id)
        if replay := _replay_stored(idempotency_key, member_id, total):
            return replay
        spend = StoredValueEntry.objects.get(idempotency_key=f"order:{order_no}:sv")
        spent_bonus, spent = -spend.bonus, -(spend.principal + spend.bonus)
        # Cumulative: the bonus returned by all refunds so far is the order's bonus share of all
        # the money returned so far, so partial refunds add up to exactly what was taken of each.
        earlier = StoredValueEntry.objects.filter(
            member_id=member_id, kind=StoredValueEntry.Kind.REVERSE, cause=Cause.REFUND, cause_id=order_no
        ).aggregate(principal=Sum("principal"), bonus=Sum("bonus"))
        returned_bonus = earlier["bonus"] or Decimal(0)
        returned_total = (earlier["principal"] or Decimal(0)) + returned_bonus
        share = (returned_total + total) / spent if spent else Decimal(0)
        bonus_target = (spent_bonus * share).quantize(CENT, rounding=ROUND_HALF_UP)
        bonus = min(max(bonus_target - returned_bonus, Decimal(0)), total)
        principal = total - bonus
        entry = _append_stored_value(
            member,
            StoredValueEntry.Kind.REVERSE,
            principal,
            bonus,
            key=idempotency_key,
            cause=Cause.REFUND,
            cause_id=order_no,
            actor=actor,
        )
    return StoredValueResult(entry=entry, replayed=False)
