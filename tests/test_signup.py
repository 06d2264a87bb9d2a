"""Online signup: field errors for bad input, a tenant that answers at once, pool and cold paths."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django_tenants.utils import tenant_context

from huiyuan.platform.models import AuditEntry, User
from huiyuan.platform.roles import Role
from huiyuan.tenants import provisioning
from huiyuan.tenants.models import Domain, Tenant

from .conftest import World, public_api

GOOD = {
    "name": "好味道餐饮",
    "subdomain": "haoweidao",
    "owner_phone": "138 0013 8000",
    "owner_email": "Boss@HaoWeiDao.cn",
    "password": "Xiangpiao-2026",
}


def signup(lang: str = "zh-hans", **overrides: Any) -> Any:
    return public_api().post("/api/v1/signup", {**GOOD, **overrides}, format="json", HTTP_ACCEPT_LANGUAGE=lang)


def test_signup_creates_a_tenant_that_answers_and_an_owner_who_can_log_in(alpha: World) -> None:
    response = signup()
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["domain"] == "haoweidao.localhost"
    tenant = Tenant.objects.get(domains__domain="haoweidao.localhost")
    assert tenant.status == Tenant.Status.ACTIVE and tenant.name == "好味道餐饮"
    with tenant_context(tenant):
        owner = User.objects.get()
        assert owner.role == Role.OWNER
        assert owner.phone == "+8613800138000" and owner.email == "boss@haoweidao.cn"
        assert AuditEntry.objects.filter(action="platform.tenant.signup").count() == 1
    connection.set_schema_to_public()

    from rest_framework.test import APIClient

    client = APIClient(HTTP_HOST="haoweidao.localhost")
    assert client.get("/login/").status_code == 200
    login = client.post("/login/", {"username": "13800138000", "password": GOOD["password"]}, format="multipart")
    assert login.status_code == 302
    me = client.get("/api/v1/me").json()
    assert me["role"] == "owner" and me["tenant"] == "好味道餐饮"


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"subdomain": "www"}, "subdomain"),
        ({"subdomain": "admin"}, "subdomain"),
        ({"subdomain": "alpha"}, "subdomain"),  # taken by the alpha world
        ({"subdomain": "Bad_Name!"}, "subdomain"),
        ({"subdomain": "ab"}, "subdomain"),
        ({"subdomain": "-edge"}, "subdomain"),
        ({"password": "12345678"}, "password"),
        ({"password": "short1"}, "password"),
        ({"password": "onlyletters"}, "password"),
        ({"owner_phone": "12345"}, "owner_phone"),
        ({"owner_email": "not-an-email"}, "owner_email"),
        ({"owner_phone": "", "owner_email": ""}, "owner_phone"),
        ({"name": "  "}, "name"),
    ],
)
def test_signup_rejects_bad_input_with_field_errors_and_creates_nothing(
    alpha: World, overrides: dict[str, str], field: str
) -> None:
    tenants_before = Tenant.objects.count()
    response = signup(**overrides)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "VALIDATION_FAILED"
    assert field in error["fields"] and error["fields"][field][0]
    assert Tenant.objects.count() == tenants_before
    assert not Domain.objects.filter(domain="haoweidao.localhost").exists()


def test_field_errors_come_in_the_requests_language(alpha: World) -> None:
    zh = signup(lang="zh-hans", subdomain="www").json()["error"]
    en = signup(lang="en", subdomain="www").json()["error"]
    assert en["fields"]["subdomain"] == ["This address is reserved; choose another."]
    assert zh["fields"]["subdomain"] == ["该地址为系统保留，请换一个。"]
    assert en["message"] == "Some fields are invalid."
    assert zh["message"] != en["message"]


def test_default_language_is_simplified_chinese(alpha: World) -> None:
    response = public_api().post("/api/v1/signup", {**GOOD, "subdomain": "www"}, format="json")
    assert response.json()["error"]["fields"]["subdomain"] == ["该地址为系统保留，请换一个。"]


def test_signup_claims_a_pooled_schema_when_one_is_ready(alpha: World) -> None:
    provisioning.refill_pool(1)
    pooled = set(Tenant.objects.filter(status=Tenant.Status.POOL).values_list("schema_name", flat=True))
    assert pooled
    body = signup().json()
    tenant = Tenant.objects.get(pk=body["tenant_id"])
    assert tenant.schema_name in pooled


def test_signup_clones_a_schema_when_the_pool_is_empty(alpha: World) -> None:
    Tenant.objects.filter(status=Tenant.Status.POOL).update(status=Tenant.Status.SUSPENDED)
    response = signup(subdomain="coldpath")
    assert response.status_code == 201
    tenant = Tenant.objects.get(pk=response.json()["tenant_id"])
    assert tenant.status == Tenant.Status.ACTIVE
    with tenant_context(tenant):
        assert User.objects.filter(role=Role.OWNER).count() == 1
    connection.set_schema_to_public()


def test_pool_and_template_tenants_are_not_routable(alpha: World) -> None:
    provisioning.refill_pool(1)
    pooled = Tenant.objects.filter(status=Tenant.Status.POOL).first()
    assert pooled is not None
    Domain.objects.create(domain="sneaky.localhost", tenant=pooled)
    from rest_framework.test import APIClient

    assert APIClient(HTTP_HOST="sneaky.localhost").get("/login/").status_code == 404
    assert APIClient(HTTP_HOST="nobody.localhost").get("/login/").status_code == 404


@pytest.mark.slow
def test_a_burst_of_signups_with_an_empty_pool_all_succeed(committed: dict[str, World]) -> None:
    import threading

    from rest_framework.test import APIClient

    parked = list(Tenant.objects.filter(status=Tenant.Status.POOL).values_list("pk", flat=True))
    Tenant.objects.filter(pk__in=parked).update(status=Tenant.Status.SUSPENDED)
    barrier = threading.Barrier(6)
    answers: list[int] = []
    failures: list[str] = []

    def one(n: int) -> None:
        try:
            barrier.wait()
            body = {
                "name": f"并发商户{n}",
                "subdomain": f"burst{n}",
                "owner_phone": "",
                "owner_email": f"o{n}@burst.cn",
                "password": "Burst-pass-2026",
            }
            client = APIClient(HTTP_HOST="localhost")
            client.raise_request_exception = False
            answer = client.post("/api/v1/signup", body, format="json")
            answers.append(answer.status_code)
            if answer.status_code != 201:
                failures.append(answer.content.decode()[:500])
        finally:
            connection.close()

    threads = [threading.Thread(target=one, args=(n,)) for n in range(6)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(answers) == [201] * 6, failures
    finally:
        connection.set_schema_to_public()
        for tenant in Tenant.objects.filter(domains__domain__startswith="burst"):
            tenant.delete(force_drop=True)
        for tenant in Tenant.objects.filter(status=Tenant.Status.POOL).exclude(pk__in=parked):
            tenant.delete(force_drop=True)
        Tenant.objects.filter(pk__in=parked).update(status=Tenant.Status.POOL)
