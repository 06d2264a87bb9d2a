"""One merchant's data as a file, and back: backups, moving a merchant between installs, a
merchant's data export request, and closing a merchant (export handed over, schema dropped after
a grace period).

The file is a tar archive of ``tenant.json`` (the merchant's row and domains in the public schema)
and ``schema.dump`` (``pg_dump --format=custom`` of the merchant's schema: every table, sequence and
index, so balances come back byte for byte). Restoring creates the schema under its own name, which
must not exist on the target install."""

from __future__ import annotations

import io
import json
import logging
import os
import shutil
import subprocess
import tarfile
import tempfile
from datetime import timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone
from django_tenants.utils import schema_exists

from .models import Domain, Tenant

logger = logging.getLogger(__name__)
FORMAT_VERSION = 1


class BackupError(Exception):
    pass


def _pg_env() -> dict[str, str]:
    db = settings.DATABASES["default"]
    env = {
        **os.environ,
        "PGDATABASE": str(db["NAME"]),
        "PGHOST": str(db.get("HOST") or ""),
        "PGPORT": str(db.get("PORT") or ""),
    }
    if db.get("USER"):
        env["PGUSER"] = str(db["USER"])
    if db.get("PASSWORD"):
        env["PGPASSWORD"] = str(db["PASSWORD"])
    return env


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise BackupError(f"{name} is not installed (apt-get install postgresql-client)")
    return found


def tenant_lookup(ref: str) -> Tenant:
    """A merchant by schema name or subdomain."""
    tenant = Tenant.objects.filter(schema_name=ref).first()
    if tenant is None:
        domain = Domain.objects.select_related("tenant").filter(domain__startswith=f"{ref}.").first()
        tenant = domain.tenant if domain else None
    if tenant is None or tenant.status in (Tenant.Status.TEMPLATE, Tenant.Status.PLATFORM, Tenant.Status.POOL):
        raise BackupError(f"no merchant {ref!r}")
    return tenant


def tenant_export(tenant: Tenant, destination: Path) -> Path:
    """Write the merchant's archive to ``destination``; the dump is consistent (one snapshot)."""
    meta = {
        "format": FORMAT_VERSION,
        "schema_name": tenant.schema_name,
        "name": tenant.name,
        "status": tenant.status,
        "time_zone": tenant.time_zone,
        "owner_email": tenant.owner_email,
        "owner_phone": tenant.owner_phone,
        "created_at": tenant.created_at.isoformat(),
        "domains": list(tenant.domains.values("domain", "is_primary")),  # type: ignore[attr-defined]
        "exported_at": timezone.now().isoformat(),
    }
    with tempfile.TemporaryDirectory() as work:
        dump = Path(work) / "schema.dump"
        result = subprocess.run(  # noqa: S603 - fixed arguments, schema name from our own table
            [
                _tool("pg_dump"),
                "--format=custom",
                "--no-owner",
                "--no-privileges",
                f"--schema={tenant.schema_name}",
                f"--file={dump}",
            ],
            env=_pg_env(),
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode:
            raise BackupError(f"pg_dump failed: {result.stderr.strip()}")
        destination.parent.mkdir(parents=True, exist_ok=True)
        with tarfile.open(destination, "w:gz") as archive:
            payload = json.dumps(meta, ensure_ascii=False, indent=2).encode()
            info = tarfile.TarInfo("tenant.json")
            info.size = len(payload)
            archive.addfile(info, io.BytesIO(payload))
            archive.add(dump, arcname="schema.dump")
    logger.info("tenants: exported %s to %s", tenant.schema_name, destination)
    return destination


def tenant_import(source: Path) -> Tenant:
    """Restore a merchant from its archive on this install (its schema and domains must be free)."""
    with tempfile.TemporaryDirectory() as work, tarfile.open(source, "r:gz") as archive:
        names = set(archive.getnames())
        if names != {"tenant.json", "schema.dump"}:
            raise BackupError("not a Huiyuan merchant archive")
        archive.extractall(work, filter="data")
        meta: dict[str, Any] = json.loads((Path(work) / "tenant.json").read_text())
        if meta.get("format") != FORMAT_VERSION:
            raise BackupError(f"archive format {meta.get('format')} is not supported here")
        schema = meta["schema_name"]
        if schema_exists(schema) or Tenant.objects.filter(schema_name=schema).exists():
            raise BackupError(f"schema {schema} already exists on this install")
        taken = Domain.objects.filter(domain__in=[d["domain"] for d in meta["domains"]]).values_list(
            "domain", flat=True
        )
        if taken:
            raise BackupError(f"domain(s) already used here: {', '.join(taken)}")
        result = subprocess.run(  # noqa: S603 - fixed arguments
            [
                _tool("pg_restore"),
                "--no-owner",
                "--no-privileges",
                "--exit-on-error",
                f"--dbname={_pg_env()['PGDATABASE']}",
                str(Path(work) / "schema.dump"),
            ],
            env=_pg_env(),
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode:
            with connection.cursor() as cursor:
                cursor.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
            raise BackupError(f"pg_restore failed: {result.stderr.strip()}")
    with transaction.atomic():
        tenant = Tenant(
            schema_name=schema,
            name=meta["name"],
            status=Tenant.Status.ACTIVE if meta["status"] != Tenant.Status.SUSPENDED else meta["status"],
            time_zone=meta["time_zone"],
            owner_email=meta["owner_email"],
            owner_phone=meta["owner_phone"],
        )
        tenant.auto_create_schema = False  # restored above, with its data
        tenant.save(verbosity=0)
        for domain in meta["domains"]:
            Domain.objects.create(tenant=tenant, domain=domain["domain"], is_primary=domain["is_primary"])
    logger.info("tenants: restored %s from %s", schema, source)
    return tenant


def tenant_close(tenant: Tenant, *, export_to: Path, reason: str, grace_days: int = 30) -> Path:
    """Close a merchant: their archive is written (to hand over), the console and API stop
    answering at once, and the schema is dropped by ``tenants_purge_closed`` after the grace
    period. Undo within the grace period: set the status back to active."""
    archive = tenant_export(tenant, export_to)
    now = timezone.now()
    Tenant.objects.filter(pk=tenant.pk).update(
        status=Tenant.Status.SUSPENDED,
        closed_at=now,
        purge_after=now + timedelta(days=grace_days),
        closed_reason=reason[:255],
    )
    logger.warning(
        "tenants: closed %s (%s); purge after %d days; archive %s", tenant.schema_name, reason, grace_days, archive
    )
    return archive


def tenants_purge_closed(*, now: Any = None) -> list[str]:
    """Drop the schemas of merchants closed longer ago than their grace period."""
    now = now or timezone.now()
    purged = []
    for tenant in Tenant.objects.filter(closed_at__isnull=False, purge_after__lte=now, status=Tenant.Status.SUSPENDED):
        name = tenant.schema_name
        tenant.delete(force_drop=True)
        logger.warning("tenants: purged closed merchant %s", name)
        purged.append(name)
    return purged
