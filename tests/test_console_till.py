"""The till's member lookup, the order pages (list, filters, refund) and the member form designer,
through the console and the API as each role would use them. The browser tests drive the same
pages in Chromium (test_browser_console.py)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from django.db import connection
from django.utils import timezone
from django_tenants.utils import tenant_context

from huiyuan.loyalty.checkout import checkout_commit
from huiyuan.loyalty.ledger import points_earn
from huiyuan.loyalty.models import PointsEntry
from huiyuan.members.codes import member_code_for, member_id_from_code
from huiyuan.members.models import CustomField, Member, Order, Refund
from huiyuan.platform.models import AuditEntry

from .conftest import World, api
from .test_console import console


def _sell(world: World, no: str, *, store: str = "A001", phone: str = "13800000001", amount: str = "100.00") -> Order:
    with tenant_context(world.tenant):
        result = checkout_commit(
            actor=world.hq,
            data={
                "order_no": no,
                "store": store,
                "member": {"phone": phone},
                "lines": [{"name": "拿铁", "amount": amount}],
            },
        )
    connection.set_schema_to_public()
    return result.order


# ---- member lookup at the till ---------------------------------------------------------------------
def test_a_cashier_finds_any_member_by_full_phone_but_only_own_store_members_by_last_digits(alpha: World) -> None:
    client = api(alpha, "cashier_b")  # works in store B; member_a belongs to store A
    by_phone = client.get("/api/v1/checkout/members", {"q": "138 0000 0001"}).json()["results"]
    assert [m["id"] for m in by_phone] == [alpha.member_a.pk]
    assert by_phone[0]["phone"] == "138****0001"  # a cashier never sees the whole number
    by_card = client.get("/api/v1/checkout/members", {"q": alpha.member_a.card_no}).json()["results"]
    assert [m["id"] for m in by_card] == [alpha.member_a.pk]
    # Partial input lists only the cashier's own store's members.
    assert client.get("/api/v1/checkout/members", {"q": "0001"}).json()["results"] == []
    own = client.get("/api/v1/checkout/members", {"q": "0002"}).json()["results"]
    assert [m["id"] for m in own] == [alpha.member_b.pk]
    assert client.get("/api/v1/checkout/members", {"q": "' OR 1=1 --"}).json()["results"] == []
    nul = client.get("/api/v1/checkout/members", {"q": "\x00"})
    assert nul.status_code == 400 and nul.json()["error"]["message"]


def test_a_scanned_member_code_finds_the_member_until_it_expires(alpha: World) -> None:
    with tenant_context(alpha.tenant):
        code = member_code_for(alpha.member_a.pk)
        old = member_code_for(alpha.member_a.pk, now=timezone.now() - timedelta(minutes=10))
        assert member_id_from_code(code) == alpha.member_a.pk
        mistyped = code[:-1] + str((int(code[-1]) + 1) % 10)
        assert member_id_from_code(mistyped) is None
    connection.set_schema_to_public()
    client = api(alpha, "cashier_b")
    found = client.get("/api/v1/checkout/members", {"q": code}).json()["results"]
    assert [m["id"] for m in found] == [alpha.member_a.pk]
    expired = client.get("/api/v1/checkout/members", {"q": old})
    assert expired.status_code == 400 and "刷新" in expired.json()["error"]["fields"]["q"][0]


def test_a_code_of_one_merchant_means_nothing_at_another(alpha: World, beta: World) -> None:
    with tenant_context(alpha.tenant):
        code = member_code_for(alpha.member_a.pk)
    connection.set_schema_to_public()
    assert api(beta, "hq").get("/api/v1/checkout/members", {"q": code}).status_code == 400


def test_the_till_page_is_for_staff_who_sell(alpha: World) -> None:
    page = console(alpha, "cashier_b").get("/cashier/")
    body = page.content.decode()
    assert page.status_code == 200 and "收银台" in body and 'data-store="B001"' in body
    assert console(alpha, "marketing").get("/cashier/").status_code == 403


# ---- orders ----------------------------------------------------------------------------------------
def test_the_order_list_is_scoped_to_the_managers_stores_and_filters_by_words(alpha: World) -> None:
    _sell(alpha, "LIST-A1", amount="120.00")
    _sell(alpha, "LIST-B1", store="B001", phone="13800000002", amount="80.00")
    manager = console(alpha, "manager_a")
    body = manager.get("/orders/").content.decode()
    assert "LIST-A1" in body and "LIST-B1" not in body
    hq = console(alpha, "hq")
    assert "LIST-B1" in hq.get("/orders/").content.decode()
    assert "LIST-A1" not in hq.get("/orders/", {"max": "100"}).content.decode()
    filtered = hq.get("/orders/", {"min": "100", "order_no": "LIST"}).content.decode()
    assert "LIST-A1" in filtered and "LIST-B1" not in filtered
    bad = hq.get("/orders/", {"from": "yesterday", "min": "lots"})
    text = bad.content.decode()
    assert bad.status_code == 200 and "2026-03-08" in text and "88.00" in text  # both problems named
    assert "LIST-A1" not in text
    # Another store's order is not found at all for the manager.
    assert manager.get("/orders/LIST-B1/").status_code == 404


def test_a_refund_from_the_order_page_reverses_points_once(alpha: World) -> None:
    order = _sell(alpha, "REF-1", amount="200.00")
    client = console(alpha, "manager_a")
    page = client.get("/orders/REF-1/").content.decode()
    assert "拿铁" in page and "退款" in page
    form = {"refund_no": "R-REF-1", "amount": "50.00", "reason": "少了一杯"}
    assert client.post("/orders/REF-1/", form).status_code == 302
    client.post("/orders/REF-1/", form)  # the same form sent twice: a replay
    with tenant_context(alpha.tenant):
        order.refresh_from_db()
        assert order.refunded_amount == Decimal("50.00") and order.status == Order.Status.PARTIALLY_REFUNDED
        assert Refund.objects.filter(order=order).count() == 1
        clawed = PointsEntry.objects.filter(cause="refund", cause_id="REF-1").values_list("amount", flat=True)
        earned = order.benefits["points_earned"]
        assert list(clawed) == [-round(earned * 50 / 200)]
        assert AuditEntry.objects.filter(action="loyalty.order.refund", object_id="REF-1").count() == 1
    connection.set_schema_to_public()
    too_much = client.post("/orders/REF-1/", {"refund_no": "R-REF-2", "amount": "999"})
    assert too_much.status_code == 200 and "150.00" in too_much.content.decode()  # what is still refundable
    garbage = client.post("/orders/REF-1/", {"refund_no": "R-REF-3", "amount": "", "line_1": "abc"})
    assert garbage.status_code == 200
    with tenant_context(alpha.tenant):
        assert Refund.objects.filter(order=order).count() == 1
    connection.set_schema_to_public()


def test_a_cashier_cannot_refund_another_stores_order(alpha: World) -> None:
    _sell(alpha, "REF-A", amount="60.00")
    response = console(alpha, "cashier_b").post("/orders/REF-A/", {"refund_no": "X", "amount": "60"})
    assert response.status_code == 404
    with tenant_context(alpha.tenant):
        assert not Refund.objects.filter(refund_no="X").exists()
    connection.set_schema_to_public()


# ---- member form designer --------------------------------------------------------------------------
def _field(world: World, **values: object) -> CustomField:
    with tenant_context(world.tenant):
        field = CustomField.objects.create(**values)
    connection.set_schema_to_public()
    return field


def test_dragging_fields_into_sections_saves_order_and_section(alpha: World) -> None:
    first = _field(alpha, key="taste", label="口味", field_type="text", position=1)
    second = _field(alpha, key="allergy", label="过敏", field_type="text", position=2)
    client = console(alpha, "hq")
    layout = [{"id": second.pk, "section": "健康"}, {"id": first.pk, "section": "偏好"}]
    saved = client.post("/fields/layout/", {"layout": layout}, content_type="application/json")
    assert saved.status_code == 200 and saved.json()["saved"]
    with tenant_context(alpha.tenant):
        ordered = list(CustomField.objects.values_list("key", "section"))
        assert ordered[:2] == [("allergy", "健康"), ("taste", "偏好")]
    connection.set_schema_to_public()
    for garbage in ("not json", '{"layout": [{"id": 99999}]}', '{"layout": "x"}', "[1,2]"):
        refused = client.post("/fields/layout/", garbage, content_type="application/json")
        assert refused.status_code == 400 and refused.json()["error"]["message"]
    assert console(alpha, "cashier_b").post("/fields/layout/", "{}", content_type="application/json").status_code == 403


def test_a_field_hidden_from_cashiers_is_neither_shown_nor_required_at_the_till(alpha: World) -> None:
    _field(alpha, key="income", label="年收入", field_type="text", required=True, visible_roles=["hq_admin", "owner"])
    _field(alpha, key="spice", label="辣度", field_type="text", section="偏好")
    hq_preview = console(alpha, "hq").get("/fields/preview/", {"role": "hq_admin"}).content.decode()
    cashier_preview = console(alpha, "hq").get("/fields/preview/", {"role": "cashier"}).content.decode()
    assert "年收入" in hq_preview and "年收入" not in cashier_preview and "辣度" in cashier_preview
    cashier = console(alpha, "cashier_b")
    form = cashier.get("/members/new/?next=cashier&phone=13912345678").content.decode()
    assert "年收入" not in form and "辣度" in form and "13912345678" in form
    saved = cashier.post(
        "/members/new/?next=cashier",
        {
            "phone": "13912345678",
            "name": "新客",
            "gender": "unknown",
            "home_store_id": alpha.store_b.pk,
            "cf_spice": "微辣",
        },
    )
    assert saved.status_code == 302 and saved["Location"].startswith("/cashier/?member=")
    with tenant_context(alpha.tenant):
        member = Member.objects.get(phone="+8613912345678")
        assert member.custom_fields == {"spice": "微辣"}
    connection.set_schema_to_public()
    # HQ sees the field and must fill it in.
    refused = console(alpha, "hq").post(
        "/members/new/", {"phone": "13912345679", "name": "总部录入", "gender": "unknown"}
    )
    assert refused.status_code == 200 and "年收入" in refused.content.decode()


def test_points_earned_at_the_till_show_on_the_order_page(alpha: World) -> None:
    with tenant_context(alpha.tenant):
        points_earn(member_id=alpha.member_a.pk, amount=1000, idempotency_key="till:seed", cause="staff")
    connection.set_schema_to_public()
    _sell(alpha, "SHOW-1", amount="88.00")
    page = console(alpha, "hq").get("/orders/SHOW-1/").content.decode()
    with tenant_context(alpha.tenant):
        earned = Order.objects.get(order_no="SHOW-1").benefits["points_earned"]
    connection.set_schema_to_public()
    assert earned > 0 and f'获得积分</dt><dd class="col-7">{earned}</dd>' in page.replace("\n", "")
    assert "¥88.00" in page


def test_the_coupon_list_is_scoped_filtered_and_lets_hq_void(alpha: World) -> None:
    from huiyuan.loyalty.coupons import coupon_issue
    from huiyuan.loyalty.models import Coupon, CouponTemplate

    with tenant_context(alpha.tenant):
        template = CouponTemplate.objects.create(name="周年礼券", kind="fixed", amount_off=8, valid_days=30)
        mine = coupon_issue(template_id=template.pk, member_id=alpha.member_a.pk, idempotency_key="list:a")
        theirs = coupon_issue(template_id=template.pk, member_id=alpha.member_b.pk, idempotency_key="list:b")
    connection.set_schema_to_public()
    manager = console(alpha, "manager_a").get("/coupons/").content.decode()
    assert mine.code in manager and theirs.code not in manager
    hq = console(alpha, "hq")
    by_code = hq.get("/coupons/", {"code": theirs.code.replace("-", "").lower()}).content.decode()
    assert theirs.code in by_code and mine.code not in by_code
    hq.post("/coupons/", {"code": theirs.code, "reason": "重复发放"})
    with tenant_context(alpha.tenant):
        assert Coupon.objects.get(pk=theirs.pk).status == Coupon.Status.VOID
    connection.set_schema_to_public()
    console(alpha, "manager_a").post("/coupons/", {"code": mine.code, "reason": "x"})
    with tenant_context(alpha.tenant):
        assert Coupon.objects.get(pk=mine.pk).status == Coupon.Status.ISSUED
    connection.set_schema_to_public()
