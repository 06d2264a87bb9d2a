"""An SMS campaign to 100,000 members through a fake Aliyun SMS that allows 200 messages a second
(and refuses more, as the vendor does): messages handed to the vendor per second, from the click
to the last one sent, by two Celery workers sharing the rate limit. Baseline: the limit itself, so
the ratio is achieved / allowed (1.0 is perfect; above 1 would mean the limit was broken, which the
fake would have refused). Every message's outcome is checked against the vendor's record.

    python -m bench.sms_campaign [--quick]
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

from bench._common import parse_args, peak_rss_mb, report, start

RATE = 200
ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    args = parse_args(__doc__ or "")
    members = 1_500 if args.quick else 100_000
    services = start("huiyuan_bench_sms")
    try:
        run(members)
    finally:
        services.stop()


def load(members: int) -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO members_member (name, phone, gender, province, city, channel, card_no, status, consent_sms,
                consent_wechat, consent_email, email, custom_fields, created_at, updated_at, order_count,
                total_spend, r_score, f_score, m_score, lifecycle)
            SELECT '会员' || g, '+86' || (13000000000 + g), 'unknown', '', '杭州', 'store', 'C' || g, 'active', true,
                false, false, '', '{}', now(), now(), 0, 0, 0, 0, 0, 'prospect'
            FROM generate_series(1::bigint, %s::bigint) AS g
            """,
            [members],
        )
        cursor.execute("ANALYZE")


def workers(count: int) -> list[subprocess.Popen[bytes]]:
    env = {**os.environ, "HUIYUAN_LOG_LEVEL": "WARNING"}
    return [
        subprocess.Popen(  # noqa: S603
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "huiyuan",
                "worker",
                "--pool",
                "threads",
                "--concurrency",
                "8",
                "--loglevel",
                "error",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
                "-n",
                f"bench{i}@%h",
            ],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        for i in range(count)
    ]


def run(members: int) -> None:
    from django.core.management import call_command
    from django.db import connection
    from django_tenants.utils import tenant_context

    from huiyuan.automation import campaigns
    from huiyuan.automation.guards import automation_settings
    from huiyuan.automation.models import Message
    from huiyuan.integrations.models import SmsTemplate, VendorCall
    from huiyuan.integrations.services import connection_save
    from huiyuan.members.models import Segment
    from huiyuan.platform.events.tasks import publish_pending
    from huiyuan.platform.models import User
    from huiyuan.tenants.services import tenant_signup
    from tests.support.fake_sms import FakeAliyunSms

    fake = FakeAliyunSms("LTAI5tBench", "bench-secret").start()
    fake.rate_per_second = RATE  # the vendor refuses what goes over
    call_command("setup_platform", verbosity=0, pool_size=1)
    tenant = tenant_signup(
        name="短信商户", subdomain="smsbench", owner_phone="13900000000", owner_email="", password="Bench-pass-2026"
    ).tenant
    with tenant_context(tenant):
        load(members)
        owner = User.objects.get(role="owner")
        settings = automation_settings()
        settings.quiet_start = settings.quiet_end  # the campaign runs whatever the hour here
        settings.daily_message_budget = members * 2
        settings.save()
        sms = connection_save(
            actor=owner,
            provider="aliyun_sms",
            name="阿里云",
            credentials={"access_key_id": fake.key_id, "access_key_secret": fake.secret},
            settings={"sign_name": "会员通", "endpoint": fake.url, "rate_per_second": str(RATE)},
        )
        template = SmsTemplate.objects.create(
            connection=sms, name="上新", vendor_code="SMS_1", params={"n": "{{name}}"}
        )
        segment = Segment.objects.create(name="杭州", rule={"field": "city", "op": "eq", "value": "杭州"})
    connection.set_schema_to_public()
    running = workers(2)
    stop = threading.Event()

    def sweep() -> None:
        while not stop.wait(1.0):
            publish_pending()

    sweeper = threading.Thread(target=sweep, daemon=True)
    sweeper.start()
    try:
        time.sleep(3)  # the workers connect
        started = time.perf_counter()
        with tenant_context(tenant):
            campaign = campaigns.campaign_create(
                actor=owner,
                name="上新",
                segment_id=segment.pk,
                actions=[{"type": "send_message", "channel": "sms", "sms_template_id": template.pk}],
            )
            deadline = time.monotonic() + members / RATE * 3 + 120
            while (
                Message.objects.filter(status__in=["queued", "sending"]).exists() or Message.objects.count() < members
            ):
                if time.monotonic() > deadline:
                    raise RuntimeError(f"stuck: {Message.objects.filter(status='sent').count()} sent")
                time.sleep(1.0)
            elapsed = time.perf_counter() - started
            sent = Message.objects.filter(status="sent").count()
            throttled = VendorCall.objects.filter(error_code="isv.BUSINESS_LIMIT_CONTROL").count()
            logged = VendorCall.objects.filter(operation="send_sms", status="ok").count()
        phones = [s["phone"] for s in fake.sent]
        assert campaign.reached == members and sent == members == len(phones) == len(set(phones)) == logged, (
            campaign.reached,
            sent,
            len(phones),
            logged,
        )
        achieved = sent / elapsed
        print(
            f"{sent:,} SMS in {elapsed:.1f} s: {achieved:.0f}/s against {RATE}/s allowed; "
            f"{throttled} refused by the vendor for going over and retried"
        )
    finally:
        stop.set()
        for proc in running:
            proc.kill()
        fake.stop()
    report(
        bench="sms_campaign",
        value=achieved,
        unit="messages/s",
        baseline=float(RATE),
        baseline_label="the vendor's rate limit (messages/s allowed)",
        ratio=achieved / RATE,
        peak_rss=peak_rss_mb(),
        scale={"members": members, "workers": 2, "vendor_refusals": throttled},
    )


if __name__ == "__main__":
    main()
