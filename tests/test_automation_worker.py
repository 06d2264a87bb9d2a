"""Automation on real Celery workers, Redis and PostgreSQL: members join while a rule runs, the
worker's main process is killed mid-run and started again; every member ends with exactly one
welcome message and one tag, none lost, none twice."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.utils import timezone
from django_tenants.utils import tenant_context

from huiyuan.automation import rules
from huiyuan.automation.models import Message, Rule, Run, Step
from huiyuan.loyalty.models import Coupon
from huiyuan.members.models import Member, MemberTag, Tag
from huiyuan.members.services import member_enroll
from huiyuan.platform.tenancy import tenant_timezone

from .test_delivery_faults import Sweeper, stack, wait_until  # noqa: F401 - ``stack`` is a fixture

pytestmark = pytest.mark.slow


def test_a_worker_killed_mid_run_neither_loses_nor_repeats_a_send(stack: dict[str, Any]) -> None:  # noqa: F811
    world = stack["world"]
    with tenant_context(world.tenant):
        tag = Tag.objects.create(name="新会员-worker")
        rule = rules.rule_save(
            actor=world.hq,
            name="欢迎 worker",
            trigger={"type": "event:member.created"},
            actions=[
                {"type": "add_tag", "tag_id": tag.pk},
                {"type": "send_message", "channel": "inbox", "body": "{{name}}，欢迎"},
            ],
            guards={"once_per": "ever", "quiet_hours": False},
        )
        rules.rule_set_status(actor=world.hq, rule_id=rule.pk, status="active")
    connection.set_schema_to_public()
    worker = stack["new_worker"]()
    phones = [f"+861350000{i:04d}" for i in range(40)]
    try:
        with Sweeper():
            with tenant_context(world.tenant):
                for index, phone in enumerate(phones):
                    member_enroll(actor=world.hq, data={"phone": phone, "name": f"工{index}"})
                    if index == 15:
                        time.sleep(0.5)
                        worker.kill_main_process()  # mid-run: steps in flight are handed back
                        stack["new_worker"]()
            connection.set_schema_to_public()

            def all_done() -> bool:
                with tenant_context(world.tenant):
                    done = Run.objects.filter(rule=rule, status=Run.Status.DONE).count()
                connection.set_schema_to_public()
                return done == len(phones)

            wait_until(all_done, 120, "every run to finish")
            time.sleep(3.5)  # any stray redelivery gets its chance to do harm
        with tenant_context(world.tenant):
            members = list(Member.objects.filter(phone__in=phones).values_list("pk", flat=True))
            assert len(members) == len(phones)
            per_member = [Message.objects.filter(member_id=m).count() for m in members]
            assert per_member == [1] * len(phones)
            assert MemberTag.objects.filter(tag=tag).count() == len(phones)
            assert not Step.objects.filter(run__rule=rule).exclude(status="done").exists()
    finally:
        with tenant_context(world.tenant):
            Member.objects.filter(phone__in=phones).delete()
            Rule.objects.filter(pk=rule.pk).update(version=None)
            Rule.objects.filter(pk=rule.pk).delete()
            Tag.objects.filter(pk=tag.pk).delete()
        connection.set_schema_to_public()


def test_a_birthday_timer_fires_on_a_real_worker_when_the_clock_reaches_nine_and_only_once(
    stack: dict[str, Any],  # noqa: F811
) -> None:
    """The clock is the timers' due time: moving it (the test makes the 09:00 timer due now) is all
    the worker sees. A duplicate of the timer's message finds it handled and sends nothing more."""
    from huiyuan.automation import gallery
    from huiyuan.automation.engine import SCHEDULE
    from huiyuan.loyalty.models import CouponTemplate
    from huiyuan.platform.events.models import Delivery
    from huiyuan.platform.events.tasks import deliver_event

    world = stack["world"]
    phones = ["+8613500009001", "+8613500009002"]
    with tenant_context(world.tenant):
        from huiyuan.automation.guards import automation_settings

        settings = automation_settings()
        settings.quiet_start = settings.quiet_end  # no quiet hours: the worker runs on the real clock
        settings.save()
        coupon = CouponTemplate.objects.create(name="生日券-worker", kind="fixed", amount_off=8, valid_days=7)
        today_local = timezone.now().astimezone(tenant_timezone()).date()
        born = Member.objects.create(
            phone=phones[0], card_no="BW1", name="寿星", birthday=today_local.replace(year=1990)
        )
        Member.objects.create(
            phone=phones[1], card_no="BW2", name="路人", birthday=(today_local.replace(year=1990) + timedelta(days=3))
        )
        rule = gallery.template_install(actor=world.hq, key="birthday", coupon_template_id=coupon.pk)
        timer = Delivery.objects.get(subscriber=SCHEDULE, status="pending")
    connection.set_schema_to_public()
    stack["new_worker"]()
    try:
        with Sweeper():
            time.sleep(2)
            with tenant_context(world.tenant):
                assert not Run.objects.filter(rule=rule).exists()  # not nine o'clock yet
            connection.set_schema_to_public()
            # The timer is for 09:00 of its day; the clock reaching it is the timer becoming due. Its
            # payload names the day, so "today" is the day the test set, whatever the real date.
            Delivery.objects.filter(pk=timer.pk).update(next_attempt_at=timezone.now())
            from huiyuan.platform.events.models import OutboxEvent

            event = OutboxEvent.objects.get(pk=timer.event_id)
            event.payload = {**event.payload, "day": today_local.isoformat()}
            event.save(update_fields=["payload"])

            def greeted() -> bool:
                with tenant_context(world.tenant):
                    done = Message.objects.filter(member=born).exists()
                connection.set_schema_to_public()
                return done

            wait_until(greeted, 60, "the birthday greeting")
            with tenant_context(world.tenant):
                deliver_event.apply_async(args=[timer.pk])  # the timer's message again
            connection.set_schema_to_public()
            time.sleep(3)
        with tenant_context(world.tenant):
            assert list(Run.objects.filter(rule=rule).values_list("member_id", flat=True)) == [born.pk]
            assert Message.objects.filter(member=born).count() == 1
            assert Coupon.objects.filter(member=born).count() == 1
            rule.refresh_from_db()
            assert rule.next_run_at is not None and rule.next_run_at.astimezone(tenant_timezone()).hour == 9
            assert rule.next_run_at.astimezone(tenant_timezone()).date() == today_local + timedelta(days=1)
    finally:
        with tenant_context(world.tenant):
            Coupon.objects.filter(template__name="生日券-worker").delete()
            Member.objects.filter(phone__in=phones).delete()
            Rule.objects.filter(pk=rule.pk).update(version=None)
            Rule.objects.filter(pk=rule.pk).delete()
            CouponTemplate.objects.filter(name="生日券-worker").delete()
            automation_settings().delete()
        connection.set_schema_to_public()


def test_a_worker_killed_while_the_sms_vendor_answers_sends_nothing_twice(
    stack: dict[str, Any],  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
    settings: Any,
) -> None:
    """The fake vendor takes two seconds to answer; the worker is killed while it waits. The vendor
    may have sent that SMS: the message ends unconfirmed, never sent again. The others go once."""
    from django.db import connection as db

    from huiyuan.automation.guards import automation_settings
    from huiyuan.automation.sending import claim_lease
    from huiyuan.integrations import services
    from huiyuan.integrations.models import Connection, SmsTemplate

    from .support.fake_sms import FakeAliyunSms

    monkeypatch.setenv("HUIYUAN_SEND_CLAIM_SECONDS", "6")  # the workers started below read it
    settings.HUIYUAN_SEND_CLAIM_SECONDS = 6
    world = stack["world"]
    fake = FakeAliyunSms("LTAI5tWorker", "worker-secret").start()
    phones = [f"+861370000{i:04d}" for i in range(6)]
    try:
        with tenant_context(world.tenant):
            settings = automation_settings()
            settings.quiet_start = settings.quiet_end
            settings.save()
            sms = services.connection_save(
                actor=world.hq,
                provider="aliyun_sms",
                name="阿里云",
                credentials={"access_key_id": fake.key_id, "access_key_secret": fake.secret},
                settings={"sign_name": "会员通", "endpoint": fake.url},
            )
            template = SmsTemplate.objects.create(
                connection=sms, name="欢迎", vendor_code="SMS_9", params={"n": "{{name}}"}
            )
            rule = rules.rule_save(
                actor=world.hq,
                name="短信欢迎 worker",
                trigger={"type": "event:member.created"},
                actions=[{"type": "send_message", "channel": "sms", "sms_template_id": template.pk}],
                guards={"once_per": "ever", "quiet_hours": False},
            )
            rules.rule_set_status(actor=world.hq, rule_id=rule.pk, status="active")
        db.set_schema_to_public()
        fake.delay = 2.0
        worker = stack["new_worker"]()
        with Sweeper():
            with tenant_context(world.tenant):
                for index, phone in enumerate(phones):
                    member = member_enroll(actor=world.hq, data={"phone": phone, "name": f"短{index}"})
                    Member.objects.filter(pk=member.pk).update(consent_sms=True)
            db.set_schema_to_public()

            def first_request_in_flight() -> bool:
                return fake.requests >= 1

            wait_until(first_request_in_flight, 60, "the first SMS to reach the vendor")
            time.sleep(0.5)
            worker.kill_main_process()  # mid-send: the vendor has the request, we have no answer
            fake.delay = 0.0
            stack["new_worker"]()

            def settled() -> bool:
                with tenant_context(world.tenant):
                    open_ = Message.objects.filter(member__phone__in=phones, status__in=["queued", "sending"]).count()
                db.set_schema_to_public()
                return open_ == 0

            # The claim lease decides when a silent "sending" becomes "unconfirmed".
            wait_until(settled, claim_lease().total_seconds() + 90, "every message to settle")
        with tenant_context(world.tenant):
            statuses = list(Message.objects.filter(member__phone__in=phones).values_list("status", flat=True))
        db.set_schema_to_public()
        sent_to = [s["phone"] for s in fake.sent]
        assert len(sent_to) == len(set(sent_to)), "an SMS went to the same member twice"
        assert statuses.count("sent") + statuses.count("unconfirmed") == len(phones)
        assert statuses.count("unconfirmed") >= 1  # the one(s) in the vendor's hands when the worker died
        assert sorted(sent_to) == sorted(set(sent_to))
    finally:
        fake.stop()
        with tenant_context(world.tenant):
            Member.objects.filter(phone__in=phones).delete()
            Rule.objects.filter(name="短信欢迎 worker").update(version=None)
            Rule.objects.filter(name="短信欢迎 worker").delete()
            Connection.objects.all().delete()
            automation_settings().delete()
        db.set_schema_to_public()
