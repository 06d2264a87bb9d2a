"""Outbound webhooks: signed with the endpoint's secret (a receiver can verify, and refuses old
timestamps), retried with backoff until 2xx, every try logged with its response code; merchants
without endpoints pay nothing for them."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from huiyuan.integrations import webhooks
from huiyuan.integrations.models import WebhookAttempt
from huiyuan.members.services import member_enroll
from huiyuan.platform.errors import PermissionDenied, ValidationFailed
from huiyuan.platform.events.models import Delivery

from .conftest import World
from .support.automation import drain
from .support.receiver import Receiver


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    yield server
    server.stop()


def test_an_event_reaches_the_endpoint_signed_and_a_failure_is_retried(in_alpha: World, receiver: Receiver) -> None:
    endpoint, secret = webhooks.endpoint_create(actor=in_alpha.hq, url=receiver.url, event_types=["member.created"])
    assert secret.startswith("whsec_") and secret not in endpoint.secret  # stored encrypted
    receiver.statuses = [503]
    member = member_enroll(actor=in_alpha.hq, data={"phone": "13900007001", "name": "钩子"})
    drain()
    assert len(receiver.received) == 1
    first = receiver.received[0]
    assert first["headers"]["X-Huiyuan-Event"] == "member.created"
    assert webhooks.signature_valid(secret, first["headers"]["X-Huiyuan-Signature"], first["body"])
    assert not webhooks.signature_valid("whsec_other", first["headers"]["X-Huiyuan-Signature"], first["body"])
    assert not webhooks.signature_valid(
        secret, first["headers"]["X-Huiyuan-Signature"], first["body"], now=time.time() + 600
    )  # a replay ten minutes later
    assert json.loads(first["body"])["data"]["id"] == member.pk
    failed = WebhookAttempt.objects.get()
    assert (failed.status_code, failed.ok, failed.final) == (503, False, False)
    later = timezone.now() + timedelta(seconds=31)
    with time_machine.travel(later, tick=False):
        drain(until=later)
    assert len(receiver.received) == 2 and json.loads(receiver.received[1]["body"])["attempt"] == 2
    assert list(WebhookAttempt.objects.order_by("pk").values_list("status_code", "ok")) == [(503, False), (200, True)]


def test_events_not_subscribed_and_disabled_endpoints_send_nothing(in_alpha: World, receiver: Receiver) -> None:
    endpoint, _secret = webhooks.endpoint_create(actor=in_alpha.hq, url=receiver.url, event_types=["order.paid"])
    member_enroll(actor=in_alpha.hq, data={"phone": "13900007002"})
    drain()
    assert receiver.received == []
    webhooks.endpoint_set_enabled(actor=in_alpha.hq, endpoint_id=endpoint.pk, enabled=False)
    member_enroll(actor=in_alpha.hq, data={"phone": "13900007003"})
    drain()
    assert not Delivery.objects.filter(
        subscriber=webhooks.FAN_OUT,
        tenant_schema=in_alpha.tenant.schema_name,
        event__event_type="member.created",
        event__payload__phone="+8613900007003",
    ).exists()


def test_merchants_without_endpoints_get_no_webhook_deliveries(in_alpha: World) -> None:
    member_enroll(actor=in_alpha.hq, data={"phone": "13900007004"})
    from huiyuan.platform.events.services import publish_events

    publish_events()
    assert not Delivery.objects.filter(subscriber=webhooks.FAN_OUT).exists()


def test_only_integration_admins_manage_webhooks_and_bad_input_is_named(in_alpha: World) -> None:
    with pytest.raises(PermissionDenied):
        webhooks.endpoint_create(actor=in_alpha.marketing, url="https://x.cn/h", event_types=["order.paid"])
    with pytest.raises(ValidationFailed) as caught:
        webhooks.endpoint_create(actor=in_alpha.hq, url="ftp://x", event_types=["nonsense"])
    assert set(caught.value.fields) == {"url", "event_types"}
