"""The smaller holes the security review found, each closed."""

from __future__ import annotations

from typing import Any

from django_tenants.utils import tenant_context

from huiyuan.loyalty.models import PointsAdjustment
from huiyuan.members.imports import import_upload
from huiyuan.platform.models import ApiKey

from .conftest import World, api


def test_an_api_key_for_an_unknown_store_is_refused_not_widened(alpha: World) -> None:
    client = api(alpha, "hq")
    body = {"name": "POS B", "scopes": ["loyalty.order.create"]}
    unknown = client.post("/api/v1/api-keys", {**body, "store": 99999}, format="json")
    assert unknown.status_code == 400 and "store" in unknown.json()["error"]["fields"]
    misspelt = client.post("/api/v1/api-keys", {**body, "stor_id": alpha.store_b.pk}, format="json")
    assert misspelt.status_code == 400 and "stor_id" in misspelt.json()["error"]["fields"]
    bound = client.post("/api/v1/api-keys", {**body, "store": alpha.store_b.pk}, format="json")
    assert bound.status_code == 201
    with tenant_context(alpha.tenant):
        assert ApiKey.objects.get(pk=bound.json()["api_key"]["id"]).store_id == alpha.store_b.pk


def test_idempotency_keys_of_ledger_writes_belong_to_the_caller(alpha: World) -> None:
    path = f"/api/v1/members/{alpha.member_a.pk}/points-adjustments"
    first = api(alpha, "hq").post(path, {"amount": 10, "reason": "补录"}, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    other = api(alpha, "owner").post(path, {"amount": 20, "reason": "活动"}, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert first.status_code == other.status_code == 201
    assert first.json()["id"] != other.json()["id"] and other.json()["amount"] == 20
    with tenant_context(alpha.tenant):
        assert PointsAdjustment.objects.filter(member_id=alpha.member_a.pk).count() == 2


def test_a_store_manager_cannot_move_a_member_out_of_every_store(alpha: World) -> None:
    client = api(alpha, "manager_a")
    path = f"/api/v1/members/{alpha.member_a.pk}"
    nowhere = client.patch(path, {"home_store_id": None}, format="json")
    assert nowhere.status_code == 400 and "home_store" in nowhere.json()["error"]["fields"]
    elsewhere = client.patch(path, {"home_store_id": alpha.store_b.pk}, format="json")
    assert elsewhere.status_code == 400
    assert api(alpha, "hq").patch(path, {"home_store_id": alpha.store_b.pk}, format="json").status_code == 200


def test_orders_with_a_malformed_member_or_an_absurd_time_are_refused(alpha: World) -> None:
    client = api(alpha, "hq")
    base = {"order_no": "ODD-1", "store": "A001", "paid_amount": "10.00"}
    for extra, field in (
        ({"member": "abc"}, "member"),
        ({"paid_at": 123}, "paid_at"),
        ({"paid_at": "1900-01-01 12:00"}, "paid_at"),
        ({"paid_at": "2099-01-01 12:00"}, "paid_at"),
    ):
        answer = client.post("/api/v1/orders", {**base, **extra}, format="json")
        assert answer.status_code == 400, (extra, answer.json())
        assert field in answer.json()["error"]["fields"], (extra, answer.json())


def test_store_staff_see_only_their_own_imports(alpha: World) -> None:
    with tenant_context(alpha.tenant):
        hq_job = import_upload(
            actor=alpha.hq, filename="hq-all-members.csv", content="手机号,姓名\n13800000077,甲\n".encode()
        )
        mine = import_upload(
            actor=alpha.manager_a, filename="store-a.csv", content="手机号,姓名\n13800000078,乙\n".encode()
        )
    page = api(alpha, "manager_a").get("/imports/").content.decode()
    assert "store-a.csv" in page and "hq-all-members.csv" not in page
    assert api(alpha, "manager_a").get(f"/api/v1/imports/{hq_job.pk}").status_code == 404
    assert api(alpha, "hq").get(f"/api/v1/imports/{mine.pk}").status_code == 200


def test_the_roles_page_says_what_each_role_may_do_and_why(alpha: Any) -> None:
    page = api(alpha, "hq").get("/roles/").content.decode()
    assert "收银" in page and "预览会员分群" in page
