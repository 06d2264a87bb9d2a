"""Back up, restore, close and purge merchants (docs/operations.md).

manage.py tenant_backup export <schema|subdomain> <file.tar.gz>
manage.py tenant_backup import <file.tar.gz>
manage.py tenant_backup close <schema|subdomain> <file.tar.gz> --reason "..." [--grace-days 30]
manage.py tenant_backup purge        # drop merchants closed longer ago than their grace period
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from huiyuan.tenants import backups


class Command(BaseCommand):
    help = "Export, import, close or purge merchants (one schema each)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("action", choices=["export", "import", "close", "purge"])
        parser.add_argument("args", nargs="*")
        parser.add_argument("--reason", default="")
        parser.add_argument("--grace-days", type=int, default=30)

    def handle(self, *args: Any, **options: Any) -> None:
        action, rest = options["action"], options["args"]
        try:
            if action == "export" and len(rest) == 2:
                path = backups.tenant_export(backups.tenant_lookup(rest[0]), Path(rest[1]))
                self.stdout.write(self.style.SUCCESS(f"exported to {path}"))
            elif action == "import" and len(rest) == 1:
                tenant = backups.tenant_import(Path(rest[0]))
                self.stdout.write(self.style.SUCCESS(f"restored {tenant.schema_name} ({tenant.name})"))
            elif action == "close" and len(rest) == 2:
                if not options["reason"]:
                    raise CommandError("say why with --reason (kept with the merchant's record)")
                tenant = backups.tenant_lookup(rest[0])
                path = backups.tenant_close(
                    tenant, export_to=Path(rest[1]), reason=options["reason"], grace_days=options["grace_days"]
                )
                self.stdout.write(
                    self.style.SUCCESS(
                        f"closed {tenant.schema_name}; archive {path}; dropped after {options['grace_days']} days"
                    )
                )
            elif action == "purge" and not rest:
                purged = backups.tenants_purge_closed()
                self.stdout.write(self.style.SUCCESS(f"purged {len(purged)}: {', '.join(purged) or '-'}"))
            else:
                raise CommandError("wrong arguments; see the command's help")
        except backups.BackupError as exc:
            raise CommandError(str(exc)) from exc
