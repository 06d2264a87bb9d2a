"""Re-encrypt the current tenant's vendor credentials under the newest key (run per tenant with
``tenant_command`` or for all with ``all_tenants_command``)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand
from django.db import transaction

from huiyuan.integrations.crypto import credentials_rotate
from huiyuan.integrations.models import Connection


class Command(BaseCommand):
    help = "Re-encrypt vendor credentials with the first key of HUIYUAN_CREDENTIALS_KEYS."

    def handle(self, *args: Any, **options: Any) -> None:
        with transaction.atomic():
            connections = list(Connection.objects.select_for_update())
            for connection in connections:
                connection.credentials = credentials_rotate(connection.credentials)
                connection.save(update_fields=["credentials"])
        self.stdout.write(f"{len(connections)} connections re-encrypted")
