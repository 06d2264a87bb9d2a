"""Bring the database to a ready state: migrate public, keep the template migrated, migrate every
tenant, refill the provisioning pool. Safe to run on every start and every upgrade."""

from __future__ import annotations

from typing import Any

from django.core.management import call_command
from django.core.management.base import BaseCommand
from django.db import connection

from huiyuan.tenants import provisioning


class Command(BaseCommand):
    help = "Migrate public and tenant schemas, ensure the template schema and the tenant pool."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--pool-size", type=int, default=None)
        parser.add_argument("--executor", default="standard", choices=["standard", "multiprocessing"])

    def handle(self, *args: Any, **options: Any) -> None:
        verbosity = options["verbosity"]
        call_command("migrate_schemas", shared=True, interactive=False, verbosity=verbosity)
        connection.set_schema_to_public()  # type: ignore[attr-defined]
        provisioning.ensure_public_tenant()
        provisioning.ensure_template()
        call_command(
            "migrate_schemas", tenant=True, interactive=False, verbosity=verbosity, executor=options["executor"]
        )
        connection.set_schema_to_public()  # type: ignore[attr-defined]
        created = provisioning.refill_pool(options["pool_size"])
        self.stdout.write(self.style.SUCCESS(f"platform ready ({created} pooled tenants provisioned)"))
