"""Domain events: recorded in the caller's transaction (outbox), fanned out into one delivery per
subscriber (inbox), each handled exactly once.

A rolled-back change leaves no row, so it emits nothing. Publishing turns a committed event into
delivery rows in one transaction, then sends one message per delivery. A subscriber's effects and
the "handled" mark on its delivery commit together, so a duplicate message does nothing; a
delivery not handled within the lease (worker killed, broker restarted empty, message lost) is sent
again by the sweep; a failing subscriber is retried with backoff and ends dead-lettered, visible
and retryable by an admin. Together: every subscriber handles every event exactly once.
"""

from __future__ import annotations

import logging
import time
from datetime import timedelta
from typing import Any

from django.conf import settings as django_settings
from django.db import DatabaseError, connection, transaction
from django.db.models import F
from django.utils import timezone

from huiyuan.platform.celery import TenantContextMissing
from huiyuan.platform.tenancy import PUBLIC_SCHEMA, current_schema

from .models import Delivery, OutboxEvent, TenantSubscription
from .registry import OPT_IN, Event, subscribers_for

logger = logging.getLogger(__name__)


def event_record(
    event_type: str, payload: dict[str, Any], *, aggregate_type: str = "", aggregate_id: Any = ""
) -> OutboxEvent:
    return _record(event_type, [(aggregate_type, aggregate_id, payload)])[0]


def events_record(event_type: str, events: list[tuple[str, Any, dict[str, Any]]]) -> list[int]:
    """Record many events of one type at once: ``(aggregate_type, aggregate_id, payload)`` each."""
    return [row.pk for row in _record(event_type, events)]


def _record(event_type: str, events: list[tuple[str, Any, dict[str, Any]]]) -> list[OutboxEvent]:
    schema = current_schema()
    if schema == PUBLIC_SCHEMA:
        raise TenantContextMissing(f"event {event_type} recorded outside a tenant")
    rows = OutboxEvent.objects.bulk_create(
        OutboxEvent(
            tenant_schema=schema,
            event_type=event_type,
            payload=payload,
            aggregate_type=aggregate_type,
            aggregate_id=str(aggregate_id),
        )
        for aggregate_type, aggregate_id, payload in events
    )
    publish_after_commit([row.pk for row in rows])
    return rows


def publish_after_commit(event_ids: list[int]) -> None:
    """Collect the transaction's events (``event_record`` adds each; code that inserts outbox rows
    itself passes their ids) and publish them in one go after it commits. The batch joins the
    callback still registered for this transaction; after a commit or a rollback that callback is
    gone from Django's list and a new batch starts."""
    if not event_ids:
        return
    batch = getattr(connection, "_huiyuan_outbox_batch", None)
    if batch is not None and any(hook[1] is batch[1] for hook in connection.run_on_commit):
        batch[0].extend(event_ids)
        return
    ids = list(event_ids)

    def publish() -> None:
        dispatch_committed(ids)

    connection._huiyuan_outbox_batch = (ids, publish)  # type: ignore[attr-defined]
    transaction.on_commit(publish, robust=True)


_last_handover = 0.0  # per process
_handover_paused_until = 0.0  # after a broker error, leave the broker to the sweep for a while
HANDOVER_PAUSE_AFTER_ERROR = 5.0


def dispatch_committed(ids: list[int]) -> None:
    """Hand committed events to a worker, which fans them out to the subscribers; the committing
    request pays for one broker message at most. Under load a process sends at most one hand-over
    per ``HUIYUAN_OUTBOX_HANDOVER_INTERVAL``: each one makes the worker publish everything pending,
    and the beat sweep (every 2 s) catches the last of a burst. If the broker is down the rows stay
    unpublished until the sweep gets through, and requests stop trying for a few seconds so a dead
    broker does not slow every commit."""
    global _last_handover, _handover_paused_until
    from .tasks import publish_batch

    now = time.monotonic()
    if now < _handover_paused_until or now - _last_handover < django_settings.HUIYUAN_OUTBOX_HANDOVER_INTERVAL:
        return
    _last_handover = now
    try:
        publish_batch.apply_async(args=[ids], retry=False)
    except Exception as exc:  # noqa: BLE001 - the commit stands; the sweep retries
        _last_handover = 0.0
        _handover_paused_until = time.monotonic() + HANDOVER_PAUSE_AFTER_ERROR
        logger.warning("outbox: could not hand over events %s: %s", ids, exc)
        OutboxEvent.objects.filter(pk__in=ids).update(attempts=F("attempts") + 1, last_error=str(exc)[:2000])


def publish_events(*, ids: list[int] | None = None, batch_size: int = 500) -> int:
    """Fan unpublished events (the given ones, or the oldest batch) out into one delivery per
    subscriber, mark them published, commit, then send the deliveries to the workers. Rows being
    published by another process are skipped. A delivery whose message never arrives (broker down,
    message lost) is sent again by ``deliveries_redispatch``; nothing here needs the broker to commit."""
    with transaction.atomic():
        qs = OutboxEvent.objects.filter(published_at__isnull=True)
        if ids is not None:
            qs = qs.filter(pk__in=ids)
        events = list(qs.select_for_update(skip_locked=True).order_by("pk")[:batch_size])
        if not events:
            return 0
        now = timezone.now()
        lease = timedelta(seconds=django_settings.HUIYUAN_DELIVERY_LEASE_SECONDS)
        opted_in = (
            set(
                TenantSubscription.objects.filter(tenant_schema__in={e.tenant_schema for e in events}).values_list(
                    "tenant_schema", "subscriber"
                )
            )
            if OPT_IN
            else set()
        )
        deliveries = Delivery.objects.bulk_create(
            Delivery(
                event=event,
                tenant_schema=event.tenant_schema,
                subscriber=name,
                next_attempt_at=now + lease,
                dispatches=1,
            )
            for event in events
            for name in subscribers_for(event.event_type)
            if name not in OPT_IN or (event.tenant_schema, name) in opted_in
        )
        OutboxEvent.objects.filter(pk__in=[e.pk for e in events]).update(published_at=now, attempts=F("attempts") + 1)
    sends = [(d.pk, d.tenant_schema) for d in deliveries]
    transaction.on_commit(lambda: _dispatch(sends))  # at once in autocommit; after the caller's commit otherwise
    return len(events)


DISPATCH_BATCH = 50  # deliveries per message when many of one tenant are due together


def _dispatch(deliveries: list[tuple[int, str]]) -> int:
    """Send the deliveries: one message each when few, batches of one tenant's deliveries when many
    (a broker message costs about a millisecond; a rule reaching 100,000 members would otherwise
    spend minutes just queueing). On a broker error stop and make the rest due at once, so the next
    sweep tries again instead of waiting out the lease."""
    from .tasks import deliver_event, deliver_events

    messages: list[tuple[list[int], str]] = []
    by_schema: dict[str, list[int]] = {}
    for delivery_id, schema in deliveries:
        by_schema.setdefault(schema, []).append(delivery_id)
    for schema, ids in by_schema.items():
        size = 1 if len(ids) <= DISPATCH_BATCH else DISPATCH_BATCH
        messages += [(ids[i : i + size], schema) for i in range(0, len(ids), size)]
    sent = 0
    for index, (ids, schema) in enumerate(messages):
        try:
            if len(ids) == 1:
                deliver_event.apply_async(args=[ids[0]], headers={"_schema_name": schema})
            else:
                deliver_events.apply_async(args=[ids], headers={"_schema_name": schema})
        except Exception as exc:  # noqa: BLE001 - the delivery rows stay pending; the sweep resends them
            logger.warning("events: could not send deliveries %s: %s", ids[:5], exc)
            rest = [pk for batch, _schema in messages[index:] for pk in batch]
            Delivery.objects.filter(pk__in=rest).update(next_attempt_at=timezone.now(), last_error=str(exc)[:2000])
            return sent
        sent += len(ids)
    return sent


_REDISPATCH_SQL = """
UPDATE events_delivery d
   SET next_attempt_at = clock_timestamp() + make_interval(secs => %(lease)s),
       dispatches = d.dispatches + 1,
       status = CASE WHEN d.dispatches + 1 > %(max_dispatches)s THEN 'dead' ELSE d.status END,
       last_error = CASE WHEN d.dispatches + 1 > %(max_dispatches)s
                         THEN 'sent ' || d.dispatches || ' times without being handled' ELSE d.last_error END
 WHERE d.id IN (SELECT id FROM events_delivery
                 WHERE status = 'pending' AND next_attempt_at <= clock_timestamp()
                 ORDER BY next_attempt_at LIMIT %(limit)s
                 FOR UPDATE SKIP LOCKED)
RETURNING d.id, d.tenant_schema, d.status
"""


def deliveries_redispatch(*, limit: int = 500) -> int:
    """Send again every pending delivery that was not handled in time. A delivery being handled
    right now is locked by its handler and skipped. One that keeps vanishing (a message that kills
    its worker every time) is declared dead after several times the failure limit."""
    max_attempts = django_settings.HUIYUAN_DELIVERY_MAX_ATTEMPTS
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            _REDISPATCH_SQL,
            {
                "lease": django_settings.HUIYUAN_DELIVERY_LEASE_SECONDS,
                "max_dispatches": max_attempts * 3,
                "limit": limit,
            },
        )
        rows = cursor.fetchall()
    due = [(pk, schema) for pk, schema, status in rows if status == Delivery.Status.PENDING]
    for pk, _schema, status in rows:
        if status == Delivery.Status.DEAD:
            logger.error("events: delivery %s is dead: sent repeatedly, never handled", pk)
    return _dispatch(due)


def delivery_handle(delivery_id: int) -> str:
    """Run the subscriber for one delivery, once. The delivery row is locked while the handler
    runs and marked handled in the same transaction as the handler's effects: a duplicate
    message waits for the first, then finds it handled. A handler error rolls the effects back
    and schedules a retry with backoff, or declares the delivery dead after the last attempt."""
    try:
        with transaction.atomic():
            delivery = (
                Delivery.objects.select_for_update(of=("self",))
                .select_related("event")
                .filter(pk=delivery_id, tenant_schema=current_schema())
                .first()
            )
            if delivery is None or delivery.status != Delivery.Status.PENDING:
                return "skipped"
            handler = subscribers_for(delivery.event.event_type).get(delivery.subscriber)
            if handler is not None:  # a subscriber removed since publishing has nothing to do
                event = delivery.event
                handler(
                    Event(
                        id=event.pk,
                        type=event.event_type,
                        aggregate_type=event.aggregate_type,
                        aggregate_id=event.aggregate_id,
                        payload=event.payload,
                    )
                )
            delivery.status = Delivery.Status.HANDLED
            delivery.handled_at = timezone.now()
            delivery.save(update_fields=["status", "handled_at"])
        return "handled"
    except DatabaseError:
        raise  # the database itself failed: the delivery stays pending and the sweep sends it again
    except Exception as exc:  # noqa: BLE001 - recorded on the delivery, retried or dead-lettered
        logger.exception("events: subscriber failed on delivery %s", delivery_id)
        return _delivery_failed(delivery_id, exc)


def _delivery_failed(delivery_id: int, exc: Exception) -> str:
    with transaction.atomic():
        delivery = Delivery.objects.select_for_update().get(pk=delivery_id)
        if delivery.status != Delivery.Status.PENDING:
            return delivery.status
        delivery.attempts += 1
        delivery.last_error = f"{type(exc).__name__}: {exc}"[:2000]
        if delivery.attempts >= django_settings.HUIYUAN_DELIVERY_MAX_ATTEMPTS:
            delivery.status = Delivery.Status.DEAD
            logger.error("events: delivery %s is dead after %s attempts", delivery_id, delivery.attempts)
        else:
            backoff = min(django_settings.HUIYUAN_DELIVERY_RETRY_BASE * 2 ** (delivery.attempts - 1), 3600.0)
            delivery.next_attempt_at = timezone.now() + timedelta(seconds=backoff)
        delivery.save(update_fields=["attempts", "last_error", "status", "next_attempt_at"])
        return "failed"


def deliveries_retry(*, delivery_ids: list[int] | None = None) -> int:
    """Put dead deliveries of the current tenant back in the queue (all of them, or the given
    ones); the next sweep sends them. Returns how many were revived."""
    qs = Delivery.objects.filter(tenant_schema=current_schema(), status=Delivery.Status.DEAD)
    if delivery_ids is not None:
        qs = qs.filter(pk__in=delivery_ids)
    return qs.update(
        status=Delivery.Status.PENDING, attempts=0, dispatches=0, next_attempt_at=timezone.now(), last_error=""
    )


def deliveries_schedule(event_type: str, subscriber: str, items: list[tuple[dict[str, Any], Any]]) -> list[int]:
    """Work for one subscriber, each item due at its own time: ``(payload, due_at)``. Written in the
    caller's transaction as an event already published plus its one delivery, so it has everything a
    delivery has (handled once, retried with backoff, dead-lettered, retried by an admin) and is sent
    by the sweep when due. Items due now are sent right after commit. Automation uses this for waits,
    timers and each member's actions: a delay lives in the database, never in a Celery ETA."""
    schema = current_schema()
    if schema == PUBLIC_SCHEMA:
        raise TenantContextMissing(f"{event_type} scheduled outside a tenant")
    if not items:
        return []
    now = timezone.now()
    events = OutboxEvent.objects.bulk_create(
        OutboxEvent(tenant_schema=schema, event_type=event_type, payload=payload, published_at=now, attempts=1)
        for payload, _due in items
    )
    lease = timedelta(seconds=django_settings.HUIYUAN_DELIVERY_LEASE_SECONDS)
    later = [due is not None and due > now for _payload, due in items]
    deliveries = Delivery.objects.bulk_create(
        Delivery(
            event=event,
            tenant_schema=schema,
            subscriber=subscriber,
            # Sent now: the lease starts now, as for a published event. Due later: the sweep sends it.
            next_attempt_at=due if is_later else now + lease,
            dispatches=0 if is_later else 1,
        )
        for event, (_payload, due), is_later in zip(events, items, later, strict=True)
    )
    due_now = [(d.pk, schema) for d, is_later in zip(deliveries, later, strict=True) if not is_later]
    if due_now:
        transaction.on_commit(lambda: _dispatch(due_now))
    return [d.pk for d in deliveries]


def deliveries_due_now_sql(*, source: str, event_type: str, subscriber: str, payload_sql: str) -> tuple[str, list[Any]]:
    """The tail of a ``WITH`` statement that turns each row of the CTE ``source`` into an event
    already published and its one delivery, due now (``deliveries_schedule`` in one statement, for
    callers creating work for many rows at once). ``payload_sql`` builds each payload from the row.
    The statement returns the deliveries' ids: pass them to ``deliveries_dispatch_after_commit``."""
    schema = current_schema()
    if schema == PUBLIC_SCHEMA:
        raise TenantContextMissing(f"{event_type} scheduled outside a tenant")
    now = timezone.now()
    lease = timedelta(seconds=django_settings.HUIYUAN_DELIVERY_LEASE_SECONDS)
    sql = f"""
        , scheduled_events AS (
            INSERT INTO events_outboxevent (tenant_schema, event_type, aggregate_type, aggregate_id, payload,
                created_at, published_at, attempts, last_error)
            SELECT %s, %s, '', '', {payload_sql}, %s, %s, 1, '' FROM {source}
            RETURNING id
        )
        INSERT INTO events_delivery (event_id, tenant_schema, subscriber, status, attempts, dispatches,
            next_attempt_at, last_error, created_at)
        SELECT id, %s, %s, 'pending', 0, 1, %s, '', %s FROM scheduled_events
        RETURNING id
    """  # noqa: S608 - the caller's fixed SQL fragments; every value is a parameter
    return sql, [schema, event_type, now, now, schema, subscriber, now + lease, now]


def deliveries_dispatch_after_commit(delivery_ids: list[int]) -> None:
    schema = current_schema()
    if delivery_ids:
        sends = [(pk, schema) for pk in delivery_ids]
        transaction.on_commit(lambda: _dispatch(sends))


def tenant_opt_in(subscriber: str, wanted: bool) -> None:
    """Start or stop an opt-in subscriber's deliveries for the current tenant."""
    schema = current_schema()
    if wanted:
        TenantSubscription.objects.get_or_create(tenant_schema=schema, subscriber=subscriber)
    else:
        TenantSubscription.objects.filter(tenant_schema=schema, subscriber=subscriber).delete()
