"""Checkout: tier discount, coupon, points and stored value in one transaction; replays write
nothing; refunds reverse in proportion, once; tiers move up at once and down at review."""

from __future__ import annotations

import threading
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection
from django.utils import timezone
from django_tenants.utils import tenant_context

from huiyuan.loyalty.checkout import checkout_commit, checkout_quote
from huiyuan.loyalty.coupons import coupon_issue, coupon_template_create
from huiyuan.loyalty.earning import EarnLine, points_for_order
from huiyuan.loyalty.exceptions import InsufficientPoints
from huiyuan.loyalty.ledger import loyalty_settings, points_earn, reconcile, stored_value_topup
from huiyuan.loyalty.models import Coupon, EarnRule, PointsEntry, StoredValueEntry, Tier, TierChange
from huiyuan.loyalty.refunds import order_refund as checkout_refund
from huiyuan.loyalty.tiers import tier_review
from huiyuan.members.models import Member, Order
from huiyuan.platform.events.models import OutboxEvent

from .conftest import World, api, undo_committed_loyalty


@pytest.fixture
def gold(in_alpha: World) -> Tier:
    Tier.objects.create(name="普通", rank=0, threshold_spend=0)
    tier = Tier.objects.create(
        name="金卡",
        rank=1,
        threshold_spend=1000,
        discount_rate=Decimal("0.95"),
        points_multiplier=Decimal("1.5"),
        window_days=365,
    )
    Member.objects.filter(pk=in_alpha.member_a.pk).update(tier=tier, tier_since=timezone.now())
    points_earn(member_id=in_alpha.member_a.pk, amount=5000, idempotency_key="seed:pts", cause="staff")
    stored_value_topup(member_id=in_alpha.member_a.pk, principal="200", bonus="20", idempotency_key="seed:sv")
    return tier


def basket(world: World, no: str, **extra: Any) -> dict[str, Any]:
    return {
        "order_no": no,
        "store": "A001",
        "member": {"phone": "13800000001"},
        "lines": [
            {"sku": "LATTE", "category": "咖啡", "amount": "200.00"},
            {"sku": "CAKE", "category": "甜点", "amount": "100.00"},
        ],
        **extra,
    }


def test_checkout_applies_everything_in_one_transaction(in_alpha: World, gold: Tier) -> None:
    template = coupon_template_create(
        actor=in_alpha.hq,
        name="满100减20",
        kind="threshold",
        amount_off=Decimal(20),
        threshold=Decimal(100),
        valid_days=30,
    )
    coupon = coupon_issue(template_id=template.pk, member_id=in_alpha.member_a.pk, idempotency_key="c1")
    data = basket(
        in_alpha,
        "CO-1",
        coupon_code=coupon.code,
        points=1000,
        stored_value="100.00",
        payment_methods=[{"method": "wechat", "amount": "155.00"}],
    )
    quote = checkout_quote(actor=in_alpha.owner, data=data)
    assert (quote.tier_discount, quote.coupon_discount, quote.points_value, quote.due_external) == (
        Decimal("15.00"),
        Decimal("20.00"),
        Decimal("10.00"),
        Decimal("155.00"),
    )
    assert quote.points_to_earn == 382  # 255 paid × 1 point per yuan × 1.5 (gold), rounded down
    result = checkout_commit(actor=in_alpha.cashier_b if False else in_alpha.manager_a, data=data)
    order = result.order
    assert result.created and order.paid_amount == Decimal("255.00") and order.total_amount == Decimal("300.00")
    member = Member.objects.get(pk=in_alpha.member_a.pk)
    assert member.points_balance == 5000 - 1000 + 382
    assert member.stored_principal + member.stored_bonus == Decimal("120.00")
    assert Coupon.objects.get(pk=coupon.pk).status == "redeemed"
    assert member.order_count == 1 and reconcile() == []
    replay = checkout_commit(actor=in_alpha.manager_a, data=data)
    assert not replay.created and replay.order.pk == order.pk
    assert PointsEntry.objects.filter(idempotency_key__startswith="order:CO-1").count() == 2


def test_a_refused_redemption_leaves_no_order(in_alpha: World, gold: Tier) -> None:
    with pytest.raises(InsufficientPoints):
        checkout_commit(actor=in_alpha.manager_a, data=basket(in_alpha, "CO-2", points=99999))
    assert not Order.objects.filter(order_no="CO-2").exists()
    assert Member.objects.get(pk=in_alpha.member_a.pk).points_balance == 5000


def test_partial_refunds_reverse_in_proportion_and_add_up_exactly(in_alpha: World, gold: Tier) -> None:
    data = basket(in_alpha, "CO-3", points=1000, stored_value="100.00")
    order = checkout_commit(actor=in_alpha.manager_a, data=data).order
    earned = order.benefits["points_earned"]
    checkout_refund(actor=in_alpha.manager_a, order_no="CO-3", refund_no="R-1", amount="100.00")
    checkout_refund(actor=in_alpha.manager_a, order_no="CO-3", refund_no="R-1", amount="100.00")  # a retry
    member = Member.objects.get(pk=in_alpha.member_a.pk)
    share = Decimal(100) / Decimal("275.00")
    assert member.points_balance == 5000 - 1000 + earned - round(earned * share) + round(1000 * share)
    checkout_refund(actor=in_alpha.manager_a, order_no="CO-3", refund_no="R-2", amount="175.00")
    member.refresh_from_db()
    assert member.points_balance == 5000  # everything earned taken back, everything used returned
    assert member.stored_principal + member.stored_bonus == Decimal("220.00")
    assert StoredValueEntry.objects.filter(kind="reverse").count() == 2 and reconcile() == []


def test_points_returned_into_an_expired_lot_expire_again_and_the_nightly_job_still_runs(in_alpha: World) -> None:
    import time_machine

    from huiyuan.loyalty.ledger import points_expire_due

    member_id = in_alpha.member_a.pk
    points_earn(
        member_id=member_id, amount=500, idempotency_key="lot", cause="staff", expires_at=timezone.now() + timedelta(1)
    )
    checkout_commit(actor=in_alpha.manager_a, data=basket(in_alpha, "EXP-1", points=300))
    with time_machine.travel(timezone.now() + timedelta(days=2)):  # the lot's day has passed
        assert points_expire_due() == 200  # what was left of the lot
        balance = Member.objects.get(pk=member_id).points_balance
        checkout_refund(actor=in_alpha.manager_a, order_no="EXP-1", refund_no="EXP-R", amount="297.00")  # all of it
        returned = PointsEntry.objects.get(idempotency_key="refund:EXP-R:used")
        again = PointsEntry.objects.get(idempotency_key__startswith="refund:EXP-R:used:expire:")
        assert returned.amount == 300 and again.amount == -300 and again.kind == "expire"
        earned_back = PointsEntry.objects.get(idempotency_key="refund:EXP-R:earned").amount
        # The returned points expired with their lot; the points the order earned are taken back.
        assert Member.objects.get(pk=member_id).points_balance == balance + earned_back
        assert points_expire_due() == 0 and reconcile() == []  # the job runs again without error


def test_tier_upgrades_at_once_and_downgrades_only_at_review_after_grace(in_alpha: World) -> None:
    loyalty_settings()
    Tier.objects.create(name="普通", rank=0, threshold_spend=0)
    silver = Tier.objects.create(name="银卡", rank=1, threshold_spend=500, window_days=365)
    checkout_commit(
        actor=in_alpha.manager_a,
        data={
            **basket(in_alpha, "T-1"),
            "member": {"phone": "13800000002"},
            "store": "A001",
            "paid_at": timezone.now().isoformat(),
        },
    )
    checkout_commit(
        actor=in_alpha.hq, data={**basket(in_alpha, "T-2"), "member": {"phone": "13800000002"}, "store": "B001"}
    )
    member = Member.objects.get(pk=in_alpha.member_b.pk)
    assert member.tier_id == silver.pk
    assert OutboxEvent.objects.filter(event_type="tier.changed").exists()
    Order.objects.filter(member=member).update(paid_at=timezone.now() - timedelta(days=400))
    assert tier_review(now=timezone.now()) == {"upgraded": 0, "downgraded": 0}  # still within the grace period
    assert tier_review(now=timezone.now() + timedelta(days=31))["downgraded"] == 1
    assert Member.objects.get(pk=member.pk).tier.name == "普通"
    assert TierChange.objects.filter(member=member).count() == 3


def test_earn_rules_multiply_exclude_and_cap(in_alpha: World) -> None:
    settings = loyalty_settings()
    settings.excluded_categories = ["烟酒"]
    settings.max_points_per_order = 1000
    monday = timezone.datetime(2026, 11, 23, 12, 0, tzinfo=timezone.get_current_timezone())
    EarnRule.objects.create(kind="weekday", match="1", multiplier=Decimal(2))  # Monday is member day
    EarnRule.objects.create(kind="category", match="咖啡", multiplier=Decimal(3))
    member = Member.objects.get(pk=in_alpha.member_a.pk)
    lines = [EarnLine("咖啡", Decimal(10)), EarnLine("烟酒", Decimal(500)), EarnLine("甜点", Decimal(5))]
    assert (
        points_for_order(member=member, store_id=in_alpha.store_a.pk, paid_at=monday, lines=lines, settings=settings)
        == (10 * 3 + 5) * 2
    )
    big = [EarnLine("咖啡", Decimal(1000))]
    assert (
        points_for_order(member=member, store_id=in_alpha.store_a.pk, paid_at=monday, lines=big, settings=settings)
        == 1000
    )


def test_checkout_api_quote_commit_and_refund(alpha: World) -> None:
    client = api(alpha, "manager_a")
    quote = client.post("/api/v1/checkout/quote", basket(alpha, "API-CO"), format="json")
    assert quote.status_code == 200 and quote.json()["paid"] == "300.00"
    first = client.post("/api/v1/checkout", basket(alpha, "API-CO"), format="json")
    again = client.post("/api/v1/checkout", basket(alpha, "API-CO"), format="json")
    assert first.status_code == again.status_code == 201 and first.json() == again.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    refund = client.post("/api/v1/checkout/API-CO/refunds", {"refund_no": "R", "amount": "300.00"}, format="json")
    assert refund.status_code == 201
    too_much = client.post("/api/v1/checkout/API-CO/refunds", {"refund_no": "R2", "amount": "0.01"}, format="json")
    assert too_much.status_code == 400


@pytest.mark.slow
def test_fifty_concurrent_duplicate_checkouts_write_one_set_of_entries(committed: dict[str, World]) -> None:
    alpha = committed["alpha"]
    member_id = alpha.member_a.pk
    data = basket(alpha, "DUP-1")
    outcomes: list[Any] = []
    barrier = threading.Barrier(50)

    def till() -> None:
        try:
            with tenant_context(alpha.tenant):
                barrier.wait()
                outcomes.append(checkout_commit(actor=alpha.manager_a, data=data))
        except BaseException as exc:  # noqa: BLE001 - asserted below
            outcomes.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=till) for _ in range(50)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert all(not isinstance(o, BaseException) for o in outcomes), [
            o for o in outcomes if isinstance(o, BaseException)
        ][:1]
        assert sum(o.created for o in outcomes) == 1 and len({o.order.pk for o in outcomes}) == 1
        with tenant_context(alpha.tenant):
            assert PointsEntry.objects.filter(idempotency_key="order:DUP-1:earn").count() == 1
            assert Member.objects.get(pk=member_id).points_balance == 300
    finally:
        undo_committed_loyalty(alpha, member_id, order_prefix="DUP-1")


@pytest.mark.slow
def test_concurrent_orders_of_one_member_all_count(committed: dict[str, World]) -> None:
    """Twenty tills post different orders for one member at once: most read the member before
    another's write lands, so their writes find the member changed and redo the order under the
    lock. Every order must count once in the statistics and the points."""
    alpha = committed["alpha"]
    member_id = alpha.member_a.pk
    outcomes: list[Any] = []
    barrier = threading.Barrier(20)

    def till(n: int) -> None:
        try:
            with tenant_context(alpha.tenant):
                barrier.wait()
                data = {**basket(alpha, f"SAME-{n}"), "lines": [{"sku": "T", "amount": f"{10 + n}.00"}]}
                outcomes.append(checkout_commit(actor=alpha.manager_a, data=data))
        except BaseException as exc:  # noqa: BLE001 - asserted below
            outcomes.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=till, args=(n,)) for n in range(20)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert [o for o in outcomes if isinstance(o, BaseException)] == []
        assert all(o.created for o in outcomes) and len(outcomes) == 20
        with tenant_context(alpha.tenant):
            member = Member.objects.get(pk=member_id)
            assert member.order_count == 20
            assert member.total_spend == sum(Decimal(10 + n) for n in range(20))
            assert member.points_balance == sum(10 + n for n in range(20))
            assert reconcile() == []
    finally:
        undo_committed_loyalty(alpha, member_id, order_prefix="SAME-")


def test_prepared_checkout_statements_follow_the_tenant_on_one_connection(alpha: World, beta: World) -> None:
    """The same phone exists in both merchants. Checkout's statements are prepared once per
    connection; PostgreSQL must plan them again for each tenant's search_path, so every order,
    member update and points entry lands in the merchant it was posted to."""
    for n, world in enumerate([alpha, beta, alpha, beta, alpha]):
        with tenant_context(world.tenant):
            checkout_commit(actor=world.manager_a, data=basket(world, f"X-{n}"))
    connection.set_schema_to_public()
    for world, count in ((alpha, 3), (beta, 2)):
        with tenant_context(world.tenant):
            member = Member.objects.get(pk=world.member_a.pk)
            assert Order.objects.filter(order_no__startswith="X-").count() == count
            assert member.order_count == count and member.points_balance == 300 * count
            assert PointsEntry.objects.filter(member=member).count() == count
            assert reconcile() == []
        connection.set_schema_to_public()


def test_quote_lists_the_members_coupons_best_first_with_reasons(alpha: World) -> None:
    with tenant_context(alpha.tenant):
        Tier.objects.create(name="金卡", rank=1, threshold_spend=0, discount_rate=Decimal("0.9"))
        member = alpha.member_a.pk
        Member.objects.filter(pk=member).update(tier=Tier.objects.get(name="金卡"))
        big = coupon_template_create(actor=alpha.hq, name="立减50", kind="fixed", amount_off=Decimal(50), valid_days=9)
        small = coupon_template_create(actor=alpha.hq, name="立减5", kind="fixed", amount_off=Decimal(5), valid_days=9)
        far = coupon_template_create(
            actor=alpha.hq, name="满1000减200", kind="threshold", amount_off=Decimal(200), threshold=Decimal(1000),
            valid_days=9,
        )  # fmt: skip
        elsewhere = coupon_template_create(
            actor=alpha.hq,
            name="B店专享",
            kind="fixed",
            amount_off=Decimal(80),
            valid_days=9,
            store_ids=[alpha.store_b.pk],
        )
        for n, template in enumerate([small, far, big, elsewhere]):
            coupon_issue(template_id=template.pk, member_id=member, idempotency_key=f"q{n}")
    connection.set_schema_to_public()
    answer = api(alpha, "manager_a").post("/api/v1/checkout/quote", basket(alpha, "Q-1"), format="json").json()
    assert answer["tier"]["name"] == "金卡" and answer["tier_discount"] == "30.00"
    options = [(c["name"], c["usable"], c["discount"]) for c in answer["coupons"]]
    assert options[:2] == [("立减50", True, "50.00"), ("立减5", True, "5.00")]
    reasons = {c["name"]: c["reason"] for c in answer["coupons"] if not c["usable"]}
    assert set(reasons) == {"满1000减200", "B店专享"} and all(reasons.values())


def test_odd_digits_in_ids_are_field_errors_not_crashes(alpha: World) -> None:
    client = api(alpha, "manager_a")
    for odd in ("²", "٣٣٣٣٣٣٣", "1e3"):  # a superscript, Arabic-Indic digits (no such member), an exponent
        response = client.post(
            "/api/v1/checkout", {**basket(alpha, f"ODD-{odd}"), "member": {"id": odd}}, format="json"
        )
        assert response.status_code == 400 and "member" in response.json()["error"]["fields"]
    bad_plan = client.post(f"/api/v1/members/{alpha.member_a.pk}/topups", {"plan_id": "²"}, format="json",
                           HTTP_IDEMPOTENCY_KEY="odd")  # fmt: skip
    assert bad_plan.status_code == 400
