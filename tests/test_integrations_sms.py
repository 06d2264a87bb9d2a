"""SMS integrations against local fakes of Aliyun and Tencent Cloud that check the vendors'
signatures: connect and test in plain words, send from an automation rule with the vendor template's
parameters filled, errors classified (refused, throttled, unreachable, garbled), every call logged
with the phone masked, credentials encrypted at rest and rotatable."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import time_machine
from cryptography.fernet import Fernet

from huiyuan.automation import rules
from huiyuan.automation.models import Message
from huiyuan.automation.sending import message_send
from huiyuan.integrations import services
from huiyuan.integrations.crypto import CredentialsUnreadable, credentials_decrypt
from huiyuan.integrations.models import Connection, SmsTemplate, VendorCall
from huiyuan.integrations.registry import VendorRefused, VendorThrottled, VendorUnavailable
from huiyuan.members.models import Member
from huiyuan.members.services import member_update

from .conftest import World
from .support.automation import drain
from .support.fake_sms import FakeAliyunSms, FakeTencentSms
from .test_automation import at


@pytest.fixture(autouse=True)
def _english() -> Iterator[None]:
    """These tests read the vendors' errors as English staff would."""
    from django.utils import translation

    with translation.override("en"):
        yield


@pytest.fixture
def aliyun() -> Iterator[FakeAliyunSms]:
    fake = FakeAliyunSms("LTAI5tFakeKey", "fake-secret-1").start()
    yield fake
    fake.stop()


@pytest.fixture
def tencent() -> Iterator[FakeTencentSms]:
    fake = FakeTencentSms("AKIDfake", "fake-secret-2").start()
    yield fake
    fake.stop()


def connect_aliyun(world: World, fake: FakeAliyunSms, secret: str = "fake-secret-1") -> Connection:
    return services.connection_save(
        actor=world.hq,
        provider="aliyun_sms",
        name="阿里云",
        credentials={"access_key_id": fake.key_id, "access_key_secret": secret},
        settings={"sign_name": "会员通", "endpoint": fake.url},
    )


def test_connecting_aliyun_tests_it_and_keeps_the_secret_encrypted(in_alpha: World, aliyun: FakeAliyunSms) -> None:
    conn = connect_aliyun(in_alpha, aliyun)
    assert "fake-secret-1" not in conn.credentials  # encrypted at rest
    tested = services.connection_test(actor=in_alpha.hq, connection_id=conn.pk)
    assert tested.last_test_ok and "会员通" in tested.last_test_message and "approved" in tested.last_test_message
    assert aliyun.sent == []  # testing sends nothing


def test_wrong_credentials_are_said_in_plain_words_and_nothing_is_sent(in_alpha: World, aliyun: FakeAliyunSms) -> None:
    conn = connect_aliyun(in_alpha, aliyun, secret="not-the-secret")
    tested = services.connection_test(actor=in_alpha.hq, connection_id=conn.pk)
    assert tested.last_test_ok is False
    assert "does not match" in tested.last_test_message and "SignatureDoesNotMatch" in tested.last_test_message
    assert aliyun.sent == []
    call = VendorCall.objects.get()
    assert call.status == "failed" and call.error_code == "SignatureDoesNotMatch"


def test_an_edit_leaving_the_secret_empty_keeps_it(in_alpha: World, aliyun: FakeAliyunSms) -> None:
    conn = connect_aliyun(in_alpha, aliyun)
    services.connection_save(
        actor=in_alpha.hq,
        provider="aliyun_sms",
        name="阿里云(新)",
        credentials={"access_key_id": aliyun.key_id, "access_key_secret": ""},
        settings={"sign_name": "会员通", "endpoint": aliyun.url},
        connection_id=conn.pk,
    )
    conn.refresh_from_db()
    assert credentials_decrypt(conn.credentials)["access_key_secret"] == "fake-secret-1"


def test_credentials_rotate_to_a_new_key_and_the_old_key_alone_cannot_read_them(
    in_alpha: World, aliyun: FakeAliyunSms, settings: Any
) -> None:
    from django.core.management import call_command

    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.HUIYUAN_CREDENTIALS_KEYS = [old]
    conn = connect_aliyun(in_alpha, aliyun)
    settings.HUIYUAN_CREDENTIALS_KEYS = [new, old]
    call_command("rotate_credentials", stdout=open("/dev/null", "w"))  # noqa: SIM115
    conn.refresh_from_db()
    settings.HUIYUAN_CREDENTIALS_KEYS = [new]
    assert credentials_decrypt(conn.credentials)["access_key_secret"] == "fake-secret-1"
    settings.HUIYUAN_CREDENTIALS_KEYS = [old]
    with pytest.raises(CredentialsUnreadable):
        credentials_decrypt(conn.credentials)


def _sms_rule(world: World, template: SmsTemplate) -> None:
    rule = rules.rule_save(
        actor=world.hq,
        name="短信",
        trigger={"type": "event:member.updated"},
        actions=[{"type": "send_message", "channel": "sms", "sms_template_id": template.pk}],
    )
    rules.rule_set_status(actor=world.hq, rule_id=rule.pk, status="active")


def test_a_rule_sends_an_sms_with_the_vendor_templates_parameters(in_alpha: World, aliyun: FakeAliyunSms) -> None:
    conn = connect_aliyun(in_alpha, aliyun)
    template = SmsTemplate.objects.create(
        connection=conn, name="欢迎", vendor_code="SMS_100001", params={"name": "{{name}}", "card": "{{card_no}}"}
    )
    Member.objects.filter(pk=in_alpha.member_a.pk).update(consent_sms=True)
    with time_machine.travel(at(2027, 3, 1, 10, 0), tick=False):
        _sms_rule(in_alpha, template)
        member_update(actor=in_alpha.hq, member_id=in_alpha.member_a.pk, data={"city": "苏州"})
        drain()
    assert aliyun.sent == [
        {
            "phone": "13800000001",
            "sign": "会员通",
            "template": "SMS_100001",
            "params": {"name": "Alpha-张三", "card": "Alpha-0001"},
            "out_id": aliyun.sent[0]["out_id"],
            "biz_id": "1^0",
        }
    ]
    message = Message.objects.get()
    assert message.status == Message.Status.SENT and message.vendor_message_id == "1^0"
    call = VendorCall.objects.get(operation="send_sms")
    assert call.recipient == "138****0001" and call.status == "ok" and call.reference.startswith("automation:step:")


def test_no_consent_no_sms(in_alpha: World, aliyun: FakeAliyunSms) -> None:
    conn = connect_aliyun(in_alpha, aliyun)
    template = SmsTemplate.objects.create(connection=conn, name="x", vendor_code="SMS_1", params={})
    with time_machine.travel(at(2027, 3, 1, 10, 0), tick=False):
        _sms_rule(in_alpha, template)
        member_update(actor=in_alpha.hq, member_id=in_alpha.member_a.pk, data={"city": "苏州"})
        drain()
    assert aliyun.requests == 0 and not Message.objects.exists()


def test_vendor_errors_are_classified(in_alpha: World, aliyun: FakeAliyunSms, tencent: FakeTencentSms) -> None:
    conn = connect_aliyun(in_alpha, aliyun)
    provider: Any = services.provider_for(conn)
    aliyun.next_errors = ["isv.MOBILE_NUMBER_ILLEGAL"]
    with pytest.raises(VendorRefused, match="not valid"):
        provider.send_sms(phone="+8613800000001", template_code="SMS_1", params={}, reference="r")
    aliyun.next_errors = ["isv.BUSINESS_LIMIT_CONTROL"]
    with pytest.raises(VendorThrottled):
        provider.send_sms(phone="+8613800000001", template_code="SMS_1", params={}, reference="r")
    aliyun.garble_next = True
    with pytest.raises(VendorUnavailable):
        provider.send_sms(phone="+8613800000001", template_code="SMS_1", params={}, reference="r")
    aliyun.stop()
    with pytest.raises(VendorUnavailable):
        provider.send_sms(phone="+8613800000001", template_code="SMS_1", params={}, reference="r")
    assert aliyun.sent == []

    tconn = services.connection_save(
        actor=in_alpha.hq,
        provider="tencent_sms",
        name="腾讯云",
        credentials={"secret_id": tencent.key_id, "secret_key": tencent.secret},
        settings={"sdk_app_id": "1400006666", "sign_name": "会员通", "endpoint": tencent.url},
    )
    tprovider: Any = services.provider_for(tconn)
    assert tprovider.send_sms(phone="+8613800000002", template_code="1110", params=["张三"], reference="r") == "2019:1"
    tencent.next_errors = ["LimitExceeded.PhoneNumberDailyLimit"]
    with pytest.raises(VendorThrottled):
        tprovider.send_sms(phone="+8613800000002", template_code="1110", params=[], reference="r")
    tencent.next_errors = ["FailedOperation.TemplateIncorrectOrUnapproved"]
    with pytest.raises(VendorRefused, match="template is not approved"):
        tprovider.send_sms(phone="+8613800000002", template_code="1110", params=[], reference="r")
    tencent.garble_next = True
    with pytest.raises(VendorUnavailable):
        tprovider.send_sms(phone="+8613800000002", template_code="1110", params=[], reference="r")
    tested = services.connection_test(actor=in_alpha.hq, connection_id=tconn.pk)
    assert tested.last_test_ok and "8766" in tested.last_test_message


def test_a_throttled_sms_goes_back_to_the_queue_and_a_refused_one_fails(in_alpha: World, aliyun: FakeAliyunSms) -> None:
    conn = connect_aliyun(in_alpha, aliyun)
    template = SmsTemplate.objects.create(connection=conn, name="x", vendor_code="SMS_1", params={"n": "{{name}}"})
    Member.objects.filter(pk__in=[in_alpha.member_a.pk, in_alpha.member_b.pk]).update(consent_sms=True)
    with time_machine.travel(at(2027, 3, 1, 10, 0), tick=False):
        _sms_rule(in_alpha, template)
        aliyun.next_errors = ["isv.BUSINESS_LIMIT_CONTROL", "isv.SMS_TEMPLATE_ILLEGAL"]
        member_update(actor=in_alpha.hq, member_id=in_alpha.member_a.pk, data={"city": "苏州"})
        member_update(actor=in_alpha.hq, member_id=in_alpha.member_b.pk, data={"city": "苏州"})
        drain()
    statuses = dict(Message.objects.values_list("member_id", "status"))
    assert sorted(statuses.values()) == ["failed", "queued"]
    queued = Message.objects.get(status="queued")
    assert queued.attempts == 1 and "BUSINESS_LIMIT_CONTROL" in queued.error
    assert message_send(queued.pk) == "sent"  # the retry, once the vendor lets it through
    assert len(aliyun.sent) == 1


def test_integrations_are_for_hq_only(in_alpha: World, aliyun: FakeAliyunSms) -> None:
    from huiyuan.platform.errors import PermissionDenied

    with pytest.raises(PermissionDenied):
        services.connection_save(actor=in_alpha.manager_a, provider="aliyun_sms", name="x", credentials={}, settings={})
    with pytest.raises(PermissionDenied):
        services.connection_list(actor=in_alpha.marketing)


def test_connections_over_the_api_never_show_secrets(alpha: World, aliyun: FakeAliyunSms) -> None:
    from .conftest import api

    hq = api(alpha, "hq")
    created = hq.post(
        "/api/v1/integrations/connections",
        {
            "provider": "aliyun_sms",
            "name": "阿里云",
            "credentials": {"access_key_id": aliyun.key_id, "access_key_secret": "fake-secret-1"},
            "settings": {"sign_name": "会员通", "endpoint": aliyun.url},
        },
        format="json",
    )
    assert created.status_code == 201 and created.json()["last_test_ok"] is True
    listed = hq.get("/api/v1/integrations/connections").content.decode()
    assert "fake-secret-1" not in listed and "credentials" not in listed
    assert hq.get("/api/v1/integrations/calls").json()["count"] == 1
    assert api(alpha, "marketing").get("/api/v1/integrations/connections").status_code == 403
    bad = hq.post("/api/v1/integrations/connections", {"provider": "nope", "name": "x"}, format="json")
    assert bad.status_code == 400 and "provider" in bad.json()["error"]["fields"]
