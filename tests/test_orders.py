"""Orders and refunds: idempotent by order number, stats in the same transaction, refunds once."""

from __future__ import annotations

import threading
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection
from django_tenants.utils import tenant_context

from huiyuan.loyalty.checkout import order_record
from huiyuan.loyalty.refunds import order_refund as refund_record
from huiyuan.members.models import Member, Order, Refund
from huiyuan.platform.errors import Conflict, ValidationFailed
from huiyuan.platform.events.models import OutboxEvent

from .conftest import World, api


def order(world: World, no: str, amount: str = "100.00", **extra: Any) -> dict[str, Any]:
    return {
        "order_no": no,
        "store": "A001",
        "member": {"phone": "13800000001"},
        "paid_amount": amount,
        "paid_at": "2026-11-20 12:00",
        **extra,
    }


def test_order_updates_member_stats_and_emits_order_paid(in_alpha: World) -> None:
    order_record(actor=in_alpha.cashier_b, data={**order(in_alpha, "O-1", "100.00"), "store": "B001"})
    order_record(actor=in_alpha.manager_a, data=order(in_alpha, "O-2", "50.50", paid_at="2026-11-22 09:00"))
    member = Member.objects.get(pk=in_alpha.member_a.pk)
    assert member.order_count == 2 and member.total_spend == Decimal("150.50")
    assert member.first_purchase_at.isoformat() == "2026-11-20T04:00:00+00:00"
    assert member.last_purchase_at.isoformat() == "2026-11-22T01:00:00+00:00"
    assert member.lifecycle == "new"
    assert OutboxEvent.objects.filter(event_type="order.paid").count() == 2


def test_replay_returns_the_first_order_and_conflict_is_refused(in_alpha: World) -> None:
    first = order_record(actor=in_alpha.hq, data=order(in_alpha, "R-1"))
    again = order_record(actor=in_alpha.hq, data=order(in_alpha, "R-1"))
    assert first.created and not again.created and again.order.pk == first.order.pk
    assert Member.objects.get(pk=in_alpha.member_a.pk).order_count == 1
    with pytest.raises(Conflict) as exc:
        order_record(actor=in_alpha.hq, data=order(in_alpha, "R-1", "99.00"))
    assert exc.value.code == "ORDER_CONFLICT"


def test_order_validation_names_each_field(in_alpha: World) -> None:
    with pytest.raises(ValidationFailed) as exc:
        order_record(
            actor=in_alpha.hq,
            data={
                "order_no": "",
                "store": "NOPE",
                "member": {"phone": "13999999999"},
                "paid_amount": "-1",
                "lines": [{"sku": "A", "amount": "x"}],
                "payment_methods": [{"method": "", "amount": "1"}],
            },
        )
    assert {"order_no", "store", "member", "paid_amount", "lines[0].amount", "payment_methods[0].method"} <= set(
        exc.value.fields
    )


def test_cashier_cannot_post_for_another_store(in_alpha: World) -> None:
    with pytest.raises(ValidationFailed) as exc:
        order_record(actor=in_alpha.cashier_b, data=order(in_alpha, "X-1"))  # store A001
    assert "store" in exc.value.fields


def test_partial_then_full_refund_never_exceeds_payment(in_alpha: World) -> None:
    order_record(
        actor=in_alpha.hq,
        data=order(in_alpha, "F-1", "100.00", lines=[{"sku": "A", "amount": "60.00"}, {"sku": "B", "amount": "40.00"}]),
    )
    line_b = Order.objects.get(order_no="F-1").lines.get(sku="B")
    refund_record(
        actor=in_alpha.hq,
        order_no="F-1",
        refund_no="RF-1",
        amount="40.00",
        lines=[{"line_id": line_b.pk, "amount": "40.00"}],
    )
    member = Member.objects.get(pk=in_alpha.member_a.pk)
    assert member.total_spend == Decimal("60.00") and member.order_count == 1
    assert Order.objects.get(order_no="F-1").status == "partially_refunded"
    # Replaying the same refund changes nothing; a bigger one is refused with what is left.
    refund_record(
        actor=in_alpha.hq,
        order_no="F-1",
        refund_no="RF-1",
        amount="40.00",
        lines=[{"line_id": line_b.pk, "amount": "40.00"}],
    )
    with pytest.raises(ValidationFailed) as exc:
        refund_record(actor=in_alpha.hq, order_no="F-1", refund_no="RF-2", amount="60.01")
    assert "60.00" in exc.value.fields["amount"][0]
    refund_record(actor=in_alpha.hq, order_no="F-1", refund_no="RF-3", amount="60.00")
    member.refresh_from_db()
    assert member.total_spend == Decimal("0.00") and member.order_count == 0
    assert Order.objects.get(order_no="F-1").status == "refunded"
    assert Refund.objects.filter(order__order_no="F-1").count() == 2
    with pytest.raises(ValidationFailed):
        refund_record(actor=in_alpha.hq, order_no="F-1", refund_no="RF-4", amount="0.01")


def test_order_api_replay_gives_identical_response(alpha: World) -> None:
    client = api(alpha, "hq")
    payload = order(alpha, "API-1", lines=[{"sku": "TEA", "category": "饮品", "quantity": 2, "amount": "100.00"}])
    first = client.post("/api/v1/orders", payload, format="json")
    again = client.post("/api/v1/orders", payload, format="json")
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json() and again.headers["Idempotent-Replayed"] == "true"
    conflict = client.post("/api/v1/orders", {**payload, "paid_amount": "1.00", "lines": []}, format="json")
    assert conflict.status_code == 409 and conflict.json()["error"]["code"] == "ORDER_CONFLICT"


@pytest.mark.slow
def test_fifty_concurrent_posts_of_one_order_record_it_once(committed: dict[str, World]) -> None:
    alpha = committed["alpha"]
    payload = order(alpha, "CONC-1", "88.00")
    results: list[Any] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(50)

    def post() -> None:
        try:
            with tenant_context(alpha.tenant):
                barrier.wait()
                results.append(order_record(actor=alpha.hq, data=payload))
        except BaseException as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=post) for _ in range(50)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors
        assert sum(r.created for r in results) == 1 and len({r.order.pk for r in results}) == 1
        with tenant_context(alpha.tenant):
            assert Order.objects.filter(order_no="CONC-1").count() == 1
            member = Member.objects.get(pk=alpha.member_a.pk)
            assert member.order_count == 1 and member.total_spend == Decimal("88.00")
            assert (
                OutboxEvent.objects.filter(event_type="order.paid", tenant_schema=alpha.tenant.schema_name).count() == 1
            )
    finally:
        with tenant_context(alpha.tenant):
            Order.objects.filter(order_no="CONC-1").delete()
            Member.objects.filter(pk=alpha.member_a.pk).update(
                order_count=0, total_spend=0, first_purchase_at=None, last_purchase_at=None, lifecycle="prospect"
            )
        OutboxEvent.objects.filter(tenant_schema=alpha.tenant.schema_name).delete()
        connection.set_schema_to_public()


def test_a_retry_without_a_payment_time_is_a_replay_not_a_conflict(in_alpha: World) -> None:
    data = {"order_no": "NT-1", "store": "A001", "member": {"phone": "13800000001"}, "paid_amount": "10"}
    first = order_record(actor=in_alpha.hq, data=data)
    again = order_record(actor=in_alpha.hq, data=data)
    assert first.created and not again.created and again.order.pk == first.order.pk
