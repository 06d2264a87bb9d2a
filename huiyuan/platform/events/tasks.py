from __future__ import annotations

from huiyuan.platform.celery import app, tenant_task
from huiyuan.platform.tenancy import current_schema

from .models import OutboxEvent
from .registry import Event, subscribers_for
from .services import publish_events


@app.task(name="huiyuan.events.publish_pending")
def publish_pending() -> int:
    return publish_events()


@app.task(name="huiyuan.events.publish_batch")
def publish_batch(ids: list[int]) -> int:
    """The events one transaction committed first, then whatever else is pending (commits that
    came within the sender's hand-over interval). Rows already sent are skipped."""
    return publish_events(ids=ids) + publish_events()


@tenant_task(name="huiyuan.events.deliver", autoretry_for=(Exception,), retry_backoff=True, max_retries=8)
def deliver_event(event_id: int, subscriber: str) -> None:
    row = OutboxEvent.objects.get(pk=event_id, tenant_schema=current_schema())
    handler = subscribers_for(row.event_type).get(subscriber)
    if handler is None:
        return  # subscriber removed since publishing
    handler(
        Event(
            id=row.pk,
            type=row.event_type,
            aggregate_type=row.aggregate_type,
            aggregate_id=row.aggregate_id,
            payload=row.payload,
        )
    )
