"""Property test: random sequences of top-ups, checkouts (with points and stored value), partial
refunds and expiries keep every invariant of the ledgers."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from django.db.models import Sum
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from huiyuan.loyalty.checkout import checkout_commit
from huiyuan.loyalty.exceptions import InsufficientBalance, InsufficientPoints
from huiyuan.loyalty.ledger import loyalty_settings, points_expire_due, reconcile, stored_value_topup
from huiyuan.loyalty.models import PointsEntry, StoredValueEntry
from huiyuan.loyalty.refunds import order_refund as checkout_refund
from huiyuan.members.models import Member, Order
from huiyuan.platform.errors import ValidationFailed

from .conftest import World

STEPS = st.lists(
    st.one_of(
        st.tuples(st.just("topup"), st.integers(100, 50_000), st.integers(0, 5_000)),
        st.tuples(st.just("buy"), st.integers(100, 80_000), st.integers(0, 3)),
        st.tuples(st.just("refund"), st.integers(1, 100), st.integers(0, 10)),
        st.tuples(st.just("expire"), st.integers(0, 800), st.just(0)),
    ),
    min_size=1,
    max_size=18,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=STEPS)
def test_checkout_and_refund_sequences_keep_the_books(in_alpha: World, steps: list[tuple[str, int, int]]) -> None:
    n = Member.objects.count()
    member = Member.objects.create(phone=f"+861370{n:07d}", card_no=f"P{n}", home_store=in_alpha.store_a)
    loyalty_settings()
    orders: list[str] = []
    start = timezone.now()
    for i, (op, a, b) in enumerate(steps):
        key = f"{member.pk}-{i}"
        try:
            if op == "topup":
                stored_value_topup(
                    member_id=member.pk, principal=Decimal(a) / 100, bonus=Decimal(b) / 100, idempotency_key=f"t{key}"
                )
            elif op == "buy":
                fresh = Member.objects.get(pk=member.pk)
                gross = Decimal(a) / 100
                stored = min(fresh.stored_principal + fresh.stored_bonus, gross) * b / 3
                data = {
                    "order_no": f"O{key}",
                    "store": "A001",
                    "member": {"id": member.pk},
                    "lines": [{"sku": "X", "amount": str(gross)}],
                    "points": fresh.points_balance // (b + 1) // 100 * 100 if b else 0,
                    "stored_value": str(Decimal(stored).quantize(Decimal("0.01"))),
                }
                checkout_commit(actor=in_alpha.hq, data=data)
                orders.append(f"O{key}")
            elif op == "refund" and orders:
                order = Order.objects.get(order_no=orders[b % len(orders)])
                left = order.paid_amount - order.refunded_amount
                amount = (left * a / 100).quantize(Decimal("0.01"))
                if amount > 0:
                    checkout_refund(actor=in_alpha.hq, order_no=order.order_no, refund_no=f"R{key}", amount=amount)
            elif op == "expire":
                points_expire_due(now=start + timedelta(days=a))
        except (InsufficientPoints, InsufficientBalance, ValidationFailed):
            pass
        current = Member.objects.get(pk=member.pk)
        assert current.points_balance >= 0 and current.stored_principal >= 0 and current.stored_bonus >= 0
        assert [d for d in reconcile() if d.member_id == member.pk] == []
    for order in Order.objects.filter(member=member):
        assert order.refunded_amount <= order.paid_amount
        earned = int(order.benefits.get("points_earned") or 0)
        used = int(order.benefits.get("points_used") or 0)
        reversals = PointsEntry.objects.filter(member=member, kind="reverse", cause_id=order.order_no)
        assert -(reversals.filter(amount__lt=0).aggregate(s=Sum("amount"))["s"] or 0) <= earned
        assert (reversals.filter(amount__gt=0).aggregate(s=Sum("amount"))["s"] or 0) <= used
        returned = StoredValueEntry.objects.filter(member=member, kind="reverse", cause_id=order.order_no)
        total_returned = sum((e.principal + e.bonus for e in returned), Decimal(0))
        assert total_returned <= Decimal(order.benefits.get("stored_value") or 0)
