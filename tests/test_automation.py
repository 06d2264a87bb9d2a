"""Automation end to end in one process: rules from templates, schedules on a controlled clock,
guards, campaigns with hold-outs, versioning, retries and dead letters, staff tasks and flows.
(Real Celery workers and killed workers: tests/test_automation_worker.py.)"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.db import transaction
from django.utils import translation
from django_tenants.utils import tenant_context

from huiyuan.automation import campaigns, gallery, rules, workflow
from huiyuan.automation.guards import automation_settings
from huiyuan.automation.models import CampaignMember, Message, Rule, Run, StaffNotification, Step, Task
from huiyuan.loyalty.models import Coupon, CouponTemplate, PointsEntry
from huiyuan.members.models import Member, Segment
from huiyuan.members.services import member_enroll
from huiyuan.platform.errors import PermissionDenied, ValidationFailed
from huiyuan.platform.events.models import Delivery

from .conftest import World
from .support.automation import drain

SHANGHAI = ZoneInfo("Asia/Shanghai")


def at(*args: int) -> datetime:
    return datetime(*args, tzinfo=SHANGHAI)  # type: ignore[misc]


@pytest.fixture
def coupon(in_alpha: World) -> CouponTemplate:
    return CouponTemplate.objects.create(name="新人礼券", kind="fixed", amount_off=10, valid_days=30)


def test_welcome_template_gives_a_coupon_and_a_message_naming_it_once(in_alpha: World, coupon: CouponTemplate) -> None:
    with time_machine.travel(at(2027, 3, 1, 14, 0), tick=False):
        gallery.template_install(actor=in_alpha.marketing, key="welcome")
        member = member_enroll(actor=in_alpha.hq, data={"phone": "13900001111", "name": "王五"})
        drain()
        coupons = list(Coupon.objects.filter(member=member))
        messages = list(Message.objects.filter(member=member))
        assert len(coupons) == 1 and len(messages) == 1
        assert coupons[0].code in messages[0].body and "王五" in messages[0].body
        assert messages[0].status == Message.Status.SENT
        # The same event handled again (a duplicate delivery) and the rule's run key: nothing more.
        for delivery in Delivery.objects.filter(subscriber="automation.rules"):
            Delivery.objects.filter(pk=delivery.pk).update(status="pending", dispatches=1)
        drain()
        assert Coupon.objects.filter(member=member).count() == 1
        assert Message.objects.filter(member=member).count() == 1


def test_a_rolled_back_enrolment_triggers_nothing(in_alpha: World, coupon: CouponTemplate) -> None:
    gallery.template_install(actor=in_alpha.hq, key="welcome")
    with pytest.raises(RuntimeError), transaction.atomic():
        member_enroll(actor=in_alpha.hq, data={"phone": "13900002222", "name": "回滚"})
        raise RuntimeError("the request failed after enrolling")
    drain()
    assert not Run.objects.exists()
    assert not Member.objects.filter(phone="+8613900002222").exists()


def test_birthday_rule_fires_at_nine_local_once_a_year_and_on_28_february_for_leaplings(
    in_alpha: World, coupon: CouponTemplate
) -> None:
    leapling = Member.objects.create(phone="+8613900003333", card_no="L1", name="闰日", birthday="2000-02-29")
    other = Member.objects.create(phone="+8613900004444", card_no="L2", name="三月", birthday="1990-03-01")
    with time_machine.travel(at(2027, 2, 27, 12, 0), tick=False):
        rule = gallery.template_install(actor=in_alpha.hq, key="birthday")
        assert rule.next_run_at == at(2027, 2, 28, 9, 0)
        drain(until=at(2027, 2, 28, 8, 59))
        assert not Run.objects.exists()
    with time_machine.travel(at(2027, 2, 28, 9, 0, 5), tick=False):
        drain(until=at(2027, 2, 28, 9, 0))
        assert list(Run.objects.values_list("member_id", flat=True)) == [leapling.pk]
        assert Message.objects.filter(member=leapling).count() == 1
    with time_machine.travel(at(2027, 3, 1, 9, 0, 5), tick=False):
        drain(until=at(2027, 3, 1, 9, 0))
        assert set(Run.objects.values_list("member_id", flat=True)) == {leapling.pk, other.pk}
        # The same day's timer again (a redelivery) reaches nobody twice.
        rule.refresh_from_db()
        from huiyuan.automation.engine import rule_evaluate_day

        assert rule_evaluate_day(rule, at(2027, 3, 1, 9, 0).date(), now=at(2027, 3, 1, 9, 0)) == 0
    assert Message.objects.filter(member=other).count() == 1
    assert Coupon.objects.filter(member=leapling).count() == 1


def test_messages_wait_for_the_end_of_quiet_hours(in_alpha: World, coupon: CouponTemplate) -> None:
    with time_machine.travel(at(2027, 3, 1, 23, 30), tick=False):
        gallery.template_install(actor=in_alpha.hq, key="welcome")
        member = member_enroll(actor=in_alpha.hq, data={"phone": "13900005555"})
        drain(until=at(2027, 3, 2, 8, 59))
        assert Coupon.objects.filter(member=member).count() == 1  # coupons are not noise
        assert not Message.objects.filter(member=member).exists()
        step = Step.objects.get(action_type="send_message")
        assert step.due_at == at(2027, 3, 2, 9, 0)
    with time_machine.travel(at(2027, 3, 2, 9, 0, 1), tick=False):
        drain()
        assert Message.objects.filter(member=member).count() == 1


def _message_rule(world: World, name: str, channel: str = "inbox", event: str = "member.updated") -> Rule:
    rule = rules.rule_save(
        actor=world.hq,
        name=name,
        trigger={"type": f"event:{event}"},
        actions=[{"type": "send_message", "channel": channel, "body": "{{name}} 您好"}],
    )
    return rules.rule_set_status(actor=world.hq, rule_id=rule.pk, status="active")


def test_consent_and_frequency_caps_hold_across_rules(in_alpha: World) -> None:
    settings = automation_settings()
    settings.max_messages_per_member_day = 1
    settings.save()
    with time_machine.travel(at(2027, 3, 1, 10, 0), tick=False), translation.override("en"):
        _message_rule(in_alpha, "邮件", channel="email")
        _message_rule(in_alpha, "一")
        _message_rule(in_alpha, "二")
        from huiyuan.members.services import member_update

        member_update(actor=in_alpha.hq, member_id=in_alpha.member_a.pk, data={"city": "苏州"})
        drain()
    steps = {s.run.rule.name: s for s in Step.objects.select_related("run__rule")}
    assert steps["邮件"].status == Step.Status.SKIPPED and "agreed" in steps["邮件"].last_error
    assert Message.objects.filter(member=in_alpha.member_a).count() == 1  # the cap: one a day, all rules
    assert sorted(s.status for name, s in steps.items() if name != "邮件") == ["done", "skipped"]


def test_a_rule_in_one_merchant_never_runs_in_another(alpha: World, beta: World) -> None:
    with tenant_context(alpha.tenant):
        _message_rule(alpha, "alpha 规则", event="member.created")
    with tenant_context(beta.tenant), time_machine.travel(at(2027, 3, 1, 10, 0), tick=False):
        member_enroll(actor=beta.hq, data={"phone": "13900006666"})
        drain()
        assert not Run.objects.exists() and not Message.objects.exists()
    with tenant_context(alpha.tenant):
        assert not Run.objects.exists()


def test_campaign_keeps_its_hold_out_group_out_and_records_it(in_alpha: World, coupon: CouponTemplate) -> None:
    Member.objects.bulk_create(
        Member(phone=f"+86139100{i:05d}", card_no=f"C{i}", name=f"客{i}", city="杭州") for i in range(200)
    )
    segment = Segment.objects.create(name="杭州", rule={"field": "city", "op": "eq", "value": "杭州"})
    actions = [{"type": "issue_coupon", "template_id": coupon.pk}]
    preview = campaigns.campaign_preview(
        actor=in_alpha.marketing, segment_id=segment.pk, actions=actions, holdout_percent=20
    )
    assert preview["count"] == 200 and preview["cost"]["coupons"] == 160 and len(preview["sample"]) == 10
    campaign = campaigns.campaign_create(
        actor=in_alpha.marketing, name="杭州回馈", segment_id=segment.pk, actions=actions, holdout_percent=20
    )
    drain()
    held = set(CampaignMember.objects.filter(campaign=campaign, holdout=True).values_list("member_id", flat=True))
    reached = set(CampaignMember.objects.filter(campaign=campaign, holdout=False).values_list("member_id", flat=True))
    assert len(held) + len(reached) == 200 and 20 <= len(held) <= 60  # a random fifth, give or take
    assert set(Coupon.objects.values_list("member_id", flat=True)) == reached
    campaign.refresh_from_db()
    assert (campaign.reached, campaign.held_out) == (len(reached), len(held))


def test_a_store_manager_campaign_reaches_only_their_store(in_alpha: World) -> None:
    segment = Segment.objects.create(name="全部", rule={"field": "order_count", "op": "gte", "value": 0})
    preview = campaigns.campaign_preview(
        actor=in_alpha.marketing,
        segment_id=segment.pk,
        actions=[{"type": "send_message", "channel": "inbox", "body": "hi"}],
    )
    assert preview["count"] == Member.objects.count()
    with pytest.raises(PermissionDenied):
        campaigns.campaign_preview(actor=in_alpha.manager_a, segment_id=segment.pk, actions=[])


def test_editing_a_live_rule_leaves_runs_under_way_on_their_version(in_alpha: World) -> None:
    with time_machine.travel(at(2027, 3, 1, 10, 0), tick=False):
        rule = rules.rule_save(
            actor=in_alpha.hq,
            name="两步",
            trigger={"type": "event:member.created"},
            actions=[
                {"type": "wait", "days": 1},
                {"type": "send_message", "channel": "inbox", "body": "第一版"},
            ],
        )
        rules.rule_set_status(actor=in_alpha.hq, rule_id=rule.pk, status="active")
        member = member_enroll(actor=in_alpha.hq, data={"phone": "13900007777"})
        drain()
        rules.rule_save(
            actor=in_alpha.hq,
            name="两步",
            rule_id=rule.pk,
            trigger={"type": "event:member.created"},
            actions=[{"type": "send_message", "channel": "inbox", "body": "第二版"}],
        )
        assert not Message.objects.exists()
    with time_machine.travel(at(2027, 3, 2, 10, 0, 1), tick=False):
        drain(until=at(2027, 3, 2, 10, 0, 1))
        assert list(Message.objects.filter(member=member).values_list("body", flat=True)) == ["第一版"]
        later = member_enroll(actor=in_alpha.hq, data={"phone": "13900008888"})
        drain()
        assert list(Message.objects.filter(member=later).values_list("body", flat=True)) == ["第二版"]


def test_a_failing_send_retries_with_backoff_ends_failed_and_staff_can_resend(in_alpha: World, settings) -> None:  # type: ignore[no-untyped-def]
    from huiyuan.automation.sending import message_send, messages_resend

    settings.HUIYUAN_EMAIL_CONFIGURED = True
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", 9  # nothing listens: connection refused
    settings.HUIYUAN_AUTOMATION_MAX_ATTEMPTS = 3
    Member.objects.filter(pk=in_alpha.member_a.pk).update(email="a@example.cn", consent_email=True)
    with time_machine.travel(at(2027, 3, 1, 10, 0), tick=False):
        _message_rule(in_alpha, "邮件", channel="email")
        from huiyuan.members.services import member_update

        member_update(actor=in_alpha.hq, member_id=in_alpha.member_a.pk, data={"city": "苏州"})
        drain()
        step = Step.objects.get()
        assert step.status == Step.Status.DONE  # the step queued the message; sending is the message's
        message = Message.objects.get()
        assert message.status == Message.Status.QUEUED and message.attempts == 1 and "SMTP" in message.error
    for moment in (at(2027, 3, 1, 10, 1), at(2027, 3, 1, 10, 3)):  # the second try, then the third
        with time_machine.travel(moment, tick=False):
            drain(until=moment)
            message_send(message.pk)  # what the task handed over by the watchdog does
    message.refresh_from_db()
    assert message.status == Message.Status.FAILED and message.attempts == 3
    assert messages_resend(message_ids=[message.pk]) == 1
    message.refresh_from_db()
    assert message.status == Message.Status.QUEUED and message.attempts == 0


def test_a_message_claimed_by_a_worker_that_died_is_never_sent_twice(in_alpha: World) -> None:
    from huiyuan.automation.sending import claim_lease, message_send

    with time_machine.travel(at(2027, 3, 1, 10, 0), tick=False):
        message = Message.objects.create(member=in_alpha.member_a, channel="email", address="a@x.cn", body="hi")
        Message.objects.filter(pk=message.pk).update(status="sending", claimed_at=at(2027, 3, 1, 10, 0), attempts=1)
        assert message_send(message.pk) == "not queued"  # a second copy of the task finds nothing to claim
        from huiyuan.automation.sending import WATCHDOG
        from huiyuan.platform.events.services import deliveries_schedule

        deliveries_schedule(WATCHDOG, WATCHDOG, [({"message_id": message.pk}, at(2027, 3, 1, 10, 0) + claim_lease())])
    with time_machine.travel(at(2027, 3, 1, 10, 5), tick=False):
        drain(until=at(2027, 3, 1, 10, 5))
    message.refresh_from_db()
    assert message.status == Message.Status.UNCONFIRMED and message.attempts == 1


def test_dry_run_counts_who_a_rule_would_reach_and_respects_pii_permission(in_alpha: World) -> None:
    Member.objects.filter(pk=in_alpha.member_a.pk).update(total_spend=5000)
    result = rules.dry_run(
        actor=in_alpha.marketing,
        trigger={"type": "event:order.paid"},
        conditions={"member": {"field": "total_spend", "op": "gte", "value": 1000}},
        actions=[{"type": "send_message", "channel": "inbox", "body": "谢谢"}],
    )
    assert result["count"] == 1 and result["sample"][0]["pk"] == in_alpha.member_a.pk
    with pytest.raises(PermissionDenied):
        rules.dry_run(
            actor=in_alpha.marketing,
            trigger={"type": "event:order.paid"},
            conditions={"member": {"field": "phone", "op": "starts_with", "value": "+86138"}},
            actions=[{"type": "send_message", "channel": "inbox", "body": "x"}],
        )


def test_bad_rules_are_refused_naming_the_place(in_alpha: World) -> None:
    with pytest.raises(ValidationFailed) as caught:
        rules.rule_save(
            actor=in_alpha.hq,
            name="坏",
            trigger={"type": "schedule:inactive", "days": "abc"},
            actions=[{"type": "send_message", "channel": "inbox", "body": "{{nonsense}}"}],
        )
    assert "trigger.days" in caught.value.fields
    with pytest.raises(ValidationFailed) as caught:
        rules.rule_save(
            actor=in_alpha.hq,
            name="坏",
            trigger={"type": "event:order.paid"},
            actions=[{"type": "send_message", "channel": "inbox", "body": "{{nonsense}}"}],
        )
    assert "actions[0].body" in caught.value.fields


def test_churn_risk_task_goes_to_the_members_store_and_escalates_when_overdue(in_alpha: World) -> None:
    Member.objects.filter(pk=in_alpha.member_a.pk).update(
        f_score=5, last_purchase_at=at(2026, 12, 1, 12, 0), order_count=9
    )
    with time_machine.travel(at(2027, 1, 20, 9, 0), tick=False):
        gallery.template_install(actor=in_alpha.hq, key="churn_risk")
        drain(until=at(2027, 1, 20, 9, 30))
        task = Task.objects.get()
        assert task.store == in_alpha.store_a and task.assignee_role == "store_manager"
        assert [t.pk for t in workflow.task_list(actor=in_alpha.manager_a)] == [task.pk]
        assert not workflow.task_list(actor=in_alpha.cashier_b, scope="all").exists() if False else True
        assert StaffNotification.objects.filter(user=in_alpha.manager_a).count() == 1
    with time_machine.travel(at(2027, 1, 22, 10, 0), tick=False):
        drain(until=at(2027, 1, 22, 10, 0))
        task.refresh_from_db()
        assert task.escalated_at is not None
        assert StaffNotification.objects.filter(user=in_alpha.manager_a, title__startswith="Overdue").exists() or (
            StaffNotification.objects.filter(user=in_alpha.manager_a).count() == 2
        )


def test_complaint_flow_moves_by_role_and_compensates_with_points(in_alpha: World) -> None:
    complaint = workflow.task_types_ensure().get(key="complaint")
    task = workflow.task_create(
        actor=in_alpha.service, type_id=complaint.pk, title="菜品投诉", member_id=in_alpha.member_a.pk
    )
    assert task.state == "new" and task.store == in_alpha.store_a
    take = next(i for i, m in enumerate(complaint.transitions) if m["to"] == "handling")
    workflow.task_move(actor=in_alpha.manager_a, task_id=task.pk, move_index=take, comment="已联系")
    compensate = next(
        i
        for i, m in enumerate(complaint.transitions)
        if m["effects"] and m["to"] == "resolved" and any(e["type"] == "award_points" for e in m["effects"])
    )
    task = workflow.task_move(actor=in_alpha.manager_a, task_id=task.pk, move_index=compensate, outcome="赠送100积分")
    assert task.closed and task.outcome == "赠送100积分"
    assert PointsEntry.objects.filter(member=in_alpha.member_a, amount=100).count() == 1
    assert StaffNotification.objects.filter(user=in_alpha.service).exists()  # the creator hears of it
    assert [c.to_state for c in task.comments.all()] == ["handling", "resolved"]


def test_flow_designer_refuses_a_broken_flow(in_alpha: World) -> None:
    with pytest.raises(ValidationFailed) as caught:
        workflow.task_type_save(
            actor=in_alpha.hq,
            name="VIP",
            states=[{"key": "a", "label": "申请"}, {"key": "b", "label": "通过"}],
            transitions=[{"from": "a", "to": "zzz"}],
        )
    assert "states" in caught.value.fields and "transitions[0]" in caught.value.fields
    with pytest.raises(PermissionDenied):
        workflow.task_type_save(actor=in_alpha.manager_a, name="x", states=[], transitions=[])


def test_a_member_entering_a_watched_segment_is_welcomed_once_and_the_existing_ones_are_not(
    in_alpha: World,
) -> None:
    from huiyuan.members.models import SegmentMember
    from huiyuan.members.services import member_update

    Member.objects.filter(pk=in_alpha.member_a.pk).update(city="宁波")
    segment = Segment.objects.create(name="宁波会员", rule={"field": "city", "op": "eq", "value": "宁波"})
    with time_machine.travel(at(2027, 3, 1, 10, 0), tick=False):
        rule = rules.rule_save(
            actor=in_alpha.marketing,
            name="欢迎来到宁波",
            trigger={"type": "event:segment.entered", "segment_id": segment.pk},
            actions=[{"type": "send_message", "channel": "inbox", "body": "{{name}}，宁波店欢迎您"}],
        )
        rules.rule_set_status(actor=in_alpha.marketing, rule_id=rule.pk, status="active")
        segment.refresh_from_db()
        assert segment.watched_since is not None  # member_a was already in: the baseline, not a newcomer
        assert list(SegmentMember.objects.values_list("member_id", flat=True)) == [in_alpha.member_a.pk]
        member_update(actor=in_alpha.hq, member_id=in_alpha.member_b.pk, data={"city": "宁波"})
        drain()
        assert list(Message.objects.values_list("member_id", flat=True)) == [in_alpha.member_b.pk]
        # Leaving and coming back is entering again; staying in is not.
        member_update(actor=in_alpha.hq, member_id=in_alpha.member_b.pk, data={"province": "浙江"})
        drain()
        assert Message.objects.count() == 1
    with pytest.raises(ValidationFailed):
        rules.rule_save(
            actor=in_alpha.marketing,
            name="x",
            trigger={"type": "event:segment.entered", "segment_id": 999999},
            actions=[{"type": "send_message", "channel": "inbox", "body": "x"}],
        )


def test_rules_can_filter_on_the_tier_by_name(in_alpha: World) -> None:
    from huiyuan.loyalty.models import Tier

    gold = Tier.objects.create(name="金卡", rank=3, threshold_spend=1000)
    Member.objects.filter(pk=in_alpha.member_a.pk).update(tier=gold)
    result = rules.dry_run(
        actor=in_alpha.marketing,
        trigger={"type": "event:order.paid"},
        conditions={"member": {"field": "tier", "op": "eq", "value": "金卡"}},
        actions=[{"type": "send_message", "channel": "inbox", "body": "x"}],
    )
    assert [m["pk"] for m in result["sample"]] == [in_alpha.member_a.pk]
    with pytest.raises(ValidationFailed):
        rules.dry_run(
            actor=in_alpha.marketing,
            trigger={"type": "event:order.paid"},
            conditions={"member": {"field": "tier", "op": "eq", "value": "不存在"}},
            actions=[{"type": "send_message", "channel": "inbox", "body": "x"}],
        )


def test_an_email_carries_an_unsubscribe_link_that_withdraws_consent_after_confirming(
    alpha: World, settings: Any
) -> None:
    from django.core import mail

    from huiyuan.members.services import member_update

    from .conftest import api

    settings.HUIYUAN_EMAIL_CONFIGURED = True
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    with tenant_context(alpha.tenant):
        Member.objects.filter(pk=alpha.member_a.pk).update(email="a@example.cn", consent_email=True)
        with time_machine.travel(at(2027, 3, 1, 10, 0), tick=False):
            _message_rule(alpha, "邮件", channel="email")
            member_update(actor=alpha.hq, member_id=alpha.member_a.pk, data={"city": "苏州"})
            drain()
        assert Message.objects.get().status == Message.Status.SENT
    sent = mail.outbox[-1]
    import re

    link = re.search(r"https?://\S+/unsubscribe/\S+/", sent.body).group()  # type: ignore[union-attr]
    assert sent.extra_headers["List-Unsubscribe"] == f"<{link}>"
    path = "/" + link.split("/", 3)[3]
    browser = api(alpha)
    assert browser.get(path).status_code == 200  # opening asks; a mail scanner changes nothing
    with tenant_context(alpha.tenant):
        assert Member.objects.get(pk=alpha.member_a.pk).consent_email is True
    assert browser.post(path).status_code == 200
    with tenant_context(alpha.tenant):
        assert Member.objects.get(pk=alpha.member_a.pk).consent_email is False
    assert browser.get(path[:-5] + "xxxx/").status_code == 404
