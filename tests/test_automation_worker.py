"""Automation on real Celery workers, Redis and PostgreSQL: members join while a rule runs, the
worker's main process is killed mid-run and started again; every member ends with exactly one
welcome message and one tag, none lost, none twice."""

from __future__ import annotations

import time
from typing import Any

import pytest
from django.db import connection
from django_tenants.utils import tenant_context

from huiyuan.automation import rules
from huiyuan.automation.models import Message, Rule, Run, Step
from huiyuan.members.models import Member, MemberTag, Tag
from huiyuan.members.services import member_enroll

from .test_delivery_faults import Sweeper, wait_until
from .test_delivery_faults import stack as delivery_stack  # noqa: F401 - pytest finds the fixture as "stack"

pytestmark = pytest.mark.slow


def test_a_worker_killed_mid_run_neither_loses_nor_repeats_a_send(stack: dict[str, Any]) -> None:
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
