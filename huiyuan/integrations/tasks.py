"""Thin Celery tasks over integrations' services."""

from __future__ import annotations

from huiyuan.platform.celery import tenant_task

from .finance import finance_sync
from .models import Connection


# Not in a transaction: each document's claim commits before the ERP is called.
@tenant_task(name="huiyuan.integrations.finance_sync", time_limit=900, soft_time_limit=840)
def finance_sync_task(connection_id: int) -> dict[str, int]:
    connection = Connection.objects.filter(pk=connection_id, enabled=True).first()
    return finance_sync(connection=connection) if connection else {}
