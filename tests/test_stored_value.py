"""Stored value around the ledger: plans, refunds of a top-up, the payment password, the daily
statement."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.utils import timezone

from huiyuan.loyalty.checkout import checkout_commit
from huiyuan.loyalty.exceptions import PaymentPasswordLocked, PaymentPasswordRequired, PaymentPasswordWrong
from huiyuan.loyalty.ledger import reconcile, stored_value_spend
from huiyuan.loyalty.stored_value import (
    payment_password_set,
    stored_value_statement,
    topup_by_plan,
    topup_plan_create,
    topup_refund,
)
from huiyuan.members.models import Member
from huiyuan.platform.errors import PermissionDenied, ValidationFailed
from huiyuan.platform.tenancy import tenant_today

from .conftest import World


def test_plan_topup_and_refund_of_only_the_unspent_principal(in_alpha: World) -> None:
    plan = topup_plan_create(actor=in_alpha.hq, name="充1000送100", pay_amount="1000", bonus_amount="100")
    topup = topup_by_plan(
        actor=in_alpha.cashier_b, member_id=in_alpha.member_a.pk, plan_id=plan.pk, idempotency_key="t1"
    ).entry
    stored_value_spend(member_id=in_alpha.member_a.pk, amount="550", idempotency_key="s1")  # 500 + 50 bonus
    with pytest.raises(PermissionDenied):
        topup_refund(actor=in_alpha.cashier_b, topup_entry_id=topup.pk, idempotency_key="r1")
    refund = topup_refund(actor=in_alpha.manager_a, topup_entry_id=topup.pk, idempotency_key="r1").entry
    assert (refund.principal, refund.bonus) == (Decimal("-500.00"), Decimal("-50.00"))
    member = Member.objects.get(pk=in_alpha.member_a.pk)
    assert (member.stored_principal, member.stored_bonus) == (Decimal("0.00"), Decimal("0.00"))
    assert topup_refund(actor=in_alpha.manager_a, topup_entry_id=topup.pk, idempotency_key="r1").replayed
    with pytest.raises(ValidationFailed):
        topup_refund(actor=in_alpha.manager_a, topup_entry_id=topup.pk, idempotency_key="r2")
    assert reconcile() == []


def test_payment_password_guards_stored_value_at_checkout(in_alpha: World) -> None:
    plan = topup_plan_create(actor=in_alpha.hq, name="充200", pay_amount="200")
    topup_by_plan(actor=in_alpha.hq, member_id=in_alpha.member_a.pk, plan_id=plan.pk, idempotency_key="t")
    with pytest.raises(ValidationFailed):
        payment_password_set(actor=in_alpha.service, member_id=in_alpha.member_a.pk, pin="123456")
    payment_password_set(actor=in_alpha.service, member_id=in_alpha.member_a.pk, pin="739152")
    basket = {
        "order_no": "PIN-1",
        "store": "A001",
        "member": {"phone": "13800000001"},
        "lines": [{"sku": "A", "amount": "50.00"}],
        "stored_value": "50.00",
    }
    with pytest.raises(PaymentPasswordRequired):
        checkout_commit(actor=in_alpha.manager_a, data=basket)
    for _ in range(4):
        with pytest.raises(PaymentPasswordWrong):
            checkout_commit(actor=in_alpha.manager_a, data={**basket, "payment_password": "000000"})
    with pytest.raises(PaymentPasswordLocked):
        checkout_commit(actor=in_alpha.manager_a, data={**basket, "payment_password": "000000"})
    with pytest.raises(PaymentPasswordLocked):  # even the right one, until the lock expires
        checkout_commit(actor=in_alpha.manager_a, data={**basket, "payment_password": "739152"})
    assert Member.objects.get(pk=in_alpha.member_a.pk).stored_principal == Decimal("200.00")


def test_daily_statement_balances(in_alpha: World) -> None:
    plan = topup_plan_create(actor=in_alpha.hq, name="充100送10", pay_amount="100", bonus_amount="10")
    topup_by_plan(actor=in_alpha.hq, member_id=in_alpha.member_b.pk, plan_id=plan.pk, idempotency_key="d1")
    stored_value_spend(member_id=in_alpha.member_b.pk, amount="55", idempotency_key="d2")
    statement = stored_value_statement(day=tenant_today())
    assert statement["opening"] == {"principal": "0", "bonus": "0"}
    assert statement["movements"]["topup"] == {"principal": "100.00", "bonus": "10.00", "count": 1}
    assert statement["closing"] == {"principal": "50.00", "bonus": "5.00"}
    assert timezone.now()


def test_topup_api_needs_an_idempotency_key_and_credits_once(alpha: World) -> None:
    from django_tenants.utils import tenant_context

    from .conftest import api

    with tenant_context(alpha.tenant):
        plan = topup_plan_create(actor=alpha.hq, name="充300", pay_amount="300", bonus_amount="30")
    client = api(alpha, "manager_a")
    url = f"/api/v1/members/{alpha.member_a.pk}/topups"
    assert client.post(url, {"plan_id": plan.pk}, format="json").status_code == 400
    first = client.post(url, {"plan_id": plan.pk}, format="json", HTTP_IDEMPOTENCY_KEY="till-7-0001")
    again = client.post(url, {"plan_id": plan.pk}, format="json", HTTP_IDEMPOTENCY_KEY="till-7-0001")
    assert first.status_code == again.status_code == 201 and first.json()["id"] == again.json()["id"]
    ledger = client.get(f"/api/v1/members/{alpha.member_a.pk}/ledger").json()
    assert ledger["stored_principal"] == "300.00" and len(ledger["stored_value"]) == 1
    assert (
        client.post(
            f"/api/v1/members/{alpha.member_b.pk}/topups", {"plan_id": plan.pk}, format="json", HTTP_IDEMPOTENCY_KEY="x"
        ).status_code
        == 404
    )  # another store's member
    statement = api(alpha, "hq").get("/api/v1/stored-value/statement").json()
    assert statement["closing"] == {"principal": "300.00", "bonus": "30.00"}
