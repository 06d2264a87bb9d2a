"""Loyalty configuration without code: points settings, earn rules, tiers, plans and templates,
validated field by field, audited, and in effect from the next checkout. Expiry reminders."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.utils import timezone

from huiyuan.loyalty.checkout import checkout_commit
from huiyuan.loyalty.config import (
    coupon_template_set_active,
    earn_rule_create,
    earn_rule_update,
    loyalty_settings_update,
    tier_delete,
    tier_save,
    topup_plan_set_active,
)
from huiyuan.loyalty.coupons import coupon_issue, coupon_template_create
from huiyuan.loyalty.exceptions import CouponNotUsable, InsufficientPoints
from huiyuan.loyalty.ledger import points_earn
from huiyuan.loyalty.models import Coupon, PointsEntry, PointsLot, Tier
from huiyuan.loyalty.reminders import expiry_reminders_send
from huiyuan.loyalty.stored_value import topup_by_plan, topup_plan_create
from huiyuan.members.models import Member
from huiyuan.platform.errors import NotFound, PermissionDenied, ValidationFailed
from huiyuan.platform.events.models import OutboxEvent
from huiyuan.platform.models import AuditEntry
from huiyuan.platform.tenancy import tenant_timezone

from .conftest import World, api, undo_committed_loyalty


def order(world: World, no: str, amount: str = "100.00", **extra: Any) -> dict[str, Any]:
    return {
        "order_no": no,
        "store": "A001",
        "member": {"phone": "13800000001"},
        "lines": [{"sku": "X", "category": "咖啡", "amount": amount}],
        **extra,
    }


def earned(world: World, no: str, **extra: Any) -> int:
    result = checkout_commit(actor=world.manager_a, data=order(world, no, **extra))
    return int(result.order.benefits["points_earned"])


def test_settings_change_applies_from_the_next_checkout_and_is_audited(in_alpha: World) -> None:
    assert earned(in_alpha, "CFG-1") == 100
    loyalty_settings_update(
        actor=in_alpha.hq, data={"points_per_yuan": "2", "points_rounding": "half_up", "max_points_per_order": "150"}
    )
    assert earned(in_alpha, "CFG-2") == 150  # 200 capped
    loyalty_settings_update(actor=in_alpha.hq, data={"excluded_categories": "咖啡，烟酒", "max_points_per_order": ""})
    assert earned(in_alpha, "CFG-3") == 0
    entry = AuditEntry.objects.filter(action="loyalty.settings.update").order_by("pk").first()
    assert entry is not None and entry.changes["points_per_yuan"] == ["1.000", "2"]


def test_bad_settings_are_reported_by_field_and_change_nothing(in_alpha: World) -> None:
    with pytest.raises(ValidationFailed) as caught:
        loyalty_settings_update(
            actor=in_alpha.hq,
            data={"points_per_yuan": "lots", "points_expiry": "sometimes", "max_points_share": "1.5", "colour": "red"},
        )
    assert set(caught.value.fields) == {"points_per_yuan", "points_expiry", "max_points_share", "non_field_errors"}
    assert earned(in_alpha, "CFG-BAD") == 100  # unchanged


def test_only_configurers_may_change_settings(in_alpha: World) -> None:
    with pytest.raises(PermissionDenied):
        loyalty_settings_update(actor=in_alpha.manager_a, data={"points_per_yuan": "5"})


def test_member_day_rule_doubles_points_until_deactivated(in_alpha: World) -> None:
    today = str(timezone.now().astimezone(tenant_timezone()).isoweekday())  # the merchant's weekday
    rule = earn_rule_create(actor=in_alpha.hq, data={"kind": "weekday", "match": today, "multiplier": "2"})
    assert earned(in_alpha, "RULE-1") == 200
    with pytest.raises(ValidationFailed) as caught:
        earn_rule_create(actor=in_alpha.hq, data={"kind": "weekday", "match": today, "multiplier": "3"})
    assert "match" in caught.value.fields  # one active rule per weekday
    earn_rule_update(actor=in_alpha.hq, rule_id=rule.pk, data={"active": False})
    assert earned(in_alpha, "RULE-2") == 100


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"kind": "weekday", "match": "8", "multiplier": "2"}, "match"),
        ({"kind": "store", "match": "999999", "multiplier": "2"}, "match"),
        ({"kind": "category", "match": "", "multiplier": "2"}, "match"),
        ({"kind": "category", "match": "茶", "multiplier": "-1"}, "multiplier"),
        ({"kind": "moon_phase", "match": "full", "multiplier": "2"}, "kind"),
    ],
)
def test_bad_earn_rules_name_the_field(in_alpha: World, data: dict[str, str], field: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        earn_rule_create(actor=in_alpha.hq, data=data)
    assert field in caught.value.fields


def test_tier_edit_applies_at_the_next_order_and_held_tiers_cannot_be_deleted(in_alpha: World) -> None:
    base = tier_save(actor=in_alpha.hq, data={"name": "普通", "threshold_spend": "0"})
    gold = tier_save(actor=in_alpha.hq, data={"name": "金卡", "threshold_spend": "10000", "discount_rate": "0.9"})
    assert gold.rank == base.rank + 1
    checkout_commit(actor=in_alpha.manager_a, data=order(in_alpha, "T-1", "500.00"))
    assert Member.objects.get(pk=in_alpha.member_a.pk).tier_id == base.pk
    tier_save(actor=in_alpha.hq, tier_id=gold.pk, data={"threshold_spend": "550"})
    result = checkout_commit(actor=in_alpha.manager_a, data=order(in_alpha, "T-2", "100.00"))
    assert Member.objects.get(pk=in_alpha.member_a.pk).tier_id == gold.pk  # 600 spent reaches 550
    assert result.order.benefits["tier_discount"] == "0.00"  # the discount starts with the next order
    with pytest.raises(ValidationFailed) as caught:
        tier_delete(actor=in_alpha.hq, tier_id=gold.pk)
    assert "tier" in caught.value.fields
    spare = tier_save(actor=in_alpha.hq, data={"name": "钻石", "threshold_spend": "50000"})
    tier_delete(actor=in_alpha.hq, tier_id=spare.pk)
    assert not Tier.objects.filter(pk=spare.pk).exists()
    with pytest.raises(ValidationFailed) as caught:
        tier_save(actor=in_alpha.hq, tier_id=gold.pk, data={"name": "普通", "discount_rate": "0.01"})
    assert set(caught.value.fields) == {"name", "discount_rate"}
    with pytest.raises(NotFound):
        tier_save(actor=in_alpha.hq, tier_id=999999, data={"threshold_spend": "1"})


def test_inactive_plans_and_templates_sell_and_issue_nothing_new(in_alpha: World) -> None:
    plan = topup_plan_create(actor=in_alpha.hq, name="充1000送100", pay_amount="1000", bonus_amount="100")
    template = coupon_template_create(
        actor=in_alpha.hq, name="立减10", kind="fixed", amount_off=Decimal(10), valid_days=30
    )
    issued = coupon_issue(template_id=template.pk, member_id=in_alpha.member_a.pk, idempotency_key="before")
    topup_plan_set_active(actor=in_alpha.hq, plan_id=plan.pk, active=False)
    coupon_template_set_active(actor=in_alpha.hq, template_id=template.pk, active=False)
    with pytest.raises(NotFound):
        topup_by_plan(actor=in_alpha.manager_a, member_id=in_alpha.member_a.pk, plan_id=plan.pk, idempotency_key="k")
    with pytest.raises((NotFound, CouponNotUsable)):
        coupon_issue(template_id=template.pk, member_id=in_alpha.member_a.pk, idempotency_key="after")
    assert Coupon.objects.get(pk=issued.pk).status == Coupon.Status.ISSUED  # what was issued stays usable


def test_expiry_reminders_announce_each_lot_and_coupon_once(in_alpha: World) -> None:
    now = timezone.now()
    member_id = in_alpha.member_a.pk
    points_earn(
        member_id=member_id, amount=30, idempotency_key="soon-1", cause="staff", expires_at=now + timedelta(days=3)
    )
    points_earn(
        member_id=member_id, amount=20, idempotency_key="soon-2", cause="staff", expires_at=now + timedelta(days=5)
    )
    points_earn(
        member_id=member_id, amount=99, idempotency_key="later", cause="staff", expires_at=now + timedelta(days=90)
    )
    template = coupon_template_create(
        actor=in_alpha.hq, name="周末券", kind="fixed", amount_off=Decimal(5), valid_days=2
    )
    coupon = coupon_issue(template_id=template.pk, member_id=member_id, idempotency_key="c1")

    assert expiry_reminders_send(now=now) == {"points_expiring": 1, "coupons_expiring": 1}
    points = OutboxEvent.objects.get(event_type="points.expiring")
    assert points.payload["member_id"] == member_id and points.payload["points"] == 50
    assert points.payload["balance"] == 149
    assert OutboxEvent.objects.get(event_type="coupon.expiring").payload["code"] == coupon.code
    assert expiry_reminders_send(now=now) == {"points_expiring": 0, "coupons_expiring": 0}  # re-run: nothing twice
    assert PointsLot.objects.filter(expiry_reminded_at__isnull=True).count() == 1  # the 90-day lot waits its turn

    loyalty_settings_update(actor=in_alpha.hq, data={"expiry_reminder_days": "0"})
    assert expiry_reminders_send(now=now + timedelta(days=85)) == {"points_expiring": 0, "coupons_expiring": 0}


def test_configuration_api(alpha: World) -> None:
    client = api(alpha, "hq")
    assert client.get("/api/v1/loyalty/settings").json()["points_per_yuan"] == "1.000"
    bad = client.patch("/api/v1/loyalty/settings", {"points_expiry_months": "0"}, format="json")
    assert bad.status_code == 400 and "points_expiry_months" in bad.json()["error"]["fields"]
    ok = client.patch("/api/v1/loyalty/settings", {"points_expiry": "end_of_year"}, format="json")
    assert ok.status_code == 200 and ok.json()["points_expiry"] == "end_of_year"

    rule = client.post("/api/v1/loyalty/earn-rules", {"kind": "birthday_month", "multiplier": "2"}, format="json")
    assert rule.status_code == 201
    off = client.patch(f"/api/v1/loyalty/earn-rules/{rule.json()['id']}", {"active": False}, format="json")
    assert off.status_code == 200 and off.json()["active"] is False
    assert [r["kind"] for r in client.get("/api/v1/loyalty/earn-rules").json()] == ["birthday_month"]

    tier = client.post("/api/v1/loyalty/tiers", {"name": "银卡", "threshold_spend": "2000"}, format="json")
    assert tier.status_code == 201 and tier.json()["rank"] == 1
    edited = client.patch(f"/api/v1/loyalty/tiers/{tier.json()['id']}", {"discount_rate": "0.98"}, format="json")
    assert edited.json()["discount_rate"] == "0.980"
    assert client.delete(f"/api/v1/loyalty/tiers/{tier.json()['id']}").status_code == 204
    assert api(alpha, "manager_a").patch("/api/v1/loyalty/settings", {}, format="json").status_code == 403


def test_small_adjustments_apply_at_once_large_ones_wait_for_a_second_person(in_alpha: World) -> None:
    from huiyuan.loyalty.adjustments import pending_adjustments, points_adjust, points_adjustment_decide
    from huiyuan.loyalty.models import PointsAdjustment

    member_id = in_alpha.member_a.pk

    def adjust(actor: Any, amount: str, reason: str, key: str, member: int = member_id) -> PointsAdjustment:
        return points_adjust(actor=actor, member_id=member, amount=amount, reason=reason, idempotency_key=key)

    small = points_adjust(
        actor=in_alpha.manager_a, member_id=member_id, amount="200", reason="投诉补偿", idempotency_key="a1"
    )
    again = points_adjust(
        actor=in_alpha.manager_a, member_id=member_id, amount="200", reason="投诉补偿", idempotency_key="a1"
    )
    assert small.status == PointsAdjustment.Status.APPLIED and again.pk == small.pk  # a double click
    assert Member.objects.get(pk=member_id).points_balance == 200
    entry = PointsEntry.objects.get(pk=small.entry_id)
    assert (entry.kind, entry.reason, entry.actor_id) == ("adjust", "投诉补偿", in_alpha.manager_a.pk)

    big = points_adjust(
        actor=in_alpha.manager_a, member_id=member_id, amount="5000", reason="活动", idempotency_key="a2"
    )
    assert big.status == PointsAdjustment.Status.PENDING
    assert Member.objects.get(pk=member_id).points_balance == 200  # nothing yet
    with pytest.raises(PermissionDenied):  # a store manager cannot approve
        points_adjustment_decide(actor=in_alpha.manager_a, adjustment_id=big.pk, approve=True)
    assert [a.pk for a in pending_adjustments(actor=in_alpha.hq)] == [big.pk]
    points_adjustment_decide(actor=in_alpha.hq, adjustment_id=big.pk, approve=True, note="ok")
    points_adjustment_decide(actor=in_alpha.hq, adjustment_id=big.pk, approve=True)  # retried: once
    assert Member.objects.get(pk=member_id).points_balance == 5200

    mine = adjust(in_alpha.hq, "-3000", "误操作", "a3")
    with pytest.raises(PermissionDenied):  # nobody approves their own
        points_adjustment_decide(actor=in_alpha.hq, adjustment_id=mine.pk, approve=True)
    points_adjustment_decide(actor=in_alpha.owner, adjustment_id=mine.pk, approve=False, note="不同意")
    assert Member.objects.get(pk=member_id).points_balance == 5200

    with pytest.raises(ValidationFailed) as caught:
        adjust(in_alpha.manager_a, "lots", "", "a4")
    assert set(caught.value.fields) == {"amount", "reason"}
    for bad in ("+-5", "1.5", "1e3", "0"):
        with pytest.raises(ValidationFailed):
            adjust(in_alpha.manager_a, bad, "x", f"bad{bad}")
    loyalty_settings_update(actor=in_alpha.hq, data={"adjustment_approval_points": "100000"})
    with pytest.raises(InsufficientPoints):  # never below zero; the request is not kept either
        adjust(in_alpha.manager_a, "-9999", "x", "a5")
    assert Member.objects.get(pk=member_id).points_balance == 5200
    assert not PointsAdjustment.objects.filter(idempotency_key="a5").exists()
    with pytest.raises(NotFound):  # another store's member
        points_adjust(
            actor=in_alpha.manager_a, member_id=in_alpha.member_b.pk, amount="1", reason="x", idempotency_key="b"
        )


def test_points_buy_a_coupon_once_and_both_or_neither_happen(in_alpha: World) -> None:
    from huiyuan.loyalty.adjustments import coupon_exchange

    member_id = in_alpha.member_a.pk
    points_earn(member_id=member_id, amount=700, idempotency_key="seed", cause="staff")
    gift = coupon_template_create(
        actor=in_alpha.hq, name="蛋糕兑换券", kind="gift", gift="蛋糕一份", valid_days=30, points_price=300, stock=1
    )
    coupon = coupon_exchange(actor=in_alpha.manager_a, member_id=member_id, template_id=gift.pk, idempotency_key="x1")
    again = coupon_exchange(actor=in_alpha.manager_a, member_id=member_id, template_id=gift.pk, idempotency_key="x1")
    assert again.pk == coupon.pk and Member.objects.get(pk=member_id).points_balance == 400
    from huiyuan.loyalty.exceptions import CouponOutOfStock

    with pytest.raises(CouponOutOfStock):  # stock of one: the points stay
        coupon_exchange(actor=in_alpha.manager_a, member_id=member_id, template_id=gift.pk, idempotency_key="x2")
    assert Member.objects.get(pk=member_id).points_balance == 400
    plain = coupon_template_create(
        actor=in_alpha.hq, name="无积分价", kind="fixed", amount_off=Decimal(5), valid_days=9
    )
    with pytest.raises(CouponNotUsable):
        coupon_exchange(actor=in_alpha.manager_a, member_id=member_id, template_id=plain.pk, idempotency_key="x3")
    with pytest.raises(ValidationFailed) as caught:
        coupon_template_create(actor=in_alpha.hq, name="坏", kind="gift", gift="g", valid_days=9, points_price=-5)
    assert "points_price" in caught.value.fields


def test_adjustment_and_exchange_api(alpha: World) -> None:
    from django.db import connection
    from django_tenants.utils import tenant_context

    from huiyuan.loyalty.ledger import loyalty_settings

    member_id = alpha.member_a.pk
    manager = api(alpha, "manager_a")
    url = f"/api/v1/members/{member_id}/points-adjustments"
    assert manager.post(url, {"amount": 10, "reason": "x"}, format="json").status_code == 400  # no key
    small = manager.post(url, {"amount": 10, "reason": "补偿"}, format="json", HTTP_IDEMPOTENCY_KEY="k1")
    assert small.status_code == 201 and small.json()["status"] == "applied"
    big = manager.post(url, {"amount": 5000, "reason": "活动"}, format="json", HTTP_IDEMPOTENCY_KEY="k2")
    assert big.status_code == 202 and big.json()["status"] == "pending"
    assert [a["id"] for a in api(alpha, "hq").get("/api/v1/points-adjustments").json()] == [big.json()["id"]]
    decision = f"/api/v1/points-adjustments/{big.json()['id']}/decision"
    assert manager.post(decision, {"approve": True}, format="json").status_code == 403
    done = api(alpha, "hq").post(decision, {"approve": True, "note": "ok"}, format="json")
    assert done.status_code == 200 and done.json()["status"] == "applied"
    with tenant_context(alpha.tenant):
        assert Member.objects.get(pk=member_id).points_balance == 5010
        assert loyalty_settings().adjustment_approval_points == 1000
    connection.set_schema_to_public()


def test_tier_review_in_batches_agrees_with_the_rule_for_every_member(in_alpha: World) -> None:
    import random

    from django.db.models import F, Sum

    from huiyuan.loyalty.models import TierChange
    from huiyuan.loyalty.tiers import best_tier, tier_review
    from huiyuan.members.models import Order
    from huiyuan.members.stats import stats_rebuild

    tier_save(actor=in_alpha.hq, data={"name": "普通", "threshold_spend": "0"})
    tier_save(actor=in_alpha.hq, data={"name": "银卡", "threshold_spend": "500", "window_days": "90"})
    tier_save(actor=in_alpha.hq, data={"name": "金卡", "threshold_spend": "2000", "window_days": "365"})
    tier_save(actor=in_alpha.hq, data={"name": "终身", "threshold_spend": "5000"})
    rng = random.Random(7)
    now = timezone.now()
    members = [
        Member.objects.create(phone=f"+861390000{n:04d}", card_no=f"R{n}", home_store=in_alpha.store_a)
        for n in range(60)
    ]
    Order.objects.bulk_create(
        Order(
            order_no=f"R{m.pk}-{k}",
            store=in_alpha.store_a,
            member=m,
            paid_amount=Decimal(rng.randrange(10, 900)),
            paid_at=now - timedelta(days=rng.randrange(0, 800)),
        )
        for m in members
        for k in range(rng.randrange(0, 12))
    )
    stats_rebuild()
    result = tier_review(now=now, batch_size=7)  # several batches
    assert result["upgraded"] > 0 and result["downgraded"] == 0
    tiers = list(Tier.objects.all())

    def spend(member_id: int, tier: Tier) -> Decimal:  # the rule, straight from the orders
        orders = Order.objects.filter(member_id=member_id)
        if tier.window_days:
            orders = orders.filter(paid_at__gte=now - timedelta(days=tier.window_days))
        return orders.aggregate(s=Sum(F("paid_amount") - F("refunded_amount")))["s"] or Decimal(0)

    for member in Member.objects.filter(pk__in=[m.pk for m in members]).select_related("tier"):
        expected, _spend = best_tier(tiers, lambda tier, pk=member.pk: spend(pk, tier))
        if member.order_count == 0:
            expected = None  # members who never bought are not placed in a tier by the review
        assert member.tier_id == (expected.pk if expected else None), member.pk
    changes = TierChange.objects.filter(member__in=members).count()
    assert OutboxEvent.objects.filter(event_type="tier.changed").count() == changes == result["upgraded"]
    assert tier_review(now=now, batch_size=7) == {"upgraded": 0, "downgraded": 0}  # re-run: nothing


@pytest.mark.slow
def test_a_double_clicked_adjustment_credits_once(committed: dict[str, World]) -> None:
    import threading

    from django.db import connection
    from django_tenants.utils import tenant_context

    from huiyuan.loyalty.adjustments import points_adjust

    alpha = committed["alpha"]
    outcomes: list[Any] = []
    barrier = threading.Barrier(10)

    def click() -> None:
        try:
            with tenant_context(alpha.tenant):
                barrier.wait()
                outcomes.append(
                    points_adjust(
                        actor=alpha.manager_a, member_id=alpha.member_a.pk, amount="100", reason="补偿",
                        idempotency_key="double",
                    )
                )  # fmt: skip
        except BaseException as exc:  # noqa: BLE001 - asserted below
            outcomes.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=click) for _ in range(10)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert [o for o in outcomes if isinstance(o, BaseException)] == []
        assert len({o.pk for o in outcomes}) == 1
        with tenant_context(alpha.tenant):
            assert Member.objects.get(pk=alpha.member_a.pk).points_balance == 100
    finally:
        undo_committed_loyalty(alpha, alpha.member_a.pk)


def test_ledger_writes_refuse_an_idempotency_key_too_long_for_the_ledger(alpha: World) -> None:
    url = f"/api/v1/members/{alpha.member_a.pk}/points-adjustments"
    long = api(alpha, "manager_a").post(
        url, {"amount": 1, "reason": "x"}, format="json", HTTP_IDEMPOTENCY_KEY="k" * 101
    )
    assert long.status_code == 400 and "Idempotency-Key" in long.json()["error"]["fields"]
