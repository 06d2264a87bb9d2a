"""Connecting a vendor in the console: save and test in one go, the vendor's refusal in plain words,
secrets never shown back, SMS templates mapped, the delivery log; store staff kept out."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django_tenants.utils import tenant_context

from huiyuan.integrations.models import Connection, SmsTemplate

from .conftest import World
from .support.fake_sms import FakeAliyunSms
from .test_automation_console import console


@pytest.fixture
def aliyun() -> Iterator[FakeAliyunSms]:
    fake = FakeAliyunSms("LTAI5tFakeKey", "fake-secret-1").start()
    yield fake
    fake.stop()


def test_hq_connects_aliyun_maps_a_template_and_reads_the_log(alpha: World, aliyun: FakeAliyunSms) -> None:
    client = console(alpha, "hq")
    assert client.get("/integrations/").status_code == 200
    form = {
        "provider": "aliyun_sms",
        "name": "阿里云短信",
        "credential_access_key_id": aliyun.key_id,
        "credential_access_key_secret": "wrong",
        "setting_sign_name": "会员通",
        "setting_endpoint": aliyun.url,
    }
    reply = client.post("/integrations/new/?provider=aliyun_sms", form, follow=True)
    page = reply.content.decode()
    assert "SignatureDoesNotMatch" in page and "does not match" in page or "不匹配" in page
    with tenant_context(alpha.tenant):
        connection = Connection.objects.get()
        assert connection.last_test_ok is False
    assert "wrong" not in page  # a secret is never shown back
    fixed = client.post(
        f"/integrations/{connection.pk}/", {**form, "credential_access_key_secret": "fake-secret-1"}, follow=True
    )
    assert fixed.status_code == 200
    with tenant_context(alpha.tenant):
        connection.refresh_from_db()
        assert connection.last_test_ok is True
    # Leaving the secret empty keeps it.
    client.post(f"/integrations/{connection.pk}/", {**form, "credential_access_key_secret": ""})
    with tenant_context(alpha.tenant):
        connection.refresh_from_db()
        assert connection.last_test_ok is True
    saved = client.post(
        f"/integrations/{connection.pk}/action/",
        {"do": "template", "name": "生日", "vendor_code": "SMS_2001", "params": "name={{name}}\ncode={{coupon_code}}"},
    )
    assert saved.status_code == 302
    with tenant_context(alpha.tenant):
        assert SmsTemplate.objects.get().params == {"name": "{{name}}", "code": "{{coupon_code}}"}
    log = client.get("/integrations/").content.decode()
    assert "SignatureDoesNotMatch" in log and aliyun.sent == []


def test_store_staff_and_marketing_cannot_reach_integrations(alpha: World) -> None:
    for persona in ("manager_a", "marketing", "cashier_b", "service"):
        assert console(alpha, persona).get("/integrations/").status_code == 403


def test_marketing_resends_an_unconfirmed_sms_and_sees_the_phone_masked(alpha: World) -> None:
    from huiyuan.automation.models import Message

    with tenant_context(alpha.tenant):
        message = Message.objects.create(
            member=alpha.member_a,
            channel="sms",
            address=alpha.member_a.phone,
            body="生日快乐",
            status="unconfirmed",
            error="中断",
        )
    client = console(alpha, "marketing")
    page = client.get("/automation/messages/?status=unconfirmed").content.decode()
    assert "138****0001" in page and "+8613800000001" not in page and "13800000001" not in page
    assert client.post("/automation/messages/", {"message": [str(message.pk)]}).status_code == 302
    with tenant_context(alpha.tenant):
        message.refresh_from_db()
        assert message.status == "queued" and message.attempts == 0


def test_hq_links_staff_to_wecom_and_sees_the_callback_url(alpha: World) -> None:
    from huiyuan.integrations.models import StaffIdentity
    from huiyuan.integrations.services import connection_save

    with tenant_context(alpha.tenant):
        conn = connection_save(
            actor=alpha.hq,
            provider="wecom",
            name="企业微信",
            credentials={"corp_secret": "s"},
            settings={"corp_id": "ww1", "agent_id": "1000002", "endpoint": "http://127.0.0.1:9"},
        )
    client = console(alpha, "hq")
    page = client.get(f"/integrations/{conn.pk}/").content.decode()
    assert f"/callbacks/wecom/{conn.pk}/" in page
    client.post(f"/integrations/{conn.pk}/action/", {"do": "identities", "identities": "manager_a=ZhangSan\nnobody=X"})
    with tenant_context(alpha.tenant):
        assert not StaffIdentity.objects.exists()  # a wrong line keeps the old mapping
    client.post(f"/integrations/{conn.pk}/action/", {"do": "identities", "identities": "manager_a=ZhangSan"})
    with tenant_context(alpha.tenant):
        assert list(StaffIdentity.objects.values_list("external_id", flat=True)) == ["ZhangSan"]


def test_hq_adds_a_webhook_and_sees_its_secret_once(alpha: World) -> None:
    client = console(alpha, "hq")
    page = client.post(
        "/integrations/webhooks/", {"do": "create", "url": "https://erp.example.cn/hook", "event_types": ["order.paid"]}
    )
    assert page.status_code == 200 and page.context["new_secret"].startswith("whsec_")
    again = client.get("/integrations/webhooks/").content.decode()
    assert "erp.example.cn/hook" in again and page.context["new_secret"] not in again
    bad = client.post("/integrations/webhooks/", {"do": "create", "url": "erp", "event_types": []})
    assert bad.status_code == 200 and bad.context["errors"]
