"""Console pages: login, navigation by role, language switch, stores / staff / API keys / audit."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from django.db import connection
from django.test import Client
from django_tenants.utils import tenant_context

from huiyuan.members.models import Member, Store
from huiyuan.platform.models import ApiKey

from .conftest import PASSWORD, World, api


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


@pytest.mark.parametrize("path", ["/members/new/", "/fields/", "/segments/", "/imports/"])
def test_member_pages_render_in_both_languages(alpha: World, path: str) -> None:
    for lang in ("zh-hans", "en"):
        assert console(alpha, "owner", lang).get(path).status_code == 200


def test_member_profile_is_scoped_to_the_managers_store(alpha: World) -> None:
    client = console(alpha, "manager_a")
    page = client.get(f"/members/{alpha.member_a.pk}/")
    assert page.status_code == 200 and "13800000001" in page.content.decode()
    assert client.get(f"/members/{alpha.member_b.pk}/").status_code == 404
    assert "138****0001" in console(alpha, "marketing").get(f"/members/{alpha.member_a.pk}/").content.decode()


def test_enrol_and_edit_a_member_with_a_custom_field(alpha: World) -> None:
    from huiyuan.members.custom_fields import custom_field_create
    from huiyuan.members.models import Member

    with tenant_context(alpha.tenant):
        custom_field_create(
            actor=alpha.hq, label="口味", field_type="single_choice", key="taste", config={"choices": ["甜", "咸"]}
        )
    connection.set_schema_to_public()
    client = console(alpha, "manager_a")
    bad = client.post(
        "/members/new/", {"phone": "123", "name": "新客", "home_store_id": alpha.store_a.pk, "cf_taste": "辣"}
    )
    html = bad.content.decode()
    assert bad.status_code == 200 and "is-invalid" in html and "甜 / 咸" in html
    done = client.post(
        "/members/new/",
        {
            "phone": "13912345678",
            "name": "新客",
            "gender": "female",
            "home_store_id": alpha.store_a.pk,
            "cf_taste": "甜",
        },
    )
    assert done.status_code == 302
    with tenant_context(alpha.tenant):
        member = Member.objects.get(phone="+8613912345678")
        assert member.custom_fields == {"taste": "甜"} and member.home_store_id == alpha.store_a.pk
    connection.set_schema_to_public()
    edited = client.post(
        f"/members/{member.pk}/edit/",
        {
            "phone": "13912345678",
            "name": "老客",
            "gender": "female",
            "home_store_id": alpha.store_a.pk,
            "cf_taste": "咸",
        },
    )
    assert edited.status_code == 302
    profile = client.get(f"/members/{member.pk}/").content.decode()
    assert "老客" in profile and "咸" in profile


def test_import_pages_map_columns_and_show_the_outcome(alpha: World) -> None:
    import io

    from huiyuan.members.imports import import_run

    client = console(alpha, "hq")
    upload = io.BytesIO("手机号,姓名,生日\n13811112222,甲,1990-01-01\n123,乙,1990-01-01\n".encode())
    upload.name = "m.csv"
    response = client.post("/imports/", {"file": upload, "kind": "members"})
    assert response.status_code == 302
    mapping_page = client.get(response["Location"]).content.decode()
    assert 'value="phone" selected' in mapping_page and "13811112222" in mapping_page
    started = client.post(
        response["Location"],
        {"map_0": "phone", "map_1": "name", "map_2": "birthday", "upsert_by": "phone", "update_existing": "on"},
    )
    assert started.status_code == 302
    job_id = int(response["Location"].rstrip("/").split("/")[-1])
    with tenant_context(alpha.tenant):
        import_run(job_id)
    connection.set_schema_to_public()
    status = client.get(response["Location"]).content.decode()
    assert "/errors.csv" in status and "123" in status


def test_segment_page_counts_and_saves(alpha: World) -> None:
    client = console(alpha, "marketing")
    page = client.post(
        "/segments/", {"rule": '{"field": "name", "op": "contains", "value": "张"}', "action": "preview"}
    )
    assert page.status_code == 200 and "Alpha-张三" in page.content.decode()
    bad = client.post("/segments/", {"rule": '{"field": "nope", "op": "eq", "value": 1}', "action": "preview"})
    assert "rule.field" in bad.content.decode()
    client.post("/segments/", {"rule": '{"field": "city", "op": "is_empty"}', "action": "save", "name": "无城市"})
    assert "无城市" in client.get("/segments/").content.decode()


def test_fields_page_creates_renames_and_archives(alpha: World) -> None:
    from huiyuan.members.models import CustomField

    client = console(alpha, "hq")
    client.post(
        "/fields/",
        {"action": "create", "label": "爱好", "field_type": "multiple_choice", "choices": "跑步，读书", "key": ""},
    )
    with tenant_context(alpha.tenant):
        field = CustomField.objects.get(label="爱好")
        assert field.config["choices"] == ["跑步", "读书"]
    connection.set_schema_to_public()
    client.post("/fields/", {"action": "update", "field_id": field.pk, "label": "兴趣爱好", "section": "偏好"})
    client.post("/fields/", {"action": "archive", "field_id": field.pk})
    with tenant_context(alpha.tenant):
        field.refresh_from_db()
        assert field.label == "兴趣爱好" and field.section == "偏好" and field.archived_at is not None
    connection.set_schema_to_public()


def test_a_refused_action_shows_a_readable_page_not_a_server_error(alpha: World) -> None:
    from huiyuan.members.models import Tag

    with tenant_context(alpha.tenant):
        auto = Tag.objects.create(name="自动", kind="auto", rule={"field": "order_count", "op": "gt", "value": 5})
    connection.set_schema_to_public()
    page = console(alpha, "hq").post(f"/members/{alpha.member_a.pk}/tags/", {"tag": auto.pk})
    assert page.status_code == 400 and "alert" in page.content.decode()


def test_loyalty_pages_configure_and_top_up_once(alpha: World) -> None:
    from huiyuan.loyalty.models import TopUpPlan

    client = console(alpha, "owner")
    assert client.get("/loyalty/").status_code == 200
    client.post(
        "/loyalty/",
        {
            "action": "tier",
            "name": "金卡",
            "threshold_spend": "1000",
            "discount_rate": "0.95",
            "points_multiplier": "1.5",
        },
    )
    client.post("/loyalty/", {"action": "plan", "name": "充100送10", "pay": "100", "bonus": "10"})
    bad = client.post("/loyalty/", {"action": "coupon", "name": "", "kind": "threshold"})
    assert "is-invalid" in bad.content.decode()
    with tenant_context(alpha.tenant):
        plan = TopUpPlan.objects.get(name="充100送10")
    connection.set_schema_to_public()
    manager = console(alpha, "manager_a")
    page = manager.get(f"/members/{alpha.member_a.pk}/ledger/").content.decode()
    key = re.search(r'name="request_key" value="([0-9a-f]+)"', page).group(1)  # type: ignore[union-attr]
    for _ in range(2):  # a double click
        manager.post(f"/members/{alpha.member_a.pk}/topup/", {"plan": plan.pk, "request_key": key})
    ledger = manager.get(f"/members/{alpha.member_a.pk}/ledger/").content.decode()
    assert "¥100.00 + ¥10.00" in ledger
    assert manager.get(f"/members/{alpha.member_b.pk}/ledger/").status_code == 404


def test_loyalty_page_edits_settings_rules_tiers_plans_and_templates(alpha: World) -> None:
    from huiyuan.loyalty.ledger import loyalty_settings
    from huiyuan.loyalty.models import EarnRule, Tier, TopUpPlan

    client = console(alpha, "hq")
    saved = client.post(
        "/loyalty/",
        {"action": "settings", "points_per_yuan": "2", "points_rounding": "up", "excluded_categories": "烟酒，礼品卡",
         "points_expiry": "end_of_year", "points_expiry_months": "12", "points_per_yuan_redeemed": "100",
         "max_points_share": "0.3", "bonus_use": "last", "tier_grace_days": "30", "expiry_reminder_days": "10"},
    )  # fmt: skip
    assert saved.status_code == 302
    bad = client.post("/loyalty/", {"action": "settings", "points_per_yuan": "two", "max_points_share": "3"})
    page = bad.content.decode()
    assert bad.status_code == 200 and page.count("is-invalid") == 2 and 'value="two"' in page  # typed value kept
    client.post("/loyalty/", {"action": "tier", "name": "银卡", "threshold_spend": "500"})
    with tenant_context(alpha.tenant):
        settings = loyalty_settings()
        assert (settings.points_per_yuan, settings.excluded_categories) == (2, ["烟酒", "礼品卡"])
        assert settings.expiry_reminder_days == 10
        tier = Tier.objects.get(name="银卡")
    connection.set_schema_to_public()
    client.post("/loyalty/", {"action": "rule", "kind": "tier", "match_tier": str(tier.pk), "multiplier": "1.5"})
    client.post(
        "/loyalty/",
        {"action": "tier", "id": str(tier.pk), "name": "银卡", "threshold_spend": "800", "discount_rate": "0.98"},
    )
    with tenant_context(alpha.tenant):
        rule = EarnRule.objects.get(kind="tier")
        assert rule.match == str(tier.pk) and rule.multiplier == Decimal("1.5")
        assert Tier.objects.get(pk=tier.pk).threshold_spend == 800
    connection.set_schema_to_public()
    client.post("/loyalty/", {"action": "rule_toggle", "id": str(rule.pk), "active": "0"})
    client.post("/loyalty/", {"action": "plan", "name": "充500送50", "pay": "500", "bonus": "50"})
    with tenant_context(alpha.tenant):
        plan = TopUpPlan.objects.get(name="充500送50")
    connection.set_schema_to_public()
    client.post("/loyalty/", {"action": "plan_toggle", "id": str(plan.pk), "active": "0"})
    with tenant_context(alpha.tenant):
        assert not EarnRule.objects.get(pk=rule.pk).active and not TopUpPlan.objects.get(pk=plan.pk).active
    connection.set_schema_to_public()
    assert client.post("/loyalty/", {"action": "nonsense"}).status_code == 404
    assert console(alpha, "manager_a").get("/loyalty/").status_code in (302, 403)


def test_points_adjustment_waits_for_approval_in_the_console(alpha: World) -> None:
    from huiyuan.loyalty.models import PointsAdjustment

    manager = console(alpha, "manager_a")
    ledger = f"/members/{alpha.member_a.pk}/ledger/"
    manager.post(f"/members/{alpha.member_a.pk}/adjust/", {"amount": "50", "reason": "补偿", "request_key": "1"})
    manager.post(f"/members/{alpha.member_a.pk}/adjust/", {"amount": "5000", "reason": "活动", "request_key": "2"})
    bad = manager.post(f"/members/{alpha.member_a.pk}/adjust/", {"amount": "x", "reason": "", "request_key": "3"})
    assert bad.status_code == 302
    page = manager.get(ledger).content.decode()
    assert "补偿" in page and "活动" in page
    hq = console(alpha, "hq")
    loyalty = hq.get("/loyalty/").content.decode()
    assert "活动" in loyalty and "补偿" not in loyalty  # only the waiting one
    with tenant_context(alpha.tenant):
        pending = PointsAdjustment.objects.get(reason="活动")
    connection.set_schema_to_public()
    hq.post(f"/loyalty/adjustments/{pending.pk}/", {"decision": "approve"})
    with tenant_context(alpha.tenant):
        assert Member.objects.get(pk=alpha.member_a.pk).points_balance == 5050
    connection.set_schema_to_public()


def test_member_ledger_offers_only_what_the_staff_member_may_do(alpha: World) -> None:
    ledger = f"/members/{alpha.member_a.pk}/ledger/"
    service = console(alpha, "service").get(ledger).content.decode()
    assert "/adjust/" not in service and "/exchange/" not in service  # customer service reads only
    manager = console(alpha, "manager_a").get(ledger).content.decode()
    assert "/adjust/" in manager


def test_the_roles_page_says_why_each_role_has_what_it_has(alpha: World) -> None:
    page = api(alpha, "hq").get("/roles/").content.decode()
    assert "收银" in page and "从不查看完整手机号" in page
