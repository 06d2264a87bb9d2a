"""Members signing up in the merchant's WeChat mini program, against a local fake of WeChat: the
login code names the person, the phone code their phone; an existing member is linked, not
duplicated; the member token works only for its merchant; bad codes are clear errors."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django_tenants.utils import tenant_context

from huiyuan.integrations import services
from huiyuan.members.models import Member

from .conftest import World, api
from .support.fake_wechat import FakeWeChat


@pytest.fixture
def wechat() -> Iterator[FakeWeChat]:
    fake = FakeWeChat("wx1234567890", "mini-secret")
    yield fake
    fake.stop()


def connect(world: World, fake: FakeWeChat) -> None:
    with tenant_context(world.tenant):
        services.connection_save(
            actor=world.hq,
            provider="wechat_mini",
            name="小程序",
            credentials={"app_secret": fake.secret},
            settings={"app_id": fake.app_id, "endpoint": fake.url},
        )


def test_a_new_person_signs_up_and_comes_back_as_the_same_member(alpha: World, beta: World, wechat: FakeWeChat) -> None:
    connect(alpha, wechat)
    client = api(alpha)
    code, phone_code = wechat.person("openid-1", "13911112222")
    first = client.post(
        "/api/v1/miniprogram/signup", {"code": code, "phone_code": phone_code, "name": "小王"}, format="json"
    )
    assert first.status_code == 200, first.content
    body = first.json()
    assert body["created"] is True and body["member"]["name"] == "小王"
    with tenant_context(alpha.tenant):
        member = Member.objects.get(phone="+8613911112222")
        assert member.channel == "mini_program"
    again_code, _unused = wechat.person("openid-1", "13911112222")
    again = client.post("/api/v1/miniprogram/signup", {"code": again_code}, format="json").json()
    assert again["created"] is False and again["member"]["id"] == member.pk  # no phone code needed now
    me = client.get("/api/v1/miniprogram/me", HTTP_X_MEMBER_TOKEN=body["token"])
    assert me.status_code == 200 and me.json()["card_no"] == member.card_no
    assert api(beta).get("/api/v1/miniprogram/me", HTTP_X_MEMBER_TOKEN=body["token"]).status_code == 401
    assert client.get("/api/v1/miniprogram/me", HTTP_X_MEMBER_TOKEN="forged").status_code == 401


def test_an_existing_member_is_linked_not_duplicated(alpha: World, wechat: FakeWeChat) -> None:
    connect(alpha, wechat)
    code, phone_code = wechat.person("openid-2", "13800000001")  # member_a's phone
    reply = (
        api(alpha).post("/api/v1/miniprogram/signup", {"code": code, "phone_code": phone_code}, format="json").json()
    )
    assert reply["created"] is False and reply["member"]["id"] == alpha.member_a.pk
    with tenant_context(alpha.tenant):
        assert Member.objects.filter(phone="+8613800000001").count() == 1


def test_bad_codes_and_a_merchant_without_a_mini_program_get_clear_errors(alpha: World, wechat: FakeWeChat) -> None:
    client = api(alpha)
    none = client.post("/api/v1/miniprogram/signup", {"code": "x"}, format="json")
    assert none.status_code == 400 and "code" in none.json()["error"]["fields"]
    connect(alpha, wechat)
    used = client.post("/api/v1/miniprogram/signup", {"code": "never-issued"}, format="json")
    assert used.status_code == 400 and "40029" in " ".join(used.json()["error"]["fields"]["code"])
    code, _phone = wechat.person("openid-3", "13700000000")
    first_time = client.post("/api/v1/miniprogram/signup", {"code": code}, format="json")
    assert first_time.status_code == 400 and "phone_code" in first_time.json()["error"]["fields"]
