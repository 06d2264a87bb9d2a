"""The automation console as staff use it: switch a template on, change its condition in the
editor (pickers, no JSON), dry-run it, start a campaign with a hold-out from a segment, work a task."""

from __future__ import annotations

from django.test import Client
from django_tenants.utils import tenant_context

from huiyuan.automation.models import Campaign, CampaignMember, Rule, Task
from huiyuan.automation.workflow import task_types_ensure
from huiyuan.loyalty.models import CouponTemplate
from huiyuan.members.models import Member, Segment

from .conftest import World
from .test_automation import at


def console(world: World, persona: str) -> Client:
    client = Client(HTTP_HOST=world.host)
    with tenant_context(world.tenant):
        client.force_login(world.persona(persona), backend="huiyuan.platform.auth.StaffLoginBackend")
    return client


def test_marketing_switches_on_a_template_edits_its_condition_and_dry_runs_it(alpha: World) -> None:
    with tenant_context(alpha.tenant):
        coupon = CouponTemplate.objects.create(name="回归券", kind="fixed", amount_off=20, valid_days=14)
        Member.objects.filter(pk=alpha.member_a.pk).update(m_score=3, last_purchase_at=at(2026, 1, 1, 12, 0))
    client = console(alpha, "marketing")
    page = client.get("/automation/")
    assert page.status_code == 200 and 'data-template="win_back"' in page.content.decode()
    reply = client.post("/automation/install/", {"key": "win_back", "coupon_template_id": coupon.pk})
    assert reply.status_code == 302
    with tenant_context(alpha.tenant):
        rule = Rule.objects.get(template_key="win_back")
        assert rule.status == "active" and rule.version.conditions["member"]["value"] == 4
    editor = client.get(f"/automation/rules/{rule.pk}/")
    assert editor.status_code == 200 and 'name="c_field"' in editor.content.decode()
    form = {
        "name": rule.name,
        "trigger": "schedule:inactive",
        "t_days": "30",
        "t_at": "10:00",
        "c_join": "and",
        "c_field": ["m_score"],
        "c_op": ["gte"],
        "c_value": ["3"],
        "a_type": ["issue_coupon"],
        "a_template_id": [str(coupon.pk)],
        "once_per": "natural",
        "quiet_hours": "on",
    }
    dry = client.post(f"/automation/rules/{rule.pk}/", {**form, "do": "dry_run"})
    assert dry.status_code == 200
    assert dry.context["dry_run"]["count"] == 1 and dry.context["dry_run"]["sample"][0]["pk"] == alpha.member_a.pk
    live = client.post("/automation/rules/count/", form)
    assert live.status_code == 200 and "1" in live.content.decode()
    saved = client.post(f"/automation/rules/{rule.pk}/", {**form, "do": "save"})
    assert saved.status_code == 302
    with tenant_context(alpha.tenant):
        rule.refresh_from_db()
        assert rule.version.number == 2 and rule.version.conditions["member"] == {
            "field": "m_score",
            "op": "gte",
            "value": "3",
        }
    bad = client.post(f"/automation/rules/{rule.pk}/", {**form, "c_op": ["has"], "do": "save"})
    assert bad.status_code == 200 and bad.context["errors"]


def test_marketing_starts_a_campaign_with_a_hold_out_from_a_segment(alpha: World) -> None:
    with tenant_context(alpha.tenant):
        Member.objects.bulk_create(Member(phone=f"+86137000{i:05d}", card_no=f"S{i}", city="苏州") for i in range(50))
        segment = Segment.objects.create(name="苏州", rule={"field": "city", "op": "eq", "value": "苏州"})
    client = console(alpha, "marketing")
    form = {
        "name": "苏州关怀",
        "segment_id": str(segment.pk),
        "holdout_percent": "20",
        "a_type": ["send_message"],
        "a_channel": ["inbox"],
        "a_body": ["{{name}}，苏州店上新了"],
    }
    preview = client.post("/automation/campaigns/", {**form, "do": "preview"})
    assert preview.status_code == 200 and preview.context["preview"]["count"] == 50
    assert preview.context["preview"]["cost"]["messages:inbox"] == 40
    started = client.post("/automation/campaigns/", {**form, "do": "confirm"})
    assert started.status_code == 302
    with tenant_context(alpha.tenant):
        campaign = Campaign.objects.get()
        assert campaign.held_out == CampaignMember.objects.filter(campaign=campaign, holdout=True).count() > 0
        assert campaign.reached + campaign.held_out == 50


def test_a_cashier_sees_no_automation_and_a_manager_works_a_task(alpha: World) -> None:
    assert console(alpha, "cashier_b").get("/automation/").status_code == 403
    with tenant_context(alpha.tenant):
        care = task_types_ensure().get(key="care")
        task = Task.objects.create(
            type=care,
            title="回访",
            member=alpha.member_a,
            store=alpha.store_a,
            assignee_role="store_manager",
            state="open",
        )
    manager = console(alpha, "manager_a")
    inbox = manager.get("/tasks/")
    assert "回访" in inbox.content.decode()
    detail = manager.get(f"/tasks/{task.pk}/")
    assert detail.status_code == 200
    move = next(i for i, m in enumerate(care.transitions) if m["to"] == "contacted")
    assert manager.post(f"/tasks/{task.pk}/", {"move": str(move), "comment": "电话已联系"}).status_code == 302
    with tenant_context(alpha.tenant):
        task.refresh_from_db()
        assert task.state == "contacted"
    # Another store's cashier cannot open it.
    assert console(alpha, "cashier_b").get(f"/tasks/{task.pk}/").status_code == 403


def test_flow_designer_saves_a_vip_approval_flow(alpha: World) -> None:
    client = console(alpha, "hq")
    assert client.get("/automation/flows/new/").status_code == 200
    reply = client.post(
        "/automation/flows/new/",
        {
            "name": "VIP 升级审批",
            "default_due_hours": "72",
            "s_key": ["requested", "approved", ""],
            "s_label": ["待审批", "已通过", ""],
            "s_final": ["approved"],
            "m_from": ["requested", ""],
            "m_to": ["approved", ""],
            "m_label": ["批准", ""],
            "m0_roles": ["hq_admin"],
            "m0_notify": ["notify_creator"],
            "m0_points": "50",
        },
    )
    assert reply.status_code == 302
    with tenant_context(alpha.tenant):
        from huiyuan.automation.models import TaskType

        flow = TaskType.objects.get(name="VIP 升级审批")
        assert flow.transitions[0]["roles"] == ["hq_admin"]
        assert {"type": "award_points", "points": 50} in flow.transitions[0]["effects"]


def test_continue_only_if_becomes_a_branch_and_comes_back_as_blocks(alpha: World) -> None:
    client = console(alpha, "hq")
    form = {
        "name": "七天后提醒",
        "trigger": "event:member.created",
        "c_join": "and",
        "c_field": [""],
        "c_op": [""],
        "c_value": [""],
        "a_type": ["wait", "only_if", "send_message"],
        "a_days": ["7", "", ""],
        "a_hours": ["", "", ""],
        "a_channel": ["inbox", "inbox", "inbox"],
        "a_body": ["", "", "{{name}}，来店里看看吧"],
        "a_if_field": ["", "order_count", ""],
        "a_if_op": ["", "eq", ""],
        "a_if_value": ["", "0", ""],
        "once_per": "event",
        "quiet_hours": "on",
        "do": "save",
    }
    assert client.post("/automation/rules/new/", form).status_code == 302
    with tenant_context(alpha.tenant):
        rule = Rule.objects.get(name="七天后提醒")
        actions = rule.version.actions
    assert [a["type"] for a in actions] == ["wait", "branch"]
    assert actions[1]["condition"] == {"field": "order_count", "op": "eq", "value": "0"}
    assert [a["type"] for a in actions[1]["then"]] == ["send_message"] and actions[1]["else"] == []
    page = client.get(f"/automation/rules/{rule.pk}/")
    assert [row["type"] for row in page.context["action_rows"]] == ["wait", "only_if", "send_message"]
    assert not page.context["has_branch"]


def test_the_condition_builder_offers_the_merchants_own_fields(alpha: World) -> None:
    from huiyuan.members.custom_fields import custom_field_create

    with tenant_context(alpha.tenant):
        custom_field_create(
            actor=alpha.hq, label="喜欢的口味", field_type="single_choice", config={"choices": ["甜", "辣"]}
        )
    page = console(alpha, "marketing").get("/automation/rules/new/")
    fields = {f["label"]: f for f in page.context["fields"]}
    assert fields["喜欢的口味"]["name"].startswith("custom.") and fields["喜欢的口味"]["choices"] == ["甜", "辣"]
    assert "手机号" not in fields and "Phone" not in fields  # marketing may not filter on phones


def test_hq_builds_a_segment_with_the_builder_and_tags_its_members(alpha: World) -> None:
    from huiyuan.members.models import MemberTag, Tag

    with tenant_context(alpha.tenant):
        Member.objects.filter(pk=alpha.member_a.pk).update(city="杭州")
        tag = Tag.objects.create(name="杭州客")
    client = console(alpha, "hq")
    form = {"c_join": "and", "c_field": ["city"], "c_op": ["eq"], "c_value": ["杭州"], "name": "杭州会员"}
    preview = client.post("/segments/", {**form, "action": "preview"})
    assert preview.status_code == 200 and preview.context["count"] == 1
    assert client.post("/segments/", {**form, "action": "save"}).status_code == 200
    client.post("/segments/", {**form, "action": "tag", "tag": str(tag.pk)})
    with tenant_context(alpha.tenant):
        assert Segment.objects.get(name="杭州会员").rule == {"field": "city", "op": "eq", "value": "杭州"}
        assert list(MemberTag.objects.filter(tag=tag).values_list("member_id", flat=True)) == [alpha.member_a.pk]
    with tenant_context(alpha.tenant):
        saved_id = Segment.objects.get(name="杭州会员").pk
    reopened = client.get(f"/segments/?segment={saved_id}")
    assert reopened.context["c_rows"] == [{"field": "city", "op": "eq", "value": "杭州"}]
