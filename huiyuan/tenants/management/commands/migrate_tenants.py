"""``python -m huiyuan migrate``: public, template and every merchant's schema, in parallel,
resumable, with progress; exits non-zero naming every schema left behind."""

from __future__ import annotations

from typing import Any

from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from huiyuan.tenants import provisioning
from huiyuan.tenants.migrating import SchemasNotMigrated, migrate_tenants, stdout_progress


class Command(BaseCommand):
    help = "Migrate the public schema, the template and every tenant schema in parallel."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--processes", type=int, default=4, help="schemas migrated at once (default 4)")
        parser.add_argument("--schema", action="append", dest="schemas", help="only these schemas (repeatable)")

    def handle(self, *args: Any, **options: Any) -> None:
        call_command("migrate_schemas", shared=True, interactive=False, verbosity=0)
        connection.set_schema_to_public()  # type: ignore[attr-defined]
        provisioning.ensure_public_tenant()
        provisioning.ensure_template()
        try:
            result = migrate_tenants(
                processes=options["processes"], schemas=options["schemas"], progress=stdout_progress
            )
        except SchemasNotMigrated as exc:
            raise CommandError(f"{exc}. Fix the cause and run again: schemas already done are skipped.") from exc
        self.stdout.write(self.style.SUCCESS(f"all {result['schemas']} schemas migrated ({result['seconds']} s)"))
