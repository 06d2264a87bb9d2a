"""Kingdee K3Cloud finance sync against a local fake: stored-value top-ups with principal and bonus
as separate lines, spending, refunds and points used as cash, each posted once even when run twice,
when the ERP's answer is lost, or when the session is lost; failures listed with the ERP's message."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import pytest
from django.utils import translation

from huiyuan.integrations import services
from huiyuan.integrations.finance import finance_sync
from huiyuan.integrations.models import Connection, FinanceDocument
from huiyuan.loyalty.ledger import stored_value_spend, stored_value_topup
from huiyuan.loyalty.models import Cause

from .conftest import World
from .support.fake_kingdee import FakeK3Cloud


@pytest.fixture
def k3() -> Iterator[FakeK3Cloud]:
    fake = FakeK3Cloud("62a1f0c8b9", "api_user", "287878_xyz", "k3-secret")
    yield fake
    fake.stop()


def connect(world: World, fake: FakeK3Cloud, secret: str = "k3-secret") -> Connection:
    return services.connection_save(
        actor=world.hq,
        provider="kingdee_k3cloud",
        name="金蝶云星空",
        credentials={"app_id": fake.app_id, "app_secret": secret},
        settings={
            "server_url": fake.url,
            "acct_id": fake.acct_id,
            "username": fake.username,
            "org_number": "100",
            "customer_number": "CUST-MEMBERS",
            "settlement_type": "JSFS04_SYS",
        },
    )


def topup(world: World, key: str, principal: str, bonus: str) -> None:
    stored_value_topup(
        member_id=world.member_a.pk,
        principal=Decimal(principal),
        bonus=Decimal(bonus),
        idempotency_key=key,
        cause=Cause.STAFF,
    )


def test_a_top_up_is_posted_once_with_principal_and_bonus_lines_even_when_run_twice(
    in_alpha: World, k3: FakeK3Cloud
) -> None:
    conn = connect(in_alpha, k3)
    topup(in_alpha, "k3-1", "500", "50")
    stored_value_spend(member_id=in_alpha.member_a.pk, amount=Decimal("120"), idempotency_key="k3-spend")
    assert finance_sync(connection=conn) == {"posted": 2, "already_there": 0, "failed": 0}
    assert finance_sync(connection=conn) == {"posted": 0, "already_there": 0, "failed": 0}
    assert k3.saves == 2
    receipt = next(b for no, b in k3.bills.items() if no.startswith("HY-SVTOPUP-"))
    lines = receipt["model"]["FRECEIVEBILLENTRY"]
    assert [(line["FPURPOSEID"]["FNumber"], line["FRECTOTALAMOUNTFOR"]) for line in lines] == [
        ("SFKYT01_SYS", "500.00"),
        ("SFKYT02_SYS", "50.00"),
    ]
    assert receipt["model"]["FCONTACTUNIT"] == {"FNumber": "CUST-MEMBERS"}
    assert FinanceDocument.objects.filter(status="posted").count() == 2


def test_an_answer_lost_after_the_erp_saved_is_not_posted_again(in_alpha: World, k3: FakeK3Cloud) -> None:
    conn = connect(in_alpha, k3)
    topup(in_alpha, "k3-2", "300", "0")
    k3.drop_answer_next = True
    assert finance_sync(connection=conn)["failed"] == 1
    assert finance_sync(connection=conn) == {"posted": 0, "already_there": 1, "failed": 0}
    assert k3.saves == 1 and FinanceDocument.objects.get().status == "posted"


def test_a_lost_session_is_renewed_once_and_the_call_limit_stops_the_run(in_alpha: World, k3: FakeK3Cloud) -> None:
    conn = connect(in_alpha, k3)
    topup(in_alpha, "k3-3", "100", "10")
    topup(in_alpha, "k3-4", "100", "10")
    assert services.connection_test(actor=in_alpha.hq, connection_id=conn.pk).last_test_ok
    k3.lose_sessions()  # K3Cloud forgot the session the test's login opened
    assert finance_sync(connection=conn)["posted"] == 2
    assert k3.logins == 2  # the test's login, then one renewal
    topup(in_alpha, "k3-5", "100", "0")
    topup(in_alpha, "k3-6", "100", "0")
    k3.next_msg_codes = [14]
    assert finance_sync(connection=conn) == {"posted": 0, "already_there": 0, "failed": 1}
    assert finance_sync(connection=conn)["posted"] == 2


def test_refusals_are_listed_with_the_erps_message_and_wrong_credentials_explained(
    in_alpha: World, k3: FakeK3Cloud
) -> None:
    with translation.override("en"):
        bad = services.connection_test(actor=in_alpha.hq, connection_id=connect(in_alpha, k3, secret="nope").pk)
    assert bad.last_test_ok is False and "用户名或应用密钥错误" in bad.last_test_message
    conn = connect(in_alpha, k3)
    topup(in_alpha, "k3-7", "80", "0")
    k3.garble_next = True
    assert finance_sync(connection=conn)["failed"] == 1
    failed = FinanceDocument.objects.get()
    assert failed.status == "failed" and "UNREADABLE_REPLY" in failed.error


def test_the_fake_accepts_what_the_official_sdk_signs_and_refuses_a_wrong_secret(k3: FakeK3Cloud) -> None:
    """Kingdee's own SDK (``kingdee-cdp-webapi-sdk``, a dev-only oracle: it turns TLS checks off, so it
    is not shipped) signs each request; the fake must accept it, and refuse it signed with another secret."""
    import json as jsonlib

    from k3cloud_webapi_sdk.main import K3CloudApiSdk

    model = {
        "FBillNo": "SDK-0001",
        "FDATE": "2027-03-01",
        "FCONTACTUNIT": {"FNumber": "C1"},
        "FSETTLEORGID": {"FNumber": "100"},
    }
    sdk = K3CloudApiSdk(k3.url)
    sdk.InitConfig(k3.acct_id, k3.username, k3.app_id, k3.app_secret, k3.url)
    reply = jsonlib.loads(sdk.Save("AR_RECEIVEBILL", {"Model": model}))
    assert reply["Result"]["ResponseStatus"]["IsSuccess"] is True and "SDK-0001" in k3.bills
    duplicate = jsonlib.loads(sdk.Save("AR_RECEIVEBILL", {"Model": model}))
    assert duplicate["Result"]["ResponseStatus"]["IsSuccess"] is False  # as the ERP refuses a repeated number
    wrong = K3CloudApiSdk(k3.url)
    wrong.InitConfig(k3.acct_id, k3.username, k3.app_id, "not-the-secret", k3.url)
    refused = jsonlib.loads(wrong.Save("AR_RECEIVEBILL", {"Model": {**model, "FBillNo": "SDK-0002"}}))
    assert refused["Result"]["ResponseStatus"]["MsgCode"] == 1 and "SDK-0002" not in k3.bills
