"""Login protection: lockout per account and per client address, a clear message, HQ unlock,
failed logins audited; X-Forwarded-For is believed only from trusted proxies."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import time_machine
from django.test import Client
from django.utils import timezone
from django_tenants.utils import tenant_context

from huiyuan.platform.models import AuditEntry

from .conftest import PASSWORD, World, api


def attempt(world: World, login: str, password: str, **meta: Any) -> Any:
    return Client(HTTP_HOST=world.host, **meta).post("/login/", {"username": login, "password": password})


def logged_in(response: Any) -> bool:
    return response.status_code == 302 and "/login" not in response["Location"]


def test_thirty_wrong_passwords_then_the_right_one_stays_locked_until_the_lockout_ends(alpha: World) -> None:
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        answers = [attempt(alpha, "service", "wrong-password") for _ in range(30)]
        assert answers[0].status_code == 200  # the form again, "wrong login or password"
        assert answers[-1].status_code == 429 and "锁定 15 分钟" in answers[-1].content.decode()
        assert not logged_in(attempt(alpha, "service", PASSWORD))
    with time_machine.travel(start + timedelta(minutes=16), tick=False):
        assert logged_in(attempt(alpha, "service", PASSWORD))


def test_the_same_account_under_another_name_gets_no_extra_tries(alpha: World, settings: Any) -> None:
    settings.AXES_FAILURE_LIMIT = 3
    with tenant_context(alpha.tenant):
        alpha.service.email = "service@alpha.cn"
        alpha.service.save(update_fields=["email"])
    for login in ("service", "SERVICE", "service@alpha.cn"):
        attempt(alpha, login, "wrong-password", REMOTE_ADDR=f"10.1.0.{len(login)}")
    assert not logged_in(attempt(alpha, "service@alpha.cn", PASSWORD, REMOTE_ADDR="10.1.0.99"))


def test_one_address_trying_many_accounts_is_locked_out(alpha: World, settings: Any) -> None:
    settings.AXES_FAILURE_LIMIT = 5
    for n in range(6):
        attempt(alpha, f"nobody{n}", "wrong-password", REMOTE_ADDR="203.0.113.7")
    assert attempt(alpha, "hq", PASSWORD, REMOTE_ADDR="203.0.113.7").status_code == 429
    assert logged_in(attempt(alpha, "hq", PASSWORD, REMOTE_ADDR="203.0.113.8"))


def test_a_forged_forwarded_for_neither_escapes_the_lockout_nor_reaches_the_audit(alpha: World, settings: Any) -> None:
    settings.AXES_FAILURE_LIMIT = 5
    for n in range(6):
        attempt(alpha, f"ghost{n}", "wrong", REMOTE_ADDR="198.51.100.4", HTTP_X_FORWARDED_FOR=f"1.2.3.{n}")
    locked = attempt(alpha, "hq", PASSWORD, REMOTE_ADDR="198.51.100.4", HTTP_X_FORWARDED_FOR="9.9.9.9")
    assert locked.status_code == 429
    with tenant_context(alpha.tenant):
        addresses = set(AuditEntry.objects.filter(action="platform.login.failed").values_list("ip_address", flat=True))
    assert addresses == {"198.51.100.4"}


def test_a_trusted_proxy_passes_on_the_client_address(alpha: World, settings: Any) -> None:
    from django.test import RequestFactory

    from huiyuan.platform.context import client_ip

    request = RequestFactory().get("/", REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="6.6.6.6, 203.0.113.9")
    assert client_ip(request) == "10.0.0.2"  # default: nobody is trusted
    settings.HUIYUAN_TRUSTED_PROXIES = "1"
    assert client_ip(request) == "203.0.113.9"  # what the ingress saw; the left hop is the client's claim
    settings.HUIYUAN_TRUSTED_PROXIES = "10.0.0.0/8"
    assert client_ip(request) == "203.0.113.9"
    request.META["HTTP_X_FORWARDED_FOR"] = "6.6.6.6, 10.0.0.9"
    assert client_ip(request) == "6.6.6.6"
    request.META["REMOTE_ADDR"] = "192.0.2.1"  # not a proxy of ours: its header means nothing
    assert client_ip(request) == "192.0.2.1"


def test_failed_logins_are_audited_with_phones_masked_and_hq_can_unlock(alpha: World, settings: Any) -> None:
    settings.AXES_FAILURE_LIMIT = 3
    with tenant_context(alpha.tenant):
        alpha.cashier_b.phone = "+8613912340000"
        alpha.cashier_b.save(update_fields=["phone"])
    for _ in range(3):
        attempt(alpha, "13912340000", "wrong-password", REMOTE_ADDR="10.9.9.9")
    with tenant_context(alpha.tenant):
        shown = set(
            AuditEntry.objects.filter(action__startswith="platform.login.").values_list("object_repr", flat=True)
        )
    assert shown and all("13912340000" not in text for text in shown)
    assert not logged_in(attempt(alpha, "cashier_b", PASSWORD, REMOTE_ADDR="10.9.9.10"))
    hq = api(alpha, "hq")
    page = hq.get(f"/staff/{alpha.cashier_b.pk}/")
    assert "解锁" in page.content.decode()
    assert api(alpha, "manager_a").post(f"/staff/{alpha.cashier_b.pk}/unlock/").status_code in (302, 403)
    assert hq.post(f"/staff/{alpha.cashier_b.pk}/unlock/").status_code == 302
    assert logged_in(attempt(alpha, "cashier_b", PASSWORD, REMOTE_ADDR="10.9.9.10"))
