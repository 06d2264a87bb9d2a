"""Deliveries: each subscriber handles each event exactly once, counted by its effect."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from django.db import connection, transaction
from django.test import TestCase
from django.utils import timezone

from huiyuan.platform.events.models import Delivery, OutboxEvent
from huiyuan.platform.events.services import (
    deliveries_redispatch,
    deliveries_retry,
    delivery_handle,
    event_record,
    publish_events,
)
from huiyuan.platform.models import AuditEntry

from .conftest import World
from .support.delivery_probe import PROBE_ACTION, PROBE_EVENT, PROBE_SUBSCRIBER


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Delivery ids handed to the broker (the broker itself is exercised by the worker tests)."""
    from huiyuan.platform.events import tasks

    ids: list[int] = []
    monkeypatch.setattr(tasks.deliver_event, "apply_async", lambda args, **_: ids.append(args[0]))
    return ids


def probe_delivery(payload: dict[str, Any] | None = None) -> Delivery:
    """A published probe event's delivery; its message is sent as it would be after commit."""
    event = event_record(PROBE_EVENT, payload or {})
    with TestCase.captureOnCommitCallbacks(execute=True):
        publish_events(ids=[event.pk])
    return Delivery.objects.get(event=event, subscriber=PROBE_SUBSCRIBER)


def effects(delivery: Delivery) -> int:
    return AuditEntry.objects.filter(action=PROBE_ACTION, object_id=str(delivery.event_id)).count()


def test_a_duplicate_message_does_nothing(in_alpha: World, sent: list[int]) -> None:
    delivery = probe_delivery()
    assert delivery.pk in sent and delivery.status == Delivery.Status.PENDING
    assert delivery_handle(delivery.pk) == "handled"
    assert delivery_handle(delivery.pk) == "skipped"
    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.HANDLED and delivery.handled_at is not None
    assert effects(delivery) == 1


def test_a_failing_subscriber_keeps_nothing_backs_off_and_ends_dead(
    in_alpha: World, sent: list[int], settings: Any
) -> None:
    settings.HUIYUAN_DELIVERY_MAX_ATTEMPTS = 3
    settings.HUIYUAN_DELIVERY_RETRY_BASE = 10
    delivery = probe_delivery({"fail": True})
    before = timezone.now()
    assert delivery_handle(delivery.pk) == "failed"
    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.PENDING and delivery.attempts == 1
    assert "told to fail" in delivery.last_error
    assert (delivery.next_attempt_at - before).total_seconds() >= 10  # not resent before the backoff
    delivery_handle(delivery.pk)
    delivery.refresh_from_db()
    assert (delivery.next_attempt_at - before).total_seconds() >= 20  # doubled
    delivery_handle(delivery.pk)
    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.DEAD and delivery.attempts == 3
    assert delivery_handle(delivery.pk) == "skipped"  # dead stays dead until an admin says otherwise
    assert effects(delivery) == 0


def test_an_admin_retry_revives_a_dead_delivery_which_the_sweep_sends(in_alpha: World, sent: list[int]) -> None:
    delivery = probe_delivery()
    Delivery.objects.filter(pk=delivery.pk).update(status=Delivery.Status.DEAD, attempts=8, last_error="boom")
    assert deliveries_retry() == 1
    sent.clear()
    with TestCase.captureOnCommitCallbacks(execute=True):
        assert deliveries_redispatch() == 1
    assert sent == [delivery.pk]
    assert delivery_handle(delivery.pk) == "handled" and effects(delivery) == 1


def test_the_sweep_resends_only_deliveries_not_handled_in_time(in_alpha: World, sent: list[int]) -> None:
    fresh = probe_delivery()
    stale = probe_delivery()
    handled = probe_delivery()
    delivery_handle(handled.pk)
    Delivery.objects.filter(pk__in=[stale.pk, handled.pk]).update(next_attempt_at=timezone.now())
    sent.clear()
    deliveries_redispatch()
    assert sent == [stale.pk]
    stale.refresh_from_db()
    assert stale.dispatches == 2 and stale.next_attempt_at > timezone.now()
    assert fresh.pk not in sent


def test_a_message_that_keeps_vanishing_is_declared_dead(in_alpha: World, sent: list[int], settings: Any) -> None:
    settings.HUIYUAN_DELIVERY_MAX_ATTEMPTS = 2
    delivery = probe_delivery()
    for _ in range(8):
        Delivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now())
        deliveries_redispatch()
    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.DEAD and "without being handled" in delivery.last_error


def test_events_without_subscribers_are_published_with_no_deliveries(in_alpha: World, sent: list[int]) -> None:
    event = event_record("tests.nobody_listens", {})
    assert publish_events(ids=[event.pk]) == 1
    event.refresh_from_db()
    assert event.published_at is not None and not event.deliveries.exists()


@pytest.mark.slow
def test_a_duplicate_arriving_while_the_first_runs_waits_and_then_does_nothing(
    committed: dict[str, World], sent: list[int]
) -> None:
    from django_tenants.utils import tenant_context

    alpha = committed["alpha"]
    try:
        with tenant_context(alpha.tenant):
            delivery = probe_delivery({"sleep": 0.5})
        results: list[str] = []

        def handle() -> None:
            with tenant_context(alpha.tenant):
                results.append(delivery_handle(delivery.pk))
            connection.close()

        threads = [threading.Thread(target=handle) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(results) == ["handled", "skipped", "skipped", "skipped"]
        with tenant_context(alpha.tenant):
            assert effects(delivery) == 1
            AuditEntry.objects.filter(action__startswith="tests.probe.").delete()
    finally:
        OutboxEvent.objects.filter(tenant_schema=alpha.tenant.schema_name).delete()
        connection.set_schema_to_public()


def test_publishing_inside_a_transaction_sends_after_its_commit(
    in_alpha: World, sent: list[int], django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        event = event_record(PROBE_EVENT, {})
        publish_events(ids=[event.pk])
        assert sent == []
    assert sorted(sent) == sorted(Delivery.objects.filter(event=event).values_list("pk", flat=True))


def dead_delivery(world: World, error: str) -> Delivery:
    """A delivery that failed eight times, in the world's merchant."""
    from django_tenants.utils import tenant_context

    with tenant_context(world.tenant):
        return Delivery.objects.create(
            event=event_record(PROBE_EVENT, {}),
            tenant_schema=world.tenant.schema_name,
            subscriber=PROBE_SUBSCRIBER,
            status=Delivery.Status.DEAD,
            attempts=8,
            next_attempt_at=timezone.now(),
            last_error=error,
        )


def test_hq_sees_and_retries_dead_deliveries_of_its_own_merchant_only(alpha: World, beta: World) -> None:
    from .conftest import api

    dead = dead_delivery(alpha, "RuntimeError: SMS gateway said no")
    listed = api(alpha, "hq").get("/api/v1/event-deliveries?status=dead").json()
    assert [(d["id"], d["event_type"], d["last_error"]) for d in listed["results"]] == [
        (dead.pk, PROBE_EVENT, "RuntimeError: SMS gateway said no")
    ]
    assert api(beta, "hq").get("/api/v1/event-deliveries?status=dead").json()["results"] == []
    assert api(alpha, "cashier_b").get("/api/v1/event-deliveries").status_code == 403
    assert api(alpha, "hq").get("/api/v1/event-deliveries?status=lost").status_code == 400
    assert api(beta, "hq").post("/api/v1/event-deliveries/retry", {}, format="json").json() == {"revived": 0}
    assert api(alpha, "hq").post("/api/v1/event-deliveries/retry", {"ids": [dead.pk]}, format="json").json() == {
        "revived": 1
    }
    dead.refresh_from_db()
    assert dead.status == Delivery.Status.PENDING and dead.attempts == 0


def test_hq_retries_failed_deliveries_in_the_console(alpha: World) -> None:
    from .conftest import api

    dead = dead_delivery(alpha, "SmsError: 签名不存在")
    hq = api(alpha, "hq")
    assert "/deliveries/" in hq.get("/audit/").content.decode()  # reached from the audit log
    page = hq.get("/deliveries/").content.decode()
    assert "签名不存在" in page and "测试探针" in page  # what handles it, by name, not by code
    assert api(alpha, "cashier_b").get("/deliveries/").status_code in (302, 403)
    assert hq.post("/deliveries/", {"ids": [dead.pk]}, format="multipart").status_code == 302
    dead.refresh_from_db()
    assert dead.status == Delivery.Status.PENDING
