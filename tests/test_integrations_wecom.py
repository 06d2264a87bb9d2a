"""WeCom against a local fake: the token shared and fetched again when WeCom revokes it early, task
notices as text cards to the right staff with a link back, errors in plain words, and the callback
endpoint (URL check and an encrypted event) verified with the connection's keys."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from django.core.cache import cache
from django_tenants.utils import tenant_context

from huiyuan.automation import workflow
from huiyuan.integrations import services
from huiyuan.integrations.models import Connection, VendorCall
from huiyuan.integrations.registry import VendorRefused, VendorThrottled, VendorUnavailable
from huiyuan.integrations.staff import staff_identities_save
from huiyuan.integrations.tokens import token_get
from huiyuan.integrations.wecom_crypto import WeComCrypto

from .conftest import World, api
from .support.automation import drain
from .support.fake_wecom import FakeWeCom

CALLBACK_TOKEN = "hJqcu3uJ9Tn2gXPmxx2w9kkCkCE2EPYo"
CALLBACK_KEY = "6qkdMrq68nTKduznJYO1A37W2oEgpkMUvkttRToqhUt"


@pytest.fixture(autouse=True)
def _english() -> Iterator[None]:
    """These tests read the vendors' errors as English staff would."""
    from django.utils import translation

    with translation.override("en"):
        yield


@pytest.fixture
def wecom() -> Iterator[FakeWeCom]:
    fake = FakeWeCom("ww1436e0e65a779aee", "app-secret").start()
    yield fake
    fake.stop()


def connect(world: World, fake: FakeWeCom, secret: str = "app-secret") -> Connection:
    return services.connection_save(
        actor=world.hq,
        provider="wecom",
        name="企业微信",
        credentials={"corp_secret": secret, "callback_token": CALLBACK_TOKEN, "callback_aes_key": CALLBACK_KEY},
        settings={"corp_id": fake.corp_id, "agent_id": str(fake.agent_id), "endpoint": fake.url},
    )


def test_a_task_is_pushed_to_the_store_managers_wecom_with_a_link_back(in_alpha: World, wecom: FakeWeCom) -> None:
    conn = connect(in_alpha, wecom)
    staff_identities_save(actor=in_alpha.hq, connection_id=conn.pk, lines=["manager_a=ZhangSan"])
    care = workflow.task_types_ensure().get(key="care")
    task = workflow.task_create(
        actor=in_alpha.service, type_id=care.pk, title="回访张三", member_id=in_alpha.member_a.pk
    )
    drain()
    assert len(wecom.sent) == 1
    card = wecom.sent[0]
    assert card["touser"] == "ZhangSan" and card["msgtype"] == "textcard"
    assert "回访张三" in card["textcard"]["title"] and card["textcard"]["url"].endswith(f"/tasks/{task.pk}/")
    assert VendorCall.objects.get(operation="task_notice").status == "ok"


def test_a_revoked_token_is_fetched_again_once_and_the_call_goes_through(in_alpha: World, wecom: FakeWeCom) -> None:
    provider: Any = services.provider_for(connect(in_alpha, wecom))
    provider.send_text(to=["lisi"], content="第一条")
    wecom.expire_tokens()
    provider.send_text(to=["lisi"], content="第二条")
    assert [m["text"]["content"] for m in wecom.sent] == ["第一条", "第二条"]
    assert wecom.token_requests == 2


def test_workers_share_one_token_and_only_one_fetches_it(in_alpha: World, wecom: FakeWeCom) -> None:
    cache.clear()
    calls: list[int] = []

    def fetch() -> tuple[str, int]:
        calls.append(1)
        threading.Event().wait(0.3)  # a slow vendor: the others must wait, not all ask
        return "shared-token", 7200

    results: list[str] = []
    threads = [threading.Thread(target=lambda: results.append(token_get("storm-test", fetch))) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == ["shared-token"] * 8 and len(calls) == 1


def test_wecom_errors_are_classified_and_wrong_secrets_explained(in_alpha: World, wecom: FakeWeCom) -> None:
    bad = services.connection_test(actor=in_alpha.hq, connection_id=connect(in_alpha, wecom, secret="nope").pk)
    assert bad.last_test_ok is False and "Secret is wrong" in bad.last_test_message
    provider: Any = services.provider_for(connect(in_alpha, wecom))
    wecom.next_errors = [45009]
    with pytest.raises(VendorThrottled):
        provider.send_text(to=["lisi"], content="x")
    wecom.next_errors = [60020]
    with pytest.raises(VendorRefused, match="trusted IPs"):
        provider.send_text(to=["lisi"], content="x")
    with pytest.raises(VendorRefused, match="None of the recipients"):
        provider.send_text(to=["nobody"], content="x")
    wecom.garble_next = True
    with pytest.raises(VendorUnavailable):
        provider.send_text(to=["lisi"], content="x")
    assert wecom.sent == []


def test_the_callback_checks_the_url_and_reads_encrypted_events(alpha: World, wecom: FakeWeCom) -> None:
    with tenant_context(alpha.tenant):
        conn = connect(alpha, wecom)
    client = api(alpha)
    crypto = WeComCrypto(CALLBACK_TOKEN, CALLBACK_KEY, wecom.corp_id)
    echo = crypto.encrypt("1288432023552776189")
    url = f"/callbacks/wecom/{conn.pk}/"
    ok = client.get(
        url, {"msg_signature": crypto.signature("1", "2", echo), "timestamp": "1", "nonce": "2", "echostr": echo}
    )
    assert ok.status_code == 200 and ok.content == b"1288432023552776189"
    forged = client.get(url, {"msg_signature": "0" * 40, "timestamp": "1", "nonce": "2", "echostr": echo})
    assert forged.status_code == 403
    event = crypto.encrypt(
        "<xml><ToUserName>ww1436e0e65a779aee</ToUserName><FromUserName>ZhangSan</FromUserName>"
        "<MsgType>text</MsgType><Content>已回访</Content><MsgId>77</MsgId></xml>"
    )
    body = f"<xml><ToUserName><![CDATA[{wecom.corp_id}]]></ToUserName><Encrypt><![CDATA[{event}]]></Encrypt></xml>"
    posted = client.post(
        f"{url}?msg_signature={crypto.signature('3', '4', event)}&timestamp=3&nonce=4", body, content_type="text/xml"
    )
    assert posted.status_code == 200
    with tenant_context(alpha.tenant):
        logged = VendorCall.objects.get(operation="callback")
        assert logged.recipient == "ZhangSan" and "已回访" in logged.error_message
        Connection.objects.all().delete()


def test_a_member_added_on_wecom_is_linked_and_a_rule_tags_them_there(alpha: World, wecom: FakeWeCom) -> None:
    import time_machine

    from huiyuan.automation import rules
    from huiyuan.integrations.models import MemberIdentity
    from huiyuan.members.services import member_update

    from .test_automation import at

    with tenant_context(alpha.tenant):
        conn = connect(alpha, wecom)
    wecom.customers["wmCustomer01"] = {
        "external_contact": {"external_userid": "wmCustomer01", "name": "张三", "type": 1},
        "follow_user": [{"userid": "ZhangSan", "remark_mobiles": ["13800000001"], "tags": []}],
    }
    crypto = WeComCrypto(CALLBACK_TOKEN, CALLBACK_KEY, wecom.corp_id)
    event = crypto.encrypt(
        "<xml><ToUserName>ww1436e0e65a779aee</ToUserName><FromUserName>sys</FromUserName><MsgType>event</MsgType>"
        "<Event>change_external_contact</Event><ChangeType>add_external_contact</ChangeType><UserID>ZhangSan</UserID>"
        "<ExternalUserID>wmCustomer01</ExternalUserID></xml>"
    )
    body = f"<xml><Encrypt><![CDATA[{event}]]></Encrypt></xml>"
    url = f"/callbacks/wecom/{conn.pk}/?msg_signature={crypto.signature('7', '8', event)}&timestamp=7&nonce=8"
    assert api(alpha).post(url, body, content_type="text/xml").status_code == 200
    with tenant_context(alpha.tenant):
        identity = MemberIdentity.objects.get()
        assert identity.member_id == alpha.member_a.pk and identity.union_id == "ZhangSan"
        with time_machine.travel(at(2027, 3, 1, 10, 0), tick=False):
            rule = rules.rule_save(
                actor=alpha.hq,
                name="企微打标",
                trigger={"type": "event:member.updated"},
                actions=[{"type": "wecom_tag", "wecom_tag_id": "etVIP001"}],
            )
            rules.rule_set_status(actor=alpha.hq, rule_id=rule.pk, status="active")
            member_update(actor=alpha.hq, member_id=alpha.member_a.pk, data={"city": "苏州"})
            drain()
        assert wecom.tags == [
            {"userid": "ZhangSan", "external_userid": "wmCustomer01", "add_tag": ["etVIP001"], "remove_tag": []}
        ]
        member_update(actor=alpha.hq, member_id=alpha.member_b.pk, data={"city": "苏州"})  # not a WeCom customer
        drain()
        assert len(wecom.tags) == 1
        Connection.objects.all().delete()
