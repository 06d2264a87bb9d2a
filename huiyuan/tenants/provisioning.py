"""Fast tenant provisioning.

Three layers, fastest first:
1. **Pool**: a few pre-provisioned tenants (status ``pool``, no domain, so unroutable) wait for a
   signup; claiming one is an UPDATE plus two INSERTs. Celery refills the pool after each claim.
2. **Clone** (cold path, pool empty): django-tenants copies the structure of the migrated
   ``tenant_template`` schema with its ``clone_schema`` SQL function and fake-applies migrations.
3. **Migrations**: only the template itself is ever built by running migrations; ``migrate_schemas``
   keeps it (an ordinary tenant row) migrated together with every tenant.

Schema names are random (``m_<hex>``) and never renamed: the subdomain lives in ``Domain``, so a
merchant can change its address without a schema rename.
"""

from __future__ import annotations

import logging
import secrets
from typing import Any

from django.conf import settings
from django.db import connection
from django_tenants.utils import get_public_schema_name, schema_exists

from .models import Domain, Plan, Tenant

logger = logging.getLogger(__name__)

CLONE_LOCK_ID = 0x48594332  # 'HYC2'
POOL_LOCK_ID = 7_331_001  # pg advisory lock serialising pool refills


def template_schema_name() -> str:
    return str(settings.TENANT_BASE_SCHEMA)


def ensure_public_tenant() -> Tenant:
    tenant, _ = Tenant.objects.get_or_create(
        schema_name=get_public_schema_name(), defaults={"name": "Huiyuan", "status": Tenant.Status.PLATFORM}
    )
    Domain.objects.get_or_create(domain=settings.HUIYUAN_BASE_DOMAIN, defaults={"tenant": tenant, "is_primary": True})
    Plan.objects.get_or_create(code="standard", defaults={"name": "Standard", "is_default": True})
    return tenant


def ensure_template() -> Tenant:
    """The template schema is built by running every migration (the only schema that is)."""
    tenant = Tenant.objects.filter(schema_name=template_schema_name()).first()
    if tenant is None:
        tenant = Tenant(schema_name=template_schema_name(), name="template", status=Tenant.Status.TEMPLATE)
        tenant.save(verbosity=0)
    elif not schema_exists(tenant.schema_name):
        tenant.save(verbosity=0)  # django-tenants re-creates a missing schema on save
    return tenant


def new_schema_name() -> str:
    return f"m_{secrets.token_hex(6)}"


def provision_by_clone(*, status: str = Tenant.Status.POOL) -> Tenant:
    """Create a tenant whose schema is a structural clone of the template (cold path). Clones run
    one at a time: ``clone_schema`` run concurrently from one template fails in the catalog (a
    burst of signups with an empty pool gave 500s); waiting a fraction of a second does not."""
    template = ensure_template()
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_lock(%s)", [CLONE_LOCK_ID])
    try:
        # django-tenants commits the row before it clones the schema: saved as "provisioning" it
        # cannot be claimed (and its schema "created again" by the claimer) until it is complete.
        tenant = Tenant(schema_name=new_schema_name(), status=Tenant.Status.PROVISIONING)
        tenant.save(verbosity=0)
        align_object_names(source=template.schema_name, target=tenant.schema_name)
        Tenant.objects.filter(pk=tenant.pk).update(status=status)
        tenant.status = status
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s)", [CLONE_LOCK_ID])
    return tenant


_CONSTRAINTS_SQL = """
    SELECT t.relname, c.conname, pg_get_constraintdef(c.oid)
    FROM pg_constraint c JOIN pg_class t ON t.oid = c.conrelid JOIN pg_namespace n ON n.oid = t.relnamespace
    WHERE n.nspname = %s ORDER BY 1, 2"""
_INDEXES_SQL = """
    SELECT i.tablename, i.indexname, i.indexdef FROM pg_indexes i
    WHERE i.schemaname = %s AND NOT EXISTS (
        SELECT 1 FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace
        WHERE n.nspname = i.schemaname AND c.conname = i.indexname)
    ORDER BY 1, 2"""


def _named_objects(cursor: Any, sql: str, schema: str) -> dict[tuple[str, str], list[str]]:
    """(table, definition with the schema and own name blanked) -> names, to pair objects across schemas."""
    cursor.execute(sql, [schema])
    found: dict[tuple[str, str], list[str]] = {}
    for table, name, definition in cursor.fetchall():
        key = definition.replace(f"{schema}.", "S.").replace(f'"{schema}".', "S.").replace(f" {name} ", " N ")
        found.setdefault((table, key), []).append(name)
    return found


def align_object_names(*, source: str, target: str) -> int:
    """Give the clone's constraints and indexes the template's names.

    ``clone_schema`` re-creates unique constraints under PostgreSQL's default names
    (``..._key``) instead of Django's (``..._uniq``); a later migration that drops or alters one by
    name would then fail on cloned tenants only. Returns how many objects were renamed."""
    quote = connection.ops.quote_name
    renamed = 0
    with connection.cursor() as cursor:
        for sql, statement in (
            (_CONSTRAINTS_SQL, "ALTER TABLE {schema}.{table} RENAME CONSTRAINT {old} TO {new}"),
            (_INDEXES_SQL, "ALTER INDEX {schema}.{old} RENAME TO {new}"),
        ):
            wanted = _named_objects(cursor, sql, source)
            actual = _named_objects(cursor, sql, target)
            for key, names in actual.items():
                for old, new in zip(sorted(names), sorted(wanted.get(key, [])), strict=False):
                    if old != new:
                        cursor.execute(
                            statement.format(schema=quote(target), table=quote(key[0]), old=quote(old), new=quote(new))
                        )
                        renamed += 1
    return renamed


def provision_by_migrations(*, status: str = Tenant.Status.POOL) -> Tenant:
    """The slow path, kept for the benchmark and for comparing schemas in tests."""
    tenant = Tenant(schema_name=new_schema_name(), status=status)
    tenant.get_base_schema = lambda: False  # type: ignore[method-assign]  # no template: run migrations
    tenant.save(verbosity=0)
    return tenant


def claim_pool_tenant() -> Tenant | None:
    """Lock one pool tenant for the caller's transaction (``SKIP LOCKED``: concurrent signups never
    wait for each other or take the same one)."""
    return Tenant.objects.select_for_update(skip_locked=True).filter(status=Tenant.Status.POOL).order_by("pk").first()


def refill_pool(size: int | None = None) -> int:
    """Top the pool up to ``size`` tenants; returns how many were created."""
    target = settings.HUIYUAN_TENANT_POOL_SIZE if size is None else size
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s)", [POOL_LOCK_ID])
        (locked,) = cursor.fetchone()  # type: ignore[misc]
    if not locked:
        return 0  # another process is refilling
    created = 0
    try:
        while Tenant.objects.filter(status=Tenant.Status.POOL).count() < target:
            provision_by_clone()
            created += 1
        if created:
            # Many new schemas leave the catalog statistics stale and make later clones slow.
            with connection.cursor() as cursor:
                cursor.execute("ANALYZE")
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s)", [POOL_LOCK_ID])
    return created


def routable_tenants() -> list[Tenant]:
    return list(Tenant.objects.filter(status=Tenant.Status.ACTIVE).order_by("pk"))
