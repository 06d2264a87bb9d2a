"""The automation console in a real browser (Debian's Chromium through Playwright), as marketing
staff in Chinese: switch on a rule from a template, change its condition in the editor, dry-run it,
then start a campaign with a hold-out group from a segment. Screenshots land in the pytest tmp dir.

Chromium comes from the distribution (``apt-get install chromium fonts-noto-cjk``); CI installs it.
Without it these tests are skipped with that reason, unless HUIYUAN_REQUIRE_BROWSER=1 (CI) makes the
absence a failure."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.db import connection, connections
from django_tenants.utils import tenant_context

from huiyuan.automation.models import Campaign, CampaignMember, Rule
from huiyuan.loyalty.models import CouponTemplate
from huiyuan.members.models import Member, Segment

from .conftest import World
from .support.browser import login as _login

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def delta(worlds: dict[str, World], django_db_blocker: Any) -> Iterator[World]:
    """A merchant of these tests' own: the browser's requests commit."""
    from .conftest import _build_world

    with django_db_blocker.unblock():
        world = _build_world("delta", "Delta")
        with tenant_context(world.tenant):
            CouponTemplate.objects.create(name="回归礼券", kind="fixed", amount_off=20, valid_days=14)
            Member.objects.filter(pk=world.member_a.pk).update(
                m_score=3, order_count=4, total_spend=800, last_purchase_at="2026-01-05T12:00:00+08:00"
            )
            Member.objects.bulk_create(
                Member(phone=f"+86136000{i:05d}", card_no=f"D{i}", name=f"杭州客{i}", city="杭州") for i in range(40)
            )
            Segment.objects.create(name="杭州会员", rule={"field": "city", "op": "eq", "value": "杭州"})
        connection.set_schema_to_public()
        yield world
        connections.close_all()


def _playwright_timeout() -> type[Exception]:
    from playwright.sync_api import TimeoutError as timeout_error

    return timeout_error


def test_marketing_builds_a_rule_from_a_template_and_starts_a_campaign(
    browser: Any, server: str, delta: World, django_db_blocker: Any, tmp_path: Path
) -> None:
    context = browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    port = server.rsplit(":", 1)[1]
    base = f"http://{delta.host}:{port}"
    _login(page, server, delta, "marketing")

    page.goto(f"{base}/automation/")
    assert "高价值会员召回" in page.content()  # the gallery reads in Chinese
    page.click("button[data-template=win_back]")
    page.wait_for_url("**/automation/rules/*/")
    page.screenshot(path=str(tmp_path / "rule.png"), full_page=True)
    # The condition builder offers the operators of a number field, in Chinese.
    row = page.locator(".condition-row").first
    assert row.locator(".cond-field").input_value() == "m_score"
    assert "至少" in row.locator(".cond-op").inner_text()
    row.locator(".cond-value").fill("3")
    PlaywrightTimeout = _playwright_timeout()  # noqa: N806
    try:  # the count for the new value replaces the one for the old
        page.wait_for_function("document.querySelector('#live-count').textContent.includes('当前有 1 位会员符合')")
    except PlaywrightTimeout:
        pytest.fail(f"the live count says {page.inner_text('#live-count')!r}")
    page.click("button[name=do][value=dry_run]")
    page.wait_for_selector("#dry-run")
    assert "当前将触达 1 位会员" in page.inner_text("#dry-run")
    page.click("button[name=do][value=save]")
    page.wait_for_selector(".alert-success")
    with django_db_blocker.unblock(), tenant_context(delta.tenant):
        rule = Rule.objects.get(template_key="win_back")
        assert rule.version is not None and rule.version.number == 2
        assert rule.version.conditions["member"]["value"] == "3"
    connection.set_schema_to_public()

    page.goto(f"{base}/segments/")
    page.click("main >> text=营销活动")
    page.fill("#c-name", "杭州回馈")
    page.fill("#c-holdout", "25")
    page.locator(".action-block .action-type").first.select_option("issue_coupon")
    page.click("button[name=do][value=preview]")
    page.wait_for_load_state()
    page.screenshot(path=str(tmp_path / "campaign-preview.png"), full_page=True)
    page.wait_for_selector("#campaign-preview")
    assert "人群共 40 位会员" in page.inner_text("#campaign-preview")
    page.screenshot(path=str(tmp_path / "campaign.png"), full_page=True)
    page.click("button[name=do][value=confirm]")
    page.wait_for_selector(".alert-success")
    with django_db_blocker.unblock(), tenant_context(delta.tenant):
        campaign = Campaign.objects.get(name="杭州回馈")
        held = CampaignMember.objects.filter(campaign=campaign, holdout=True).count()
        assert held == campaign.held_out > 0 and campaign.reached + held == 40
    connection.set_schema_to_public()
    assert errors == []
    context.close()


@pytest.mark.parametrize("width", [375, 768])
def test_the_rule_editor_fits_a_phone_and_a_tablet(
    browser: Any, server: str, delta: World, tmp_path: Path, width: int
) -> None:
    context = browser.new_context(locale="zh-CN", viewport={"width": width, "height": 900})
    page = context.new_page()
    _login(page, server, delta, "hq")
    page.goto(f"http://{delta.host}:{server.rsplit(':', 1)[1]}/automation/rules/new/")
    page.screenshot(path=str(tmp_path / f"editor-{width}.png"), full_page=True)
    overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 0, f"the page scrolls sideways by {overflow}px at {width}px"
    context.close()


def test_a_store_manager_reads_a_task_on_a_phone_without_sideways_scrolling(
    browser: Any, server: str, delta: World, django_db_blocker: Any, tmp_path: Path
) -> None:
    from huiyuan.automation import workflow

    with django_db_blocker.unblock(), tenant_context(delta.tenant):
        care = workflow.task_types_ensure().get(key="care")
        task = workflow.task_create(actor=delta.service, type_id=care.pk, title="回访张三", member_id=delta.member_a.pk)
    connection.set_schema_to_public()
    context = browser.new_context(locale="zh-CN", viewport={"width": 375, "height": 900})
    page = context.new_page()
    _login(page, server, delta, "manager_a")
    page.goto(f"http://{delta.host}:{server.rsplit(':', 1)[1]}/tasks/{task.pk}/")
    page.screenshot(path=str(tmp_path / "task-375.png"), full_page=True)
    assert "店长" in page.inner_text("main")  # who it is for, in words
    overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 0, f"the task page scrolls sideways by {overflow}px on a phone"
    context.close()
