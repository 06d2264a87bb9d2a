"""Celery tasks run in the tenant they were sent from; the outbox publishes only committed events
and survives a broker outage."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from celery.contrib.testing.worker import start_worker
from django.db import connection, transaction
from django_tenants.utils import schema_context, tenant_context

from huiyuan.members.models import Member
from huiyuan.members.services import member_enroll
from huiyuan.platform.celery import TenantContextMissing, app, tenant_task
from huiyuan.platform.events import registry
from huiyuan.platform.events.models import Delivery, OutboxEvent
from huiyuan.platform.events.services import deliveries_redispatch, publish_events
from huiyuan.platform.models import AuditEntry

from .conftest import World

seen: list[tuple[str, Any]] = []


@tenant_task(name="tests.read_member_one")
def read_member_one(label: str) -> None:
    seen.append((label, Member.objects.get(pk=1).name))


def wait_for(condition: Callable[[], bool], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError("timed out waiting for the worker")


@pytest.fixture
def worker(committed: dict[str, World]) -> Iterator[None]:
    app.control.purge()
    with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=10):
        yield


@pytest.fixture
def recorder() -> Iterator[list[registry.Event]]:
    received: list[registry.Event] = []
    registry.subscribe("member.created", "tests.recorder", received.append)
    yield received
    registry.unsubscribe("member.created", "tests.recorder")


@pytest.fixture
def broker_down() -> Iterator[Callable[[bool], None]]:
    """Point the app at a port where no broker listens, and back."""
    real_url = app.conf.broker_url

    def set_down(down: bool) -> None:
        app.conf.broker_url = "redis://127.0.0.1:1/0" if down else real_url
        app.conf.broker_transport_options = {**app.conf.broker_transport_options, "max_retries": 1}
        app._pool = None
        app.amqp._producer_pool = None

    yield set_down
    set_down(False)


def cleanup(world: World, phone: str) -> None:
    with tenant_context(world.tenant):
        Member.objects.filter(phone=phone).delete()
        AuditEntry.objects.filter(action="members.member.create").delete()
    OutboxEvent.objects.filter(tenant_schema=world.tenant.schema_name).delete()
    connection.set_schema_to_public()


@pytest.mark.slow
def test_tasks_run_in_the_schema_they_were_sent_from(worker: None, committed: dict[str, World]) -> None:
    seen.clear()
    for _round in range(3):
        for label in ("alpha", "beta"):
            with tenant_context(committed[label].tenant):
                read_member_one.delay(label)
    wait_for(lambda: len(seen) == 6)
    assert sorted(set(seen)) == [("alpha", "Alpha-张三"), ("beta", "Beta-张三")]


def test_tenant_task_sent_from_public_fails_loudly(alpha: World) -> None:
    with schema_context("public"), pytest.raises(TenantContextMissing):
        read_member_one.delay("public")


def test_tenant_task_that_arrives_without_tenant_refuses_to_run(alpha: World) -> None:
    result = read_member_one.apply(args=["public"], headers={"_schema_name": "public"})
    assert isinstance(result.result, TenantContextMissing)


def test_rolled_back_change_emits_nothing(in_alpha: World, recorder: list[registry.Event]) -> None:
    before = OutboxEvent.objects.count()
    with pytest.raises(RuntimeError), transaction.atomic():
        member_enroll(actor=in_alpha.owner, phone="13500000001", name="回滚")
        assert OutboxEvent.objects.count() == before + 1
        raise RuntimeError("payment failed")
    assert OutboxEvent.objects.count() == before
    assert not Member.objects.filter(phone="+8613500000001").exists()


@pytest.mark.slow
def test_committed_event_reaches_subscribers(
    worker: None, committed: dict[str, World], recorder: list[registry.Event]
) -> None:
    alpha = committed["alpha"]
    try:
        with tenant_context(alpha.tenant):
            member = member_enroll(actor=alpha.owner, phone="13500000002", name="提交")
        wait_for(lambda: len(recorder) == 1)
        assert recorder[0].type == "member.created"
        assert recorder[0].payload["id"] == member.pk and recorder[0].payload["name"] == "提交"
        assert OutboxEvent.objects.get(pk=recorder[0].id).published_at is not None
    finally:
        cleanup(alpha, "+8613500000002")


@pytest.mark.slow
def test_broker_outage_delays_events_without_losing_them(
    committed: dict[str, World], recorder: list[registry.Event], broker_down: Callable[[bool], None]
) -> None:
    alpha = committed["alpha"]
    try:
        broker_down(True)
        with tenant_context(alpha.tenant):
            member_enroll(actor=alpha.owner, phone="13500000003", name="断网")  # commits despite the outage
            assert Member.objects.filter(phone="+8613500000003").exists()
        connection.set_schema_to_public()
        event = OutboxEvent.objects.get(tenant_schema=alpha.tenant.schema_name, event_type="member.created")
        assert event.published_at is None and event.attempts == 1 and event.last_error
        # Fanning out needs only the database; the messages cannot go, so the deliveries wait.
        assert publish_events() == 1
        delivery = Delivery.objects.get(event=event, subscriber="tests.recorder")
        assert delivery.status == Delivery.Status.PENDING and delivery.last_error
        assert deliveries_redispatch() == 0  # still down: nothing lost, nothing handled

        broker_down(False)
        app.control.purge()
        with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=10):
            assert deliveries_redispatch() >= 1
            wait_for(lambda: len(recorder) == 1)
            wait_for(lambda: Delivery.objects.get(pk=delivery.pk).status == Delivery.Status.HANDLED)
        assert recorder[0].id == event.pk
    finally:
        cleanup(alpha, "+8613500000003")


@pytest.fixture
def handed_over() -> Iterator[list[list[int]]]:
    """The event ids of every hand-over message sent to the broker."""
    from celery.signals import before_task_publish

    batches: list[list[int]] = []

    def record(sender: str | None = None, body: Any = None, **_: Any) -> None:
        if sender == "huiyuan.events.publish_batch":
            batches.append(body[0][0])

    before_task_publish.connect(record, weak=False)
    yield batches
    before_task_publish.disconnect(record)


def test_events_of_one_transaction_are_handed_over_together(
    in_alpha: World, django_capture_on_commit_callbacks: Any, handed_over: list[list[int]]
) -> None:
    from huiyuan.platform.events.services import event_record

    with django_capture_on_commit_callbacks(execute=True) as callbacks, transaction.atomic():
        events = [event_record("test.batched", {"n": n}) for n in range(3)]
    assert len(callbacks) == 1
    assert handed_over == [[e.pk for e in events]]  # one broker message for the transaction
    assert publish_events(ids=handed_over[0]) == 3  # what the worker then does with it
    assert OutboxEvent.objects.filter(pk__in=[e.pk for e in events], published_at__isnull=False).count() == 3
    assert publish_events(ids=handed_over[0]) == 0  # the sweep or a redelivery sends nothing twice


def test_a_rolled_back_transaction_does_not_swallow_the_next_ones_events(
    in_alpha: World, django_capture_on_commit_callbacks: Any, handed_over: list[list[int]]
) -> None:
    from huiyuan.platform.events.services import event_record

    with pytest.raises(RuntimeError), transaction.atomic():
        event_record("test.lost", {})
        raise RuntimeError
    with django_capture_on_commit_callbacks(execute=True) as callbacks, transaction.atomic():
        kept = event_record("test.kept", {})
    assert len(callbacks) == 1
    assert handed_over == [[kept.pk]]


def test_under_load_a_process_hands_over_at_most_once_per_interval_and_nothing_waits_past_the_sweep(
    committed: dict[str, World], handed_over: list[list[int]], settings: Any
) -> None:
    from huiyuan.platform.events import services
    from huiyuan.platform.events.services import event_record
    from huiyuan.platform.events.tasks import publish_batch

    settings.HUIYUAN_OUTBOX_HANDOVER_INTERVAL = 60
    services._last_handover = 0.0
    services._handover_paused_until = 0.0
    alpha = committed["alpha"]
    try:
        with tenant_context(alpha.tenant):
            events = []
            for n in range(3):
                with transaction.atomic():
                    events.append(event_record("test.burst", {"n": n}))
        assert handed_over == [[events[0].pk]]  # the burst's first commit only
        publish_batch(handed_over[0])  # what the worker does with it: everything pending
        assert not OutboxEvent.objects.filter(pk__in=[e.pk for e in events], published_at__isnull=True).exists()
    finally:
        services._last_handover = 0.0
        services._handover_paused_until = 0.0
        OutboxEvent.objects.filter(tenant_schema=alpha.tenant.schema_name).delete()
