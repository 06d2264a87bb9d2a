"""The console in a real browser (Debian's Chromium through Playwright), in Chinese, as each role
uses it: a cashier sells with points and a coupon and refunds the sale; a store manager finds a
member by pinyin initials and sees only their store; HQ builds a segment by picking and tags its
members; HQ designs a field and the cashier sees it on the enrolment form; no page scrolls
sideways on a phone. Screenshots are kept under artifacts/screenshots."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from io import BytesIO
from pathlib import Path
from typing import Any

import pytest
from django.db import connection, connections
from django_tenants.utils import tenant_context

from huiyuan.loyalty.coupons import coupon_issue
from huiyuan.loyalty.ledger import points_earn
from huiyuan.loyalty.models import Coupon, CouponTemplate, PointsEntry
from huiyuan.members.models import CustomField, Member, MemberTag, Order, Tag
from huiyuan.members.pinyin import pinyin_refresh

from .conftest import World
from .support.browser import login, sideways_overflow
from .support.pages import menu_pages

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def echo(worlds: dict[str, World], django_db_blocker: Any) -> Iterator[World]:
    """A merchant of these tests' own: the browser's requests commit."""
    from .conftest import _build_world

    with django_db_blocker.unblock():
        world = _build_world("echo", "Echo")
        with tenant_context(world.tenant):
            Member.objects.filter(pk=world.member_b.pk).update(name="王小明")
            extra = Member.objects.bulk_create(
                [
                    Member(
                        phone="+8613900000011", card_no="E-11", name="张三丰", home_store=world.store_a, city="杭州"
                    ),
                    Member(phone="+8613900000012", card_no="E-12", name="赵四", home_store=world.store_b, city="杭州"),
                    Member(phone="+8613900000013", card_no="E-13", name="周杉", home_store=world.store_a, city="上海"),
                ]
            )
            pinyin_refresh([world.member_a.pk, world.member_b.pk, *(m.pk for m in extra)])
        connection.set_schema_to_public()
        yield world
        connections.close_all()


def _base(server: str, world: World) -> str:
    return f"http://{world.host}:{server.rsplit(':', 1)[1]}"


def test_a_cashier_sells_with_points_and_a_coupon_then_refunds_the_sale(
    browser: Any, server: str, echo: World, django_db_blocker: Any, shots: Path
) -> None:
    with django_db_blocker.unblock(), tenant_context(echo.tenant):
        template = CouponTemplate.objects.create(name="满减十元", kind="fixed", amount_off=10, valid_days=30)
        coupon = coupon_issue(template_id=template.pk, member_id=echo.member_b.pk, idempotency_key="till:coupon")
        points_earn(member_id=echo.member_b.pk, amount=1000, idempotency_key="till:points", cause="staff")
    connection.set_schema_to_public()
    context = browser.new_context(locale="zh-CN", viewport={"width": 768, "height": 1000})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    login(page, server, echo, "cashier_b")
    page.goto(f"{_base(server, echo)}/cashier/")
    # A scanner types the phone and presses Enter into the focused search box.
    page.keyboard.type("13800000002")
    page.keyboard.press("Enter")
    page.wait_for_selector("#member-card:not([hidden])")
    assert page.inner_text("#m-name") == "王小明" and page.inner_text("#m-points") == "1000"
    page.fill("#quick-amount", "100")
    page.wait_for_function("document.querySelectorAll('#coupon option').length > 1")
    page.select_option("#coupon", coupon.code)
    page.fill("#points", "500")  # 100 points a yuan: ¥5
    page.wait_for_function("document.querySelector('#summary').innerText.includes('85.00')")
    summary = page.inner_text("#summary")
    assert "优惠券" in summary and "积分抵扣" in summary, summary
    page.screenshot(path=str(shots / "till-768.png"), full_page=True)
    page.click("#pay")
    page.wait_for_selector("#receipt:not([hidden])")
    assert "收款成功" in page.inner_text("#receipt-title")
    page.screenshot(path=str(shots / "till-receipt-768.png"), full_page=True)
    with django_db_blocker.unblock(), tenant_context(echo.tenant):
        order = Order.objects.get(member=echo.member_b)
        assert order.paid_amount == Decimal("85.00") and order.benefits["points_used"] == 500
        assert Coupon.objects.get(pk=coupon.pk).status == Coupon.Status.REDEEMED
        balance_after_sale = Member.objects.get(pk=echo.member_b.pk).points_balance
    connection.set_schema_to_public()

    page.click("#receipt-order")
    page.wait_for_selector("#refund-amount")
    assert page.input_value("#refund-amount") == "85.00"
    page.fill("#refund-reason", "顾客退货")
    page.click("form button.btn-danger")
    page.wait_for_selector(".alert-success")
    assert "已退款" in page.inner_text(".alert-success")
    page.screenshot(path=str(shots / "order-refunded-768.png"), full_page=True)
    with django_db_blocker.unblock(), tenant_context(echo.tenant):
        order.refresh_from_db()
        assert order.status == Order.Status.REFUNDED
        member = Member.objects.get(pk=echo.member_b.pk)
        # The 500 points used come back and the points the sale earned are taken back.
        assert member.points_balance == balance_after_sale + 500 - order.benefits["points_earned"]
        assert PointsEntry.objects.filter(cause_id=order.order_no, cause="refund").count() == 2
    connection.set_schema_to_public()
    assert errors == []
    context.close()


def test_a_store_manager_finds_a_member_by_pinyin_initials_in_their_own_store_only(
    browser: Any, server: str, echo: World, shots: Path
) -> None:
    context = browser.new_context(locale="zh-CN", viewport={"width": 375, "height": 800})
    page = context.new_page()
    login(page, server, echo, "manager_a")
    page.goto(f"{_base(server, echo)}/members/?q=zs")
    table = page.inner_text("#member-table")
    page.screenshot(path=str(shots / "members-pinyin-375.png"), full_page=True)
    assert "张三丰" in table and "Echo-张三" in table  # both of store A's Z… S… members
    assert "赵四" not in table  # initials zs as well, but a member of store B
    assert sideways_overflow(page) <= 0
    page.goto(f"{_base(server, echo)}/members/?q=zhangsan")
    assert "张三丰" in page.inner_text("#member-table") and "周杉" not in page.inner_text("#member-table")
    context.close()


def test_hq_builds_a_segment_by_picking_and_tags_its_members(
    browser: Any, server: str, echo: World, django_db_blocker: Any, shots: Path
) -> None:
    with django_db_blocker.unblock(), tenant_context(echo.tenant):
        Tag.objects.create(name="杭州老客")
    connection.set_schema_to_public()
    context = browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    login(page, server, echo, "hq")
    page.goto(f"{_base(server, echo)}/segments/")
    row = page.locator(".condition-row").first
    row.locator(".cond-field").select_option("city")
    row.locator(".cond-value").fill("杭州")
    page.wait_for_function("document.querySelector('#live-count').textContent.includes('2')")
    page.screenshot(path=str(shots / "segment-builder-1280.png"), full_page=True)
    page.fill("#segment-name", "杭州会员")
    page.select_option("#tag-target", label="杭州老客")
    page.click("button[name=action][value=tag]")
    page.wait_for_selector(".alert-success")
    with django_db_blocker.unblock(), tenant_context(echo.tenant):
        tagged = set(MemberTag.objects.filter(tag__name="杭州老客").values_list("member__name", flat=True))
        assert tagged == {"张三丰", "赵四"}
    connection.set_schema_to_public()
    assert errors == []
    context.close()


def test_a_field_designed_by_hq_appears_on_the_cashiers_enrolment_form(
    browser: Any, server: str, echo: World, django_db_blocker: Any, shots: Path
) -> None:
    context = browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    login(page, server, echo, "hq")
    base = _base(server, echo)
    page.goto(f"{base}/fields/")
    page.fill("#label", "口味偏好")
    page.select_option("#field_type", "single_choice")
    page.fill("#choices", "清淡, 微辣, 特辣")
    page.fill("#section", "偏好")
    page.click("form button:has-text('添加字段')")
    page.wait_for_selector(".alert-success")
    page.fill("#label", "内部评级")
    page.check("#new-role-hq_admin")
    page.click("form button:has-text('添加字段')")
    page.wait_for_selector(".alert-success")
    # Drag the internal rating above the taste field, into the 偏好 section.
    page.drag_and_drop(".field-card:has-text('内部评级')", ".field-card:has-text('口味偏好')")
    page.wait_for_function("document.querySelector('#layout-status').textContent.includes('布局已保存')")
    page.wait_for_function("document.querySelector('#preview').innerText.includes('口味偏好')")
    assert "内部评级" not in page.inner_text("#preview")  # previewed as a cashier
    page.screenshot(path=str(shots / "form-designer-1280.png"), full_page=True)
    with django_db_blocker.unblock(), tenant_context(echo.tenant):
        fields = list(CustomField.objects.filter(archived_at__isnull=True).values_list("label", "section"))
        assert fields == [("内部评级", "偏好"), ("口味偏好", "偏好")]
    connection.set_schema_to_public()
    context.close()

    cashier = browser.new_context(locale="zh-CN", viewport={"width": 375, "height": 900})
    page = cashier.new_page()
    login(page, server, echo, "cashier_b")
    page.goto(f"{base}/cashier/")
    page.click("#enrol-link")
    page.wait_for_selector("#phone")
    form = page.inner_text("main")
    page.screenshot(path=str(shots / "cashier-enrol-375.png"), full_page=True)
    assert "口味偏好" in form and "偏好" in form and "内部评级" not in form
    assert sideways_overflow(page) <= 0
    assert errors == []
    cashier.close()


# Beyond the menu: the pages a role reaches from it that are most likely to overflow.
SUB_PAGES = [
    "/automation/settings/",
    "/automation/messages/",
    "/automation/flows/",
    "/integrations/webhooks/",
    "/deliveries/",
]
PHONE_EXTRA_PAGES = {"hq": SUB_PAGES, "manager_a": [], "cashier_b": ["/members/new/"]}


@pytest.mark.parametrize("persona", sorted(PHONE_EXTRA_PAGES))
def test_no_page_scrolls_sideways_on_a_phone(browser: Any, server: str, echo: World, shots: Path, persona: str) -> None:
    context = browser.new_context(locale="zh-CN", viewport={"width": 375, "height": 800})
    page = context.new_page()
    login(page, server, echo, persona)
    wide = {}
    for path in [*menu_pages(echo, persona), *PHONE_EXTRA_PAGES[persona]]:
        page.goto(f"{_base(server, echo)}{path}")
        overflow = sideways_overflow(page)
        if overflow > 0:
            wide[path] = overflow
            page.screenshot(path=str(shots / f"too-wide-{persona}{path.replace('/', '_')}375.png"), full_page=True)
    page.goto(f"{_base(server, echo)}/")
    page.screenshot(path=str(shots / f"home-{persona}-375.png"), full_page=True)
    assert wide == {}, f"pages that scroll sideways at 375 px: {wide}"
    context.close()


def test_hq_composes_a_dashboard_by_drag_and_drop_and_exports_a_report(
    browser: Any, server: str, echo: World, django_db_blocker: Any, shots: Path
) -> None:
    from openpyxl import load_workbook

    from huiyuan.reports.models import Dashboard

    context = browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 1000}, accept_downloads=True)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    login(page, server, echo, "hq")
    base = _base(server, echo)
    page.goto(f"{base}/reports/?report=tier_mix")
    page.click("form[aria-label] button[type=submit]")
    page.wait_for_selector("#report-result .report-chart canvas")
    with page.expect_download() as download:
        page.click("text=导出 XLSX")
    sheet = load_workbook(BytesIO(Path(download.value.path()).read_bytes()), read_only=True).active
    rows = list(sheet.iter_rows(values_only=True))
    with django_db_blocker.unblock(), tenant_context(echo.tenant):
        assert rows[0][:2] == ("等级", "会员") and sum(r[1] for r in rows[1:]) == Member.objects.count()
    connection.set_schema_to_public()
    page.fill("input[name=name][aria-label]", "周会看板")
    page.click('button:has-text("加入看板")')
    page.wait_for_url("**/dashboards/*/")
    page.click("text=调整布局")
    page.select_option("#dash-add", "kpis")
    page.wait_for_selector(".widget:nth-child(2) [data-kpi=members]")
    page.drag_and_drop(".widget:nth-child(2)", ".widget:nth-child(1)", target_position={"x": 20, "y": 20})
    page.screenshot(path=str(shots / "dashboard-arrange-1280.png"), full_page=True)
    page.select_option("#dash-share", "store_manager")
    page.click("#dash-form button[type=submit]:not([value=delete])")
    page.wait_for_selector(".alert-success")
    with django_db_blocker.unblock(), tenant_context(echo.tenant):
        dashboard = Dashboard.objects.get(name="周会看板")
        assert [w["report"] for w in dashboard.widgets] == ["kpis", "tier_mix"]
        assert dashboard.shared_role == "store_manager"
        mine = Member.objects.filter(home_store=echo.store_a).count()
    connection.set_schema_to_public()
    assert errors == []
    context.close()

    manager = browser.new_context(locale="zh-CN", viewport={"width": 375, "height": 900})
    page = manager.new_page()
    login(page, server, echo, "manager_a")
    page.goto(f"{base}/dashboards/{dashboard.pk}/")
    page.wait_for_selector("[data-kpi=members]")
    assert page.inner_text("[data-kpi=members]") == str(mine)  # their store only
    page.screenshot(path=str(shots / "dashboard-manager-375.png"), full_page=True)
    assert sideways_overflow(page) <= 0
    manager.close()
