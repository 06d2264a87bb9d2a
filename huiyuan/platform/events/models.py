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
