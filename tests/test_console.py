"""Console pages: login, navigation by role, language switch, stores / staff / API keys / audit."""

from __future__ import annotations

import re

import pytest
from django.db import connection
from django.test import Client
from django_tenants.utils import tenant_context

from huiyuan.members.models import Store
from huiyuan.platform.models import ApiKey

from .conftest import PASSWORD, World


def console(world: World, persona: str | None = None, lang: str = "zh-hans") -> Client:
    client = Client(HTTP_HOST=world.host, HTTP_ACCEPT_LANGUAGE=lang)
    if persona:
        with tenant_context(world.tenant):
            client.force_login(world.persona(persona), backend="huiyuan.platform.auth.StaffLoginBackend")
        connection.set_schema_to_public()
    return client


def test_login_page_logs_in_with_username_and_rejects_wrong_password(alpha: World) -> None:
    client = console(alpha)
    assert client.get("/").status_code == 302  # to the login page
    wrong = client.post("/login/", {"username": "hq", "password": "nope"})
    assert wrong.status_code == 200 and "alert-danger" in wrong.content.decode()
    right = client.post("/login/", {"username": "hq", "password": PASSWORD})
    assert right.status_code == 302
    assert client.get("/").status_code == 200


def test_navigation_follows_the_role(alpha: World) -> None:
    owner = console(alpha, "owner").get("/").content.decode()
    cashier = console(alpha, "cashier_b").get("/").content.decode()
    for link in ("/stores/", "/staff/", "/api-keys/", "/audit/"):
        assert f'href="{link}"' in owner
    assert 'href="/members/"' in cashier
    for link in ("/staff/", "/api-keys/", "/audit/"):
        assert f'href="{link}"' not in cashier
    assert console(alpha, "cashier_b").get("/audit/").status_code == 403


def test_language_switch_changes_the_console_language(alpha: World) -> None:
    client = console(alpha, "owner")
    assert "门店" in client.get("/stores/").content.decode()
    client.post("/i18n/setlang/", {"language": "en", "next": "/stores/"})
    page = client.get("/stores/").content.decode()
    assert "Stores" in page and "New store" in page


def test_store_manager_sees_only_their_store_on_the_members_page(alpha: World) -> None:
    page = console(alpha, "manager_a").get("/members/").content.decode()
    assert "Alpha-张三" in page and "Alpha-李四" not in page


def test_store_form_shows_field_errors_and_keeps_input(alpha: World) -> None:
    client = console(alpha, "hq")
    page = client.post("/stores/new/", {"code": "A001", "name": "重复的店", "status": "open"})
    html = page.content.decode()
    assert page.status_code == 200 and "is-invalid" in html and 'value="重复的店"' in html
    done = client.post("/stores/new/", {"code": "S-9", "name": "新开的店", "status": "open"})
    assert done.status_code == 302
    with tenant_context(alpha.tenant):
        assert Store.objects.filter(code="S-9", name="新开的店").exists()
    connection.set_schema_to_public()


def test_staff_invite_page_shows_a_one_time_link(alpha: World) -> None:
    page = console(alpha, "owner").post(
        "/staff/invite/", {"name": "孙八", "role": "cashier", "phone": "13711112222", "stores": [alpha.store_a.pk]}
    )
    assert page.status_code == 200
    assert re.search(r"/invite/[\w-]{20,}", page.content.decode())


def test_api_key_page_shows_the_token_once(alpha: World) -> None:
    client = console(alpha, "owner")
    page = client.post("/api-keys/", {"name": "收银台1", "scopes": ["members.member.view"]})
    token = re.search(r"hy_[0-9a-f]{8}_[\w-]+", page.content.decode())
    assert token
    listing = client.get("/api-keys/").content.decode()
    assert token.group(0) not in listing and "收银台1" in listing
    with tenant_context(alpha.tenant):
        key = ApiKey.objects.get(name="收银台1")
    connection.set_schema_to_public()
    client.post(f"/api-keys/{key.pk}/revoke/")
    with tenant_context(alpha.tenant):
        key.refresh_from_db()
        assert key.revoked_at is not None
    connection.set_schema_to_public()


@pytest.mark.parametrize("path", ["/", "/members/", "/stores/", "/staff/", "/roles/", "/api-keys/", "/audit/"])
def test_every_page_renders_for_the_owner_in_both_languages(alpha: World, path: str) -> None:
    for lang in ("zh-hans", "en"):
        response = console(alpha, "owner", lang).get(path)
        assert response.status_code == 200
        html = response.content.decode()
        assert 'name="viewport"' in html and "/static/vendor/bootstrap/" in html
        assert "cdn." not in html


def test_public_signup_page_creates_a_merchant(alpha: World) -> None:
    client = Client(HTTP_HOST="localhost")
    page = client.post(
        "/", {"name": "美发沙龙", "subdomain": "salon", "owner_phone": "13600001111", "password": "Salon-2026x"}
    )
    assert page.status_code == 200 and "salon.localhost" in page.content.decode()
