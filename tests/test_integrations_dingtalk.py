"""DingTalk against a local fake: work notifications and to-dos for tasks (a to-do created once,
whatever the retries), tokens fetched again when refused, the group robot's signed webhook and its
limit, and the encrypted callback checked against DingTalk's published vector."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from django.utils import translation
from django_tenants.utils import tenant_context

from huiyuan.automation import workflow
from huiyuan.integrations import services
from huiyuan.integrations.models import Connection, VendorCall
from huiyuan.integrations.registry import VendorRefused, VendorThrottled
from huiyuan.integrations.staff import staff_identities_save
from huiyuan.integrations.wecom_crypto import WeComCrypto

from .conftest import World, api
from .support.automation import drain
from .support.fake_dingtalk import FakeDingTalk

TOKEN, AES_KEY, OWNER = "mryue", "Yue0EfdN5900c1ce5cf6A152c63DDe1808a60c5ecd7", "ding6ccabc44d2c8d38b"


@pytest.fixture
def ding() -> Iterator[FakeDingTalk]:
    fake = FakeDingTalk(OWNER, "ding-secret")
    yield fake
    fake.stop()


def connect(world: World, fake: FakeDingTalk, secret: str = "ding-secret") -> Connection:
    return services.connection_save(
        actor=world.hq,
        provider="dingtalk",
        name="钉钉",
        credentials={
            "app_secret": secret,
            "robot_secret": fake.robot_secret,
            "callback_token": TOKEN,
            "callback_aes_key": AES_KEY,
        },
        settings={
            "app_key": fake.app_key,
            "agent_id": str(fake.agent_id),
            "robot_token": fake.robot_token,
            "oapi": fake.url,
            "api": fake.url,
        },
    )


def test_dingtalks_published_callback_vector() -> None:
    crypto = WeComCrypto(TOKEN, AES_KEY, OWNER)
    encrypted = (
        "0vJiX6vliEpwG3U45CtXqi+m8PXbQRARJ8p8BbDuD1EMTDf0jKpQ79QS93qEk7XHpP6u+oTTrd15NRPvNvmBKyDCYxxOK+HZeKju4y"
        "hELOFchzNukR+t8SB/qk4ROMu3"
    )
    crypto.check("03044561471240d4a14bb09372dfcfd4fd0e40cb", "1608001896814", "WL4PK6yA", encrypted)
    assert json.loads(crypto.decrypt(encrypted)) == {"EventType": "check_url"}


def test_a_task_becomes_a_work_notice_and_one_to_do(in_alpha: World, ding: FakeDingTalk) -> None:
    conn = connect(in_alpha, ding)
    staff_identities_save(actor=in_alpha.hq, connection_id=conn.pk, lines=["manager_a=manager01:union-abc"])
    care = workflow.task_types_ensure().get(key="care")
    task = workflow.task_create(
        actor=in_alpha.service, type_id=care.pk, title="回访张三", member_id=in_alpha.member_a.pk
    )
    drain()
    assert ding.notices[0]["userid_list"] == "manager01"
    assert ding.notices[0]["msg"]["action_card"]["single_url"].endswith(f"/tasks/{task.pk}/")
    todo = ding.todos[f"huiyuan-task-{task.pk}"]
    assert todo["executorIds"] == ["union-abc"] and todo["subject"] == "回访张三"
    provider: Any = services.provider_for(conn)
    again = provider.create_todo(
        union_id="union-abc",
        source_id=f"huiyuan-task-{task.pk}",
        subject="x",
        description="",
        url="http://x",
        due_ms=None,
    )
    assert again.startswith("exists:") and len(ding.todos) == 1  # a retry never makes a second to-do


def test_refused_tokens_are_fetched_again_and_errors_explained(in_alpha: World, ding: FakeDingTalk) -> None:
    provider: Any = services.provider_for(connect(in_alpha, ding))
    provider.send_text(to=["manager01"], content="一")
    ding.oapi_tokens.clear()  # DingTalk forgot the token
    provider.send_text(to=["manager01"], content="二")
    assert [n["msg"]["text"]["content"] for n in ding.notices] == ["一", "二"]
    with translation.override("en"):
        bad = services.connection_test(actor=in_alpha.hq, connection_id=connect(in_alpha, ding, secret="x").pk)
    assert bad.last_test_ok is False and "AppKey or AppSecret is wrong" in bad.last_test_message


def test_the_group_robot_signs_and_hits_its_limit(in_alpha: World, ding: FakeDingTalk) -> None:
    provider: Any = services.provider_for(connect(in_alpha, ding))
    for number in range(20):
        provider.robot_send(markdown_title="日报", markdown=f"第{number}条")
    assert len(ding.robot_messages) == 20
    with pytest.raises(VendorThrottled):
        provider.robot_send(markdown_title="日报", markdown="第21条")
    ding.robot_secret = "SECchanged"
    ding.robot_window.clear()
    with translation.override("en"), pytest.raises(VendorRefused, match="robot refused"):
        provider.robot_send(markdown_title="日报", markdown="签名不对")


def test_the_callback_answers_check_url_with_an_encrypted_success(alpha: World, ding: FakeDingTalk) -> None:
    with tenant_context(alpha.tenant):
        conn = connect(alpha, ding)
    crypto = WeComCrypto(TOKEN, AES_KEY, OWNER)
    encrypted = crypto.encrypt(json.dumps({"EventType": "check_url"}))
    url = f"/callbacks/dingtalk/{conn.pk}/?msg_signature={crypto.signature('5', '6', encrypted)}&timestamp=5&nonce=6"
    reply = api(alpha).post(url, {"encrypt": encrypted}, format="json")
    assert reply.status_code == 200
    answer = reply.json()
    crypto.check(answer["msg_signature"], answer["timeStamp"], answer["nonce"], answer["encrypt"])
    assert crypto.decrypt(answer["encrypt"]) == "success"
    forged = f"/callbacks/dingtalk/{conn.pk}/?msg_signature={'0' * 40}&timestamp=5&nonce=6"
    assert api(alpha).post(forged, {"encrypt": encrypted}, format="json").status_code == 403
    with tenant_context(alpha.tenant):
        assert VendorCall.objects.filter(operation="callback", provider="dingtalk").count() == 1
        Connection.objects.all().delete()


def test_the_fake_answers_dingtalks_official_sdk_as_dingtalk_does(ding: FakeDingTalk) -> None:
    """``alibabacloud-dingtalk`` (a dev-only oracle; our client is thin httpx) gets a token, creates a
    to-do, is told a second one with the same sourceId exists, and raises on a refused token."""
    from alibabacloud_dingtalk.oauth2_1_0 import client as oauth2
    from alibabacloud_dingtalk.oauth2_1_0 import models as oauth2_models
    from alibabacloud_dingtalk.todo_1_0 import client as todo
    from alibabacloud_dingtalk.todo_1_0 import models as todo_models
    from alibabacloud_tea_openapi import models as openapi
    from alibabacloud_tea_util import models as tea_util
    from Tea.exceptions import TeaException

    config = openapi.Config(protocol="http", endpoint=ding.url.split("://")[1])
    token = (
        oauth2.Client(config)
        .get_access_token(oauth2_models.GetAccessTokenRequest(app_key=ding.app_key, app_secret=ding.app_secret))
        .body.access_token
    )
    client = todo.Client(config)
    headers = todo_models.CreateTodoTaskHeaders(x_acs_dingtalk_access_token=token)
    request = todo_models.CreateTodoTaskRequest(
        source_id="sdk-1", subject="回访", executor_ids=["union-1"], operator_id="union-1"
    )
    created = client.create_todo_task_with_options("union-1", request, headers, tea_util.RuntimeOptions())
    assert created.body.id and ding.todos["sdk-1"]["subject"] == "回访"
    with pytest.raises(TeaException) as again:
        client.create_todo_task_with_options("union-1", request, headers, tea_util.RuntimeOptions())
    assert "task exist" in str(again.value.message)
    bad = todo_models.CreateTodoTaskHeaders(x_acs_dingtalk_access_token="forged")
    with pytest.raises(TeaException) as refused:
        client.create_todo_task_with_options("union-1", request, bad, tea_util.RuntimeOptions())
    assert refused.value.code == "InvalidAuthentication"
