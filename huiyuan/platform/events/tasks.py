"""Thin tasks over ``events.services``: publish (public schema) and handle one delivery (tenant)."""

from __future__ import annotations

from huiyuan.platform.celery import app, tenant_task

from .services import deliveries_redispatch, delivery_handle, publish_events


@app.task(name="huiyuan.events.publish_pending")
def publish_pending() -> int:
    """The beat sweep: publish what no hand-over published, resend deliveries not handled in time."""
    return publish_events() + deliveries_redispatch()


@app.task(name="huiyuan.events.publish_batch")
def publish_batch(ids: list[int]) -> int:
    """The events one transaction committed first, then whatever else is pending (commits that
    came within the sender's hand-over interval). Rows already published are skipped."""
    return publish_events(ids=ids) + publish_events()


# Retries belong to the delivery row (backoff, dead letter), not to Celery: no autoretry here.
@tenant_task(name="huiyuan.events.deliver", time_limit=120, soft_time_limit=100)
def deliver_event(delivery_id: int) -> str:
    return delivery_handle(delivery_id)


@tenant_task(name="huiyuan.events.deliver_batch", time_limit=600, soft_time_limit=540)
def deliver_events(delivery_ids: list[int]) -> int:
    """Many deliveries of one tenant in one message (a rule reaching thousands of members): each is
    still handled in its own transaction; those a dying worker leaves pending are resent one by one
    by the sweep after their lease."""
    return sum(delivery_handle(delivery_id) == "handled" for delivery_id in delivery_ids)
