"""One order path: every way an order arrives earns and reverses alike; replays are reads (store
scope); retries of one refund all get the first answer; stored-value refunds split exactly."""

from __future__ import annotations

import threading
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection
from django_tenants.utils import tenant_context

from huiyuan.loyalty.ledger import reconcile, stored_value_topup
from huiyuan.loyalty.models import PointsEntry, StoredValueEntry
from huiyuan.members.models import Member, Order, Refund

from .conftest import World, api, undo_committed_loyalty


def basket(no: str, store: str = "A001", **extra: Any) -> dict[str, Any]:
    return {
        "order_no": no,
        "store": store,
        "member": {"phone": "13800000001"},
        "lines": [{"sku": "LATTE", "category": "咖啡", "amount": "120.00"}],
        **extra,
    }


@pytest.mark.parametrize("endpoint", ["/api/v1/orders", "/api/v1/checkout"])
def test_an_order_earns_points_and_a_full_refund_takes_them_back_once(alpha: World, endpoint: str) -> None:
    client = api(alpha, "manager_a")
    body = basket("FULL-1", paid_amount="120.00") if endpoint.endswith("orders") else basket("FULL-1")
    created = client.post(endpoint, body, format="json")
    assert created.status_code == 201, created.json()
    with tenant_context(alpha.tenant):
        member = Member.objects.get(pk=alpha.member_a.pk)
        assert member.points_balance == 120 and member.order_count == 1  # 1 point per yuan by default
    for refunds_path in ("/api/v1/orders/FULL-1/refunds", "/api/v1/checkout/FULL-1/refunds"):
        answer = client.post(refunds_path, {"refund_no": "FULL-1-R", "amount": "120.00"}, format="json")
        assert answer.status_code == 201, answer.json()
    with tenant_context(alpha.tenant):
        member.refresh_from_db()
        assert member.points_balance == 0 and member.order_count == 0 and member.total_spend == 0
        assert Refund.objects.filter(order__order_no="FULL-1").count() == 1
        assert PointsEntry.objects.filter(cause="refund", cause_id="FULL-1").count() == 1
        assert reconcile() == []


def test_a_pos_priced_order_earns_on_what_was_paid_and_refuses_redemptions(alpha: World) -> None:
    client = api(alpha, "hq")
    answer = client.post(
        "/api/v1/orders", basket("POS-1", total_amount="120.00", paid_amount="100.00"), format="json"
    ).json()
    assert answer["paid_amount"] == "100.00" and answer["benefits"]["points_earned"] == 100
    assert answer["benefits"]["pos_discount"] == "20.00"
    refused = client.post("/api/v1/orders", basket("POS-2", paid_amount="120.00", points=10), format="json")
    assert refused.status_code == 400 and "points" in refused.json()["error"]["fields"]


@pytest.mark.parametrize("endpoint", ["/api/v1/orders", "/api/v1/checkout"])
def test_a_clerk_replaying_another_stores_order_number_gets_404(alpha: World, endpoint: str) -> None:
    body = basket("SCOPE-1", paid_amount="120.00") if endpoint.endswith("orders") else basket("SCOPE-1")
    assert api(alpha, "manager_a").post(endpoint, body, format="json").status_code == 201
    replay = api(alpha, "cashier_b").post(endpoint, {**body, "store": "B001"}, format="json")
    assert replay.status_code == 404 and replay.json()["error"]["code"] == "NOT_FOUND"
    same_body = api(alpha, "cashier_b").post(endpoint, body, format="json")
    assert same_body.status_code in (400, 404) and "SCOPE-1" not in same_body.content.decode()
    assert api(alpha, "cashier_b").get("/api/v1/orders/SCOPE-1").status_code == 404


def test_an_imported_order_number_is_not_replayed_to_a_different_body(alpha: World) -> None:
    with tenant_context(alpha.tenant):
        from django.utils import timezone

        Order.objects.create(
            order_no="IMP-1",
            store=alpha.store_a,
            total_amount=50,
            paid_amount=50,
            paid_at=timezone.now(),
            source=Order.Source.IMPORT,
        )
    answer = api(alpha, "hq").post("/api/v1/orders", basket("IMP-1", paid_amount="99.00"), format="json")
    assert answer.status_code == 409 and answer.json()["error"]["code"] == "ORDER_CONFLICT"


def test_checkout_honours_idempotency_key(alpha: World) -> None:
    client = api(alpha, "manager_a")
    first = client.post("/api/v1/checkout", basket("IK-1"), format="json", HTTP_IDEMPOTENCY_KEY="till-7-0001")
    again = client.post("/api/v1/checkout", basket("IK-1"), format="json", HTTP_IDEMPOTENCY_KEY="till-7-0001")
    assert first.status_code == again.status_code == 201
    assert again["Idempotent-Replayed"] == "true" and again.json() == first.json()
    reused = client.post("/api/v1/checkout", basket("IK-2"), format="json", HTTP_IDEMPOTENCY_KEY="till-7-0001")
    assert reused.status_code == 409 and reused.json()["error"]["code"] == "IDEMPOTENCY_KEY_REUSED"


def test_three_partial_stored_value_refunds_return_exactly_what_was_taken(in_alpha: World) -> None:
    from huiyuan.loyalty.checkout import checkout_commit
    from huiyuan.loyalty.ledger import loyalty_settings
    from huiyuan.loyalty.refunds import order_refund

    settings = loyalty_settings()
    settings.bonus_usage = "proportional"
    settings.save()
    member_id = in_alpha.member_a.pk
    # Amounts where splitting each refund on its own drifts by a cent (28.85 of 28.86 bonus back).
    stored_value_topup(member_id=member_id, principal="47.10", bonus="28.86", idempotency_key="sv:split")
    order = checkout_commit(
        actor=in_alpha.hq,
        data={
            "order_no": "SV-1",
            "store": "A001",
            "member": {"id": member_id},
            "lines": [{"sku": "X", "amount": "75.96"}],
            "stored_value": "75.96",
        },
    ).order
    spend = StoredValueEntry.objects.get(idempotency_key="order:SV-1:sv")
    assert (spend.principal, spend.bonus) == (Decimal("-47.10"), Decimal("-28.86"))
    for number, amount in enumerate(["8.38", "26.01", "41.57"]):
        order_refund(actor=in_alpha.hq, order_no=order.order_no, refund_no=f"SV-1-R{number}", amount=amount)
    returned = StoredValueEntry.objects.filter(kind="reverse", cause_id="SV-1")
    assert sum(e.principal for e in returned) == -spend.principal
    assert sum(e.bonus for e in returned) == -spend.bonus
    member = Member.objects.get(pk=member_id)
    assert (member.stored_principal, member.stored_bonus) == (Decimal("47.10"), Decimal("28.86"))


@pytest.mark.slow
def test_twenty_concurrent_identical_refunds_all_get_the_same_successful_reply(committed: dict[str, World]) -> None:
    alpha = committed["alpha"]
    client = api(alpha, "hq")
    try:
        assert client.post("/api/v1/checkout", basket("CONC-R"), format="json").status_code == 201
        barrier = threading.Barrier(20)
        replies: list[tuple[int, Any]] = []

        def refund() -> None:
            try:
                barrier.wait()
                answer = client.post(
                    "/api/v1/orders/CONC-R/refunds", {"refund_no": "CONC-R-1", "amount": "50.00"}, format="json"
                )
                replies.append((answer.status_code, answer.json()))
            finally:
                connection.close()

        threads = [threading.Thread(target=refund) for _ in range(20)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert [status for status, _ in replies] == [201] * 20
        assert len({body["id"] for _, body in replies}) == 1
        with tenant_context(alpha.tenant):
            assert Order.objects.get(order_no="CONC-R").refunded_amount == Decimal("50.00")
            assert PointsEntry.objects.filter(cause="refund", cause_id="CONC-R").count() == 1
    finally:
        with tenant_context(alpha.tenant):
            Refund.objects.filter(order__order_no="CONC-R").delete()
        undo_committed_loyalty(alpha, alpha.member_a.pk, order_prefix="CONC-R")


def test_the_checkout_answer_is_what_the_order_serializer_renders(alpha: World) -> None:
    from huiyuan.loyalty.api.views import order_body
    from huiyuan.members.api.serializers import OrderSerializer

    body = {
        **basket("BODY-1"),
        "lines": [
            {"sku": "A", "name": "拿铁", "category": "咖啡", "quantity": "2", "amount": "30.00"},
            {"sku": "B", "amount": "12.5"},
        ],
    }
    answer = api(alpha, "hq").post("/api/v1/checkout", body, format="json").json()
    with tenant_context(alpha.tenant):
        stored = Order.objects.select_related("store").prefetch_related("lines").get(order_no="BODY-1")
        assert order_body(stored) == dict(OrderSerializer(stored).data)
        assert {k: v for k, v in answer.items() if k != "benefits"} == dict(OrderSerializer(stored).data)
