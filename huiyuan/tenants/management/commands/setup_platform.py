"""Bring the database to a ready state: migrate public, keep the template migrated, migrate every
tenant, refill the provisioning pool. Safe to run on every start and every upgrade."""

from __future__ import annotations

from typing import Any

from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from huiyuan.tenants import provisioning
from huiyuan.tenants.migrating import SchemasNotMigrated, migrate_tenants, stdout_progress


class Command(BaseCommand):
    help = "Migrate public and tenant schemas, ensure the template schema and the tenant pool."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--pool-size", type=int, default=None)
        parser.add_argument("--processes", type=int, default=1, help="schemas migrated in parallel")

    def handle(self, *args: Any, **options: Any) -> None:
        verbosity = options["verbosity"]
        call_command("migrate_schemas", shared=True, interactive=False, verbosity=verbosity)
        connection.set_schema_to_public()  # type: ignore[attr-defined]
        provisioning.ensure_public_tenant()
        provisioning.ensure_template()
        try:
            migrate_tenants(processes=options["processes"], progress=stdout_progress if verbosity > 1 else None)
        except SchemasNotMigrated as exc:
            raise CommandError(str(exc)) from exc
        connection.set_schema_to_public()  # type: ignore[attr-defined]
        created = provisioning.refill_pool(options["pool_size"])
        self.stdout.write(self.style.SUCCESS(f"platform ready ({created} pooled tenants provisioned)"))
