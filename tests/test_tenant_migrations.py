"""Migrating every merchant's schema in parallel: nothing to do is found fast, a schema missing a
migration gets it in a child process, and a schema that cannot be migrated is named while the
others are finished; a re-run resumes (schemas already done are skipped)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.db import connection

from huiyuan.tenants.migrating import SchemasNotMigrated, migrate_tenants, pending_schemas, tenant_schemas
from huiyuan.tenants.models import Tenant
from huiyuan.tenants.services import tenant_signup

from .conftest import PASSWORD

pytestmark = pytest.mark.slow


@pytest.fixture
def three(committed: Any) -> Iterator[list[str]]:
    made = []
    for i in range(3):
        result = tenant_signup(
            name=f"迁移商户{i}", subdomain=f"migr{i}", owner_phone="", owner_email=f"o{i}@migr.cn", password=PASSWORD
        )
        made.append(result.tenant.schema_name)
    connection.set_schema_to_public()
    yield made
    connection.set_schema_to_public()
    for tenant in Tenant.objects.filter(schema_name__in=made):
        tenant.delete(force_drop=True)


def _forget(schema: str, *, drop_table: bool) -> None:
    """Make ``schema`` miss the last reports migration (as after an upgrade that adds it)."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"DELETE FROM \"{schema}\".django_migrations WHERE app = 'reports' AND name = '0002_report_schedules'"
        )
        if drop_table:
            cursor.execute(
                f'DROP TABLE "{schema}".reports_reportschedule_recipients, "{schema}".reports_reportschedule'
            )


def _table_exists(schema: str, table: str) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass(%s) IS NOT NULL", [f'"{schema}".{table}'])
        return bool(cursor.fetchone()[0])


def test_nothing_to_do_is_found_without_running_migrate(three: list[str]) -> None:
    assert set(three) <= set(tenant_schemas())
    assert pending_schemas(three) == []
    result = migrate_tenants(processes=2, schemas=three)
    assert result["migrated"] == 0


def test_a_missing_migration_is_applied_and_a_broken_schema_is_named(three: list[str]) -> None:
    fixable, broken, fine = three
    _forget(fixable, drop_table=True)
    _forget(broken, drop_table=False)  # the table is there but the record is not: the migration fails
    assert sorted(pending_schemas(three)) == sorted([fixable, broken])
    lines: list[str] = []
    with pytest.raises(SchemasNotMigrated) as failed:
        migrate_tenants(processes=2, schemas=three, progress=lines.append)
    assert set(failed.value.failures) == {broken}
    assert "reports_reportschedule" in failed.value.failures[broken]
    assert _table_exists(fixable, "reports_reportschedule")
    assert pending_schemas(three) == [broken]
    assert any(line.startswith(f"FAILED {broken}") for line in lines)
    # The operator repairs the schema; the re-run migrates only what is left.
    with connection.cursor() as cursor:
        cursor.execute(f'DROP TABLE "{broken}".reports_reportschedule_recipients, "{broken}".reports_reportschedule')
    assert migrate_tenants(processes=2, schemas=three)["migrated"] == 1
    assert pending_schemas(three) == [] and fine in three
