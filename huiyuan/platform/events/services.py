"""Record domain events in the caller's transaction; publish committed ones to Celery.

A rolled-back change leaves no row, so it emits nothing. A broker outage leaves rows unpublished;
the beat sweep (``publish_pending`` every few seconds) sends them when the broker is back.
Delivery is at least once: subscribers must be idempotent (they get the event id).
"""

from __future__ import annotations

import logging
import time
from typing import Any

from django.conf import settings as django_settings
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from huiyuan.platform.celery import TenantContextMissing
from huiyuan.platform.tenancy import PUBLIC_SCHEMA, current_schema

from .models import OutboxEvent
from .registry import subscribers_for

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


def dispatch_committed(ids: list[int]) -> None:
    """Hand committed events to a worker, which fans them out to the subscribers and marks them
    published; the committing request pays for one broker message at most. Under load a process
    sends at most one hand-over per ``HUIYUAN_OUTBOX_HANDOVER_INTERVAL``: each one makes the
    worker publish everything pending, and the beat sweep (every 2 s) catches the last of a
    burst. If the broker is down the rows stay unpublished until the sweep gets through."""
    global _last_handover
    from .tasks import publish_batch

    now = time.monotonic()
    if now - _last_handover < django_settings.HUIYUAN_OUTBOX_HANDOVER_INTERVAL:
        return
    _last_handover = now
    try:
        publish_batch.apply_async(args=[ids])
    except Exception as exc:  # noqa: BLE001 - the commit stands; the sweep retries
        _last_handover = 0.0
        logger.warning("outbox: could not hand over events %s: %s", ids, exc)
        OutboxEvent.objects.filter(pk__in=ids).update(attempts=F("attempts") + 1, last_error=str(exc)[:2000])


def _send(event: OutboxEvent) -> None:
    from .tasks import deliver_event

    for name in subscribers_for(event.event_type):
        deliver_event.apply_async(args=[event.pk, name], headers={"_schema_name": event.tenant_schema})


def publish_events(*, ids: list[int] | None = None, batch_size: int = 500) -> int:
    """Send unpublished events (the given ones, or the oldest batch) and mark them published.
    Rows being published by another process are skipped, never sent twice concurrently."""
    published = 0
    with transaction.atomic():
        qs = OutboxEvent.objects.filter(published_at__isnull=True)
        if ids is not None:
            qs = qs.filter(pk__in=ids)
        events = list(qs.select_for_update(skip_locked=True).order_by("pk")[:batch_size])
        sent: list[int] = []
        for event in events:
            try:
                _send(event)
            except Exception as exc:  # noqa: BLE001 - broker down: keep the row, the sweep retries
                logger.warning("outbox: could not publish %s: %s", event, exc)
                OutboxEvent.objects.filter(pk=event.pk).update(attempts=event.attempts + 1, last_error=str(exc)[:2000])
                break
            sent.append(event.pk)
        if sent:  # one statement for the batch
            OutboxEvent.objects.filter(pk__in=sent).update(published_at=timezone.now(), attempts=F("attempts") + 1)
        published = len(sent)
    return published
