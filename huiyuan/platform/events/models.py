from __future__ import annotations

from django.core.serializers.json import DjangoJSONEncoder
from django.db import models


class OutboxEvent(models.Model):
    """A domain event, written in the transaction that caused it and published after commit.

    Lives in the public schema with the tenant's schema name, so one dispatcher sweeps every tenant
    with one indexed query instead of visiting thousands of schemas.
    """

    tenant_schema = models.CharField(max_length=63)
    event_type = models.CharField(max_length=80)
    aggregate_type = models.CharField(max_length=80, blank=True)
    aggregate_id = models.CharField(max_length=64, blank=True)
    payload = models.JSONField(default=dict, encoder=DjangoJSONEncoder)
    created_at = models.DateTimeField(auto_now_add=True)
    published_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["id"], name="outbox_unpublished_idx", condition=models.Q(published_at__isnull=True)),
            models.Index(fields=["tenant_schema", "event_type", "created_at"]),
        ]

    def __str__(self) -> str:
        return f"{self.event_type}#{self.pk}@{self.tenant_schema}"


class Delivery(models.Model):
    """One event for one subscriber: the inbox row that says whether the subscriber has *handled* it.

    Written when the event is fanned out; marked handled in the same transaction as the
    subscriber's effects, so "handled" and the effects commit together and a duplicate message
    finds the row handled and does nothing. A pending delivery not handled by ``next_attempt_at``
    is sent again by the sweep; after too many failures it is dead until an admin retries it.
    """

    class Status(models.TextChoices):
        PENDING = "pending", "pending"
        HANDLED = "handled", "handled"
        DEAD = "dead", "dead"

    # No database constraint: the event and its deliveries are always written together, and
    # PostgreSQL's per-row check of the link, planned while the event table was still small, scanned
    # the whole table for each of a burst's deliveries (15,000 deliveries took 10 s instead of 0.3 s).
    # Deleting an event still deletes its deliveries, through the ORM.
    event = models.ForeignKey(OutboxEvent, on_delete=models.CASCADE, related_name="deliveries", db_constraint=False)
    tenant_schema = models.CharField(max_length=63)
    subscriber = models.CharField(max_length=100)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)  # handler failures
    dispatches = models.PositiveIntegerField(default=0)  # messages sent
    next_attempt_at = models.DateTimeField()
    handled_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["event", "subscriber"], name="delivery_once_per_subscriber")]
        indexes = [
            models.Index(fields=["next_attempt_at"], name="delivery_due_idx", condition=models.Q(status="pending")),
            models.Index(fields=["tenant_schema", "status"], name="delivery_tenant_status_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.subscriber}<-{self.event_id} ({self.status})"


class TenantSubscription(models.Model):
    """A tenant opting in to an opt-in subscriber (it has webhook endpoints, say)."""

    tenant_schema = models.CharField(max_length=63)
    subscriber = models.CharField(max_length=100)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["tenant_schema", "subscriber"], name="tenant_subscription_once")]

    def __str__(self) -> str:
        return f"{self.tenant_schema}:{self.subscriber}"
