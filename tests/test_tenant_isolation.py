"""Two tenants with identical primary keys never see each other's rows."""

from __future__ import annotations

from django.core.cache import cache
from django.db import connection
from django_tenants.utils import tenant_context

from huiyuan.members.models import Member

from .conftest import World, api


def test_worlds_really_share_primary_keys(alpha: World, beta: World) -> None:
    assert alpha.member_a.pk == beta.member_a.pk
    assert alpha.store_a.pk == beta.store_a.pk
    assert alpha.owner.pk == beta.owner.pk


def test_api_detail_returns_own_tenants_row_for_the_same_id(alpha: World, beta: World) -> None:
    member_id = alpha.member_a.pk
    a = api(alpha, "owner").get(f"/api/v1/members/{member_id}")
    b = api(beta, "owner").get(f"/api/v1/members/{member_id}")
    assert a.status_code == b.status_code == 200
    assert a.json()["name"] == "Alpha-张三"
    assert b.json()["name"] == "Beta-张三"


def test_api_list_contains_only_own_tenants_members(alpha: World, beta: World) -> None:
    names = {m["name"] for m in api(alpha, "owner").get("/api/v1/members").json()["results"]}
    assert names == {"Alpha-张三", "Alpha-李四"}


def test_foreign_id_answers_404(alpha: World, beta: World) -> None:
    with tenant_context(beta.tenant):
        only_in_beta = Member.objects.create(name="Beta-only", phone="+8613900000009", card_no="B-9")
    response = api(alpha, "owner").get(f"/api/v1/members/{only_in_beta.pk}")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "NOT_FOUND"


def test_session_of_one_tenant_is_not_valid_on_another(alpha: World, beta: World) -> None:
    client = api(alpha, "owner")
    client.defaults["HTTP_HOST"] = beta.host  # same cookie, other merchant's host
    assert client.get("/api/v1/members").status_code in (401, 403)


def test_orm_iterator_reads_only_the_current_schema(alpha: World, beta: World) -> None:
    with tenant_context(alpha.tenant):
        alpha_names = [m.name for m in Member.objects.order_by("pk").iterator(chunk_size=1)]
    with tenant_context(beta.tenant):
        beta_names = [m.name for m in Member.objects.order_by("pk").iterator(chunk_size=1)]
    assert alpha_names == ["Alpha-张三", "Alpha-李四"]
    assert beta_names == ["Beta-张三", "Beta-李四"]


def test_cache_keys_are_tenant_prefixed(alpha: World, beta: World) -> None:
    with tenant_context(alpha.tenant):
        cache.set("member:1:name", "alpha value", 30)
    with tenant_context(beta.tenant):
        assert cache.get("member:1:name") is None
        cache.set("member:1:name", "beta value", 30)
    with tenant_context(alpha.tenant):
        assert cache.get("member:1:name") == "alpha value"
    connection.set_schema_to_public()
