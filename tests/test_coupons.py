"""Coupons: stock and limits, human-friendly codes, redemption rules, and one use per coupon even
when fifty tills try at once."""

from __future__ import annotations

import threading
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection
from django.utils import timezone
from django_tenants.utils import tenant_context

from huiyuan.loyalty.coupons import (
    coupon_expire_due,
    coupon_issue,
    coupon_redeem,
    coupon_template_create,
    coupon_void,
)
from huiyuan.loyalty.exceptions import CouponNotUsable, CouponOutOfStock
from huiyuan.loyalty.models import Coupon, CouponTemplate
from huiyuan.platform.errors import PermissionDenied, ValidationFailed
from huiyuan.platform.events.models import OutboxEvent

from .conftest import World


def template(world: World, **overrides: Any) -> CouponTemplate:
    data: dict[str, Any] = {
        "name": "满100减20",
        "kind": "threshold",
        "amount_off": Decimal("20"),
        "threshold": Decimal("100"),
        "valid_days": 30,
        **overrides,
    }
    return coupon_template_create(actor=world.hq, **data)


def test_threshold_coupon_is_used_once_and_only_above_the_threshold(in_alpha: World) -> None:
    coupon = coupon_issue(template_id=template(in_alpha).pk, member_id=in_alpha.member_a.pk, idempotency_key="i1")
    assert len(coupon.code) == 14 and coupon.code[4] == "-"
    with pytest.raises(CouponNotUsable) as exc:
        coupon_redeem(code=coupon.code, store_id=in_alpha.store_a.pk, order_amount="99.99", idempotency_key="r0")
    assert exc.value.code == "COUPON_THRESHOLD_NOT_MET"
    used = coupon_redeem(
        code=coupon.code.lower().replace("-", " "),
        store_id=in_alpha.store_a.pk,
        order_amount="120",
        idempotency_key="r1",
    )
    assert used.discount == Decimal("20.00") and used.coupon.status == "redeemed"
    again = coupon_redeem(code=coupon.code, store_id=in_alpha.store_a.pk, order_amount="120", idempotency_key="r1")
    assert again.replayed and again.discount == Decimal("20.00")
    with pytest.raises(CouponNotUsable) as exc:
        coupon_redeem(code=coupon.code, store_id=in_alpha.store_a.pk, order_amount="120", idempotency_key="r2")
    assert exc.value.code == "COUPON_REDEEMED"
    assert OutboxEvent.objects.filter(event_type__in=["coupon.issued", "coupon.redeemed"]).count() == 2


def test_percentage_store_and_validity_rules(in_alpha: World) -> None:
    percent = template(
        in_alpha,
        name="八五折",
        kind="percent",
        amount_off=None,
        threshold=None,
        percent_off=15,
        store_ids=[in_alpha.store_b.pk],
    )
    coupon = coupon_issue(template_id=percent.pk, member_id=in_alpha.member_b.pk, idempotency_key="p1")
    with pytest.raises(CouponNotUsable) as exc:
        coupon_redeem(code=coupon.code, store_id=in_alpha.store_a.pk, order_amount="100", idempotency_key="x")
    assert exc.value.code == "COUPON_WRONG_STORE"
    assert coupon_redeem(
        code=coupon.code, store_id=in_alpha.store_b.pk, order_amount="88.88", idempotency_key="y"
    ).discount == Decimal("13.33")
    later = template(
        in_alpha,
        name="下月券",
        valid_days=None,
        valid_from=timezone.now() + timedelta(days=3),
        valid_until=timezone.now() + timedelta(days=10),
    )
    not_yet = coupon_issue(template_id=later.pk, member_id=in_alpha.member_a.pk, idempotency_key="l1")
    with pytest.raises(CouponNotUsable) as exc:
        coupon_redeem(code=not_yet.code, store_id=in_alpha.store_a.pk, order_amount="500", idempotency_key="z")
    assert exc.value.code == "COUPON_NOT_VALID_NOW"


def test_stock_and_per_member_limit(in_alpha: World) -> None:
    scarce = template(in_alpha, stock=2, per_member_limit=1)
    coupon_issue(template_id=scarce.pk, member_id=in_alpha.member_a.pk, idempotency_key="s1")
    assert coupon_issue(template_id=scarce.pk, member_id=in_alpha.member_a.pk, idempotency_key="s1").code  # replay
    with pytest.raises(CouponNotUsable):
        coupon_issue(template_id=scarce.pk, member_id=in_alpha.member_a.pk, idempotency_key="s2")
    coupon_issue(template_id=scarce.pk, member_id=in_alpha.member_b.pk, idempotency_key="s3")
    from huiyuan.members.models import Member

    third = Member.objects.create(phone="+8613700009999", card_no="T3")
    with pytest.raises(CouponOutOfStock):
        coupon_issue(template_id=scarce.pk, member_id=third.pk, idempotency_key="s4")
    assert CouponTemplate.objects.get(pk=scarce.pk).issued_count == 2


def test_expiry_and_void(in_alpha: World) -> None:
    first = coupon_issue(template_id=template(in_alpha).pk, member_id=in_alpha.member_a.pk, idempotency_key="e1")
    second = coupon_issue(
        template_id=template(in_alpha, name="另一张").pk, member_id=in_alpha.member_a.pk, idempotency_key="e2"
    )
    assert coupon_expire_due(now=timezone.now() + timedelta(days=31)) == 2
    assert coupon_expire_due(now=timezone.now() + timedelta(days=31)) == 0
    assert Coupon.objects.get(pk=first.pk).status == "expired"
    fresh = coupon_issue(
        template_id=template(in_alpha, name="第三张").pk, member_id=in_alpha.member_a.pk, idempotency_key="e3"
    )
    coupon_void(actor=in_alpha.hq, code=fresh.code, reason="发错了")
    with pytest.raises(CouponNotUsable):
        coupon_redeem(code=fresh.code, store_id=in_alpha.store_a.pk, order_amount="200", idempotency_key="v")
    with pytest.raises(PermissionDenied):
        coupon_void(actor=in_alpha.cashier_b, code=second.code, reason="x")


def test_template_validation_names_fields(in_alpha: World) -> None:
    with pytest.raises(ValidationFailed) as exc:
        coupon_template_create(actor=in_alpha.hq, name="", kind="threshold", valid_days=None)
    assert {"name", "amount_off", "threshold", "valid_until"} <= set(exc.value.fields)


@pytest.mark.slow
def test_fifty_tills_redeem_one_coupon_once(committed: dict[str, World]) -> None:
    alpha = committed["alpha"]
    with tenant_context(alpha.tenant):
        tpl = template(alpha, name="并发券")
        coupon = coupon_issue(template_id=tpl.pk, member_id=alpha.member_a.pk, idempotency_key="conc-coupon")
    connection.set_schema_to_public()
    outcomes: list[Any] = []
    barrier = threading.Barrier(50)

    def till(n: int) -> None:
        try:
            with tenant_context(alpha.tenant):
                barrier.wait()
                outcomes.append(
                    coupon_redeem(
                        code=coupon.code, store_id=alpha.store_a.pk, order_amount="150", idempotency_key=f"till-{n}"
                    )
                )
        except CouponNotUsable as exc:
            outcomes.append(exc.code)
        except BaseException as exc:  # noqa: BLE001 - asserted below
            outcomes.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=till, args=(n,)) for n in range(50)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        redeemed = [o for o in outcomes if not isinstance(o, str | BaseException)]
        assert len(redeemed) == 1 and outcomes.count("COUPON_REDEEMED") == 49
    finally:
        with tenant_context(alpha.tenant):
            Coupon.objects.all().delete()
            tpl.stores.clear()
            CouponTemplate.objects.all().delete()
            from huiyuan.platform.models import AuditEntry

            AuditEntry.objects.filter(action="loyalty.coupon_template.create").delete()
        OutboxEvent.objects.filter(tenant_schema=alpha.tenant.schema_name).delete()
        connection.set_schema_to_public()


def test_issue_a_coupon_to_a_segment_once(in_alpha: World) -> None:
    from huiyuan.members.segments import SEGMENT_ACTIONS

    tpl = template(in_alpha, name="回归券")
    rule = {"field": "name", "op": "starts_with", "value": "Alpha"}
    first = SEGMENT_ACTIONS["issue_coupon"](actor=in_alpha.marketing, rule=rule, template_id=tpl.pk)
    again = SEGMENT_ACTIONS["issue_coupon"](actor=in_alpha.marketing, rule=rule, template_id=tpl.pk)
    assert first == {"issued": 2, "skipped": 0} and again == {"issued": 2, "skipped": 0}
    assert Coupon.objects.filter(template=tpl).count() == 2
