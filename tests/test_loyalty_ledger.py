"""Points and stored-value ledgers: idempotent, FIFO by expiry, never negative, correct under
concurrency, and reconcilable entry by entry."""

from __future__ import annotations

import threading
from datetime import timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from django_tenants.utils import tenant_context
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from huiyuan.loyalty.exceptions import InsufficientBalance, InsufficientPoints, LedgerKeyConflict
from huiyuan.loyalty.ledger import (
    loyalty_settings,
    points_earn,
    points_expire_due,
    points_spend,
    reconcile,
    stored_value_spend,
    stored_value_topup,
)
from huiyuan.loyalty.models import LoyaltySettings, PointsEntry, PointsLot
from huiyuan.members.models import Member
from huiyuan.platform.events.models import OutboxEvent

from .conftest import World, undo_committed_loyalty


def balance(member_id: int) -> tuple[int, Decimal, Decimal]:
    m = Member.objects.get(pk=member_id)
    return m.points_balance, m.stored_principal, m.stored_bonus


def test_earn_creates_a_lot_that_expires_by_the_tenants_rule(in_alpha: World) -> None:
    result = points_earn(member_id=in_alpha.member_a.pk, amount=120, idempotency_key="o1:earn", cause="order")
    lot = PointsLot.objects.get(earned_by=result.entry)
    assert (lot.amount, lot.remaining) == (120, 120)
    assert abs((lot.expires_at - result.entry.created_at) - timedelta(days=365)) < timedelta(days=2)
    assert balance(in_alpha.member_a.pk)[0] == 120
    assert OutboxEvent.objects.filter(event_type="points.earned").count() == 1
    LoyaltySettings.objects.update(points_expiry="end_of_year")
    other = points_earn(member_id=in_alpha.member_a.pk, amount=1, idempotency_key="o2:earn", cause="order")
    local = PointsLot.objects.get(earned_by=other.entry).expires_at.astimezone(ZoneInfo("Asia/Shanghai"))
    # Earned this year, valid to the end of next year in the merchant's time zone.
    assert (local.year, local.month, local.day, local.hour) == (other.entry.created_at.year + 2, 1, 1, 0)


def test_a_retried_write_returns_the_first_entry_and_credits_once(in_alpha: World) -> None:
    first = points_earn(member_id=in_alpha.member_a.pk, amount=50, idempotency_key="k", cause="order")
    again = points_earn(member_id=in_alpha.member_a.pk, amount=50, idempotency_key="k", cause="order")
    assert again.replayed and again.entry.pk == first.entry.pk
    assert balance(in_alpha.member_a.pk)[0] == 50
    with pytest.raises(LedgerKeyConflict):
        points_earn(member_id=in_alpha.member_a.pk, amount=60, idempotency_key="k", cause="order")


def test_spending_takes_the_soonest_expiring_points_first(in_alpha: World) -> None:
    now = timezone.now()
    late = points_earn(
        member_id=in_alpha.member_a.pk,
        amount=100,
        idempotency_key="late",
        cause="order",
        expires_at=now + timedelta(days=180),
    )
    soon = points_earn(
        member_id=in_alpha.member_a.pk,
        amount=100,
        idempotency_key="soon",
        cause="order",
        expires_at=now + timedelta(days=30),
    )
    forever = points_earn(
        member_id=in_alpha.member_a.pk, amount=100, idempotency_key="forever", cause="staff", expires_at=None
    )
    points_spend(member_id=in_alpha.member_a.pk, amount=150, idempotency_key="spend", cause="order")
    remaining = {lot.earned_by_id: lot.remaining for lot in PointsLot.objects.all()}
    assert remaining == {soon.entry.pk: 0, late.entry.pk: 50, forever.entry.pk: 100}
    assert balance(in_alpha.member_a.pk)[0] == 150 and reconcile() == []


def test_spending_more_than_the_balance_changes_nothing(in_alpha: World) -> None:
    points_earn(member_id=in_alpha.member_a.pk, amount=10, idempotency_key="e", cause="order")
    with pytest.raises(InsufficientPoints):
        points_spend(member_id=in_alpha.member_a.pk, amount=11, idempotency_key="s", cause="order")
    assert balance(in_alpha.member_a.pk)[0] == 10
    assert not PointsEntry.objects.filter(idempotency_key="s").exists()


def test_expiry_is_rerunnable_and_expired_points_cannot_be_spent(in_alpha: World) -> None:
    now = timezone.now()
    points_earn(
        member_id=in_alpha.member_a.pk,
        amount=80,
        idempotency_key="old",
        cause="order",
        expires_at=now - timedelta(minutes=1),
    )
    points_earn(
        member_id=in_alpha.member_a.pk,
        amount=20,
        idempotency_key="new",
        cause="order",
        expires_at=now + timedelta(days=10),
    )
    with pytest.raises(InsufficientPoints):
        points_spend(member_id=in_alpha.member_a.pk, amount=50, idempotency_key="s1", cause="order")
    assert points_expire_due() == 80
    assert points_expire_due() == 0  # a re-run expires nothing twice
    assert balance(in_alpha.member_a.pk)[0] == 20
    assert PointsEntry.objects.filter(kind="expire").count() == 1 and reconcile() == []


def test_stored_value_keeps_principal_and_bonus_apart(in_alpha: World) -> None:
    stored_value_topup(member_id=in_alpha.member_a.pk, principal="1000.00", bonus="100.00", idempotency_key="t1")
    stored_value_spend(member_id=in_alpha.member_a.pk, amount="550.00", idempotency_key="s1")
    assert balance(in_alpha.member_a.pk)[1:] == (Decimal("500.00"), Decimal("50.00"))
    LoyaltySettings.objects.update(bonus_use="last")
    stored_value_spend(member_id=in_alpha.member_a.pk, amount="510.00", idempotency_key="s2")
    assert balance(in_alpha.member_a.pk)[1:] == (Decimal("0.00"), Decimal("40.00"))
    with pytest.raises(InsufficientBalance):
        stored_value_spend(member_id=in_alpha.member_a.pk, amount="40.01", idempotency_key="s3")
    assert reconcile() == []


def test_the_database_itself_refuses_a_negative_balance(in_alpha: World) -> None:
    with pytest.raises(IntegrityError), transaction.atomic():
        Member.objects.filter(pk=in_alpha.member_a.pk).update(points_balance=-1)


def test_reconciliation_reports_drift(in_alpha: World) -> None:
    points_earn(member_id=in_alpha.member_a.pk, amount=30, idempotency_key="e", cause="order")
    Member.objects.filter(pk=in_alpha.member_a.pk).update(points_balance=31)  # a bug elsewhere
    [drift] = reconcile()
    assert (drift.member_id, drift.ledger, drift.cached, drift.from_entries) == (in_alpha.member_a.pk, "points", 31, 30)


def _hammer(world: World, call: Any, expected_error: type[Exception]) -> tuple[int, int, list[BaseException]]:
    successes, refusals, surprises = [], [], []
    barrier = threading.Barrier(50)

    def worker(n: int) -> None:
        try:
            with tenant_context(world.tenant):
                barrier.wait()
                call(n)
                successes.append(n)
        except expected_error:
            refusals.append(n)
        except BaseException as exc:  # noqa: BLE001 - collected and asserted by the caller
            surprises.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return len(successes), len(refusals), surprises


@pytest.mark.slow
def test_fifty_concurrent_spends_of_a_balance_that_covers_one(committed: dict[str, World]) -> None:
    alpha = committed["alpha"]
    member_id = alpha.member_b.pk
    try:
        with tenant_context(alpha.tenant):
            stored_value_topup(member_id=member_id, principal="100.00", idempotency_key="conc:topup")
            points_earn(member_id=member_id, amount=100, idempotency_key="conc:earn", cause="order")
        ok, refused, surprises = _hammer(
            alpha,
            lambda n: stored_value_spend(member_id=member_id, amount="80.00", idempotency_key=f"conc:s{n}"),
            InsufficientBalance,
        )
        assert (ok, refused, surprises) == (1, 49, [])
        ok, refused, surprises = _hammer(
            alpha,
            lambda n: points_spend(member_id=member_id, amount=60, idempotency_key=f"conc:p{n}", cause="order"),
            InsufficientPoints,
        )
        assert (ok, refused, surprises) == (1, 49, [])
        with tenant_context(alpha.tenant):
            assert balance(member_id) == (40, Decimal("20.00"), Decimal("0.00"))
            assert reconcile() == []
    finally:
        undo_committed_loyalty(alpha, member_id)


OPERATIONS = st.lists(
    st.one_of(
        st.tuples(st.just("earn"), st.integers(1, 500), st.integers(-30, 400)),
        st.tuples(st.just("spend"), st.integers(1, 600), st.just(0)),
        st.tuples(st.just("expire"), st.integers(0, 400), st.just(0)),
        st.tuples(st.just("topup"), st.integers(1, 100_000), st.integers(0, 20_000)),
        st.tuples(st.just("pay"), st.integers(1, 120_000), st.just(0)),
    ),
    max_size=25,
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(operations=OPERATIONS)
def test_random_sequences_keep_every_invariant(in_alpha: World, operations: list[tuple[str, int, int]]) -> None:
    member = Member.objects.create(
        phone=f"+861390000{Member.objects.count():04d}", card_no=f"H{Member.objects.count()}"
    )
    loyalty_settings()
    start = timezone.now()
    for step, (op, amount, extra) in enumerate(operations):
        key = f"{member.pk}:{step}"
        try:
            if op == "earn":
                points_earn(
                    member_id=member.pk,
                    amount=amount,
                    idempotency_key=key,
                    cause="order",
                    expires_at=start + timedelta(days=extra),
                )
            elif op == "spend":
                points_spend(member_id=member.pk, amount=amount, idempotency_key=key, cause="order")
            elif op == "expire":
                points_expire_due(now=start + timedelta(days=amount))
            elif op == "topup":
                stored_value_topup(
                    member_id=member.pk,
                    principal=Decimal(amount) / 100,
                    bonus=Decimal(extra) / 100,
                    idempotency_key=key,
                )
            else:
                stored_value_spend(member_id=member.pk, amount=Decimal(amount) / 100, idempotency_key=key)
        except (InsufficientPoints, InsufficientBalance):
            pass
        points, principal, bonus = balance(member.pk)
        assert points >= 0 and principal >= 0 and bonus >= 0
        assert [d for d in reconcile() if d.member_id == member.pk] == []


def test_balances_are_segment_fields(in_alpha: World) -> None:
    from huiyuan.members.segments import segment_members

    points_earn(member_id=in_alpha.member_a.pk, amount=500, idempotency_key="seg", cause="order")
    stored_value_topup(member_id=in_alpha.member_b.pk, principal="300", idempotency_key="segtop")
    rich = segment_members(actor=in_alpha.hq, rule={"field": "points_balance", "op": "gte", "value": 100})
    funded = segment_members(actor=in_alpha.hq, rule={"field": "stored_principal", "op": "gt", "value": "0"})
    assert list(rich.values_list("pk", flat=True)) == [in_alpha.member_a.pk]
    assert list(funded.values_list("pk", flat=True)) == [in_alpha.member_b.pk]


def test_nightly_jobs_expire_and_reconcile_each_on_its_own(in_alpha: World, monkeypatch: Any) -> None:
    from huiyuan.loyalty import tasks
    from huiyuan.loyalty.tasks import expire_points_task, reconcile_task

    points_earn(
        member_id=in_alpha.member_a.pk,
        amount=40,
        idempotency_key="n1",
        cause="order",
        expires_at=timezone.now() - timedelta(seconds=1),
    )
    assert expire_points_task.apply().get() == 40
    assert expire_points_task.apply().get() == 0
    assert reconcile_task.apply().get() == 0

    sent: list[str] = []
    for task in tasks.NIGHTLY_TASKS:
        monkeypatch.setattr(task, "delay", lambda task=task: sent.append(task.name))
    from django.db import connection

    connection.set_schema_to_public()
    assert tasks.loyalty_nightly_all_tenants_task.apply().get() >= 2  # alpha and beta at least
    per_tenant = len(tasks.NIGHTLY_TASKS)
    assert len(sent) % per_tenant == 0 and sent[:per_tenant] == [t.name for t in tasks.NIGHTLY_TASKS]
