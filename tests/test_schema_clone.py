"""A cloned tenant schema is structurally identical to one built by running every migration."""

from __future__ import annotations

from typing import Any

from django.db import connection

from huiyuan.tenants import provisioning

from .conftest import World

CATALOG_QUERIES = {
    "columns": """
        SELECT table_name, column_name, data_type, is_nullable, character_maximum_length,
               numeric_precision, numeric_scale,
               regexp_replace(coalesce(column_default, ''), '^nextval\\(''[^.]+\\.', 'nextval(''')
        FROM information_schema.columns WHERE table_schema = %s""",
    "indexes": """
        SELECT tablename, indexname, replace(indexdef, %s || '.', 'SCHEMA.')
        FROM pg_indexes WHERE schemaname = %s""",
    "constraints": """
        SELECT cl.relname, co.conname, co.contype, pg_get_constraintdef(co.oid)
        FROM pg_constraint co JOIN pg_class cl ON cl.oid = co.conrelid
        JOIN pg_namespace n ON n.oid = cl.relnamespace WHERE n.nspname = %s""",
    "sequences": "SELECT sequence_name, data_type FROM information_schema.sequences WHERE sequence_schema = %s",
    "migrations": "SELECT app, name FROM {schema}.django_migrations",
    "permissions": "SELECT codename FROM {schema}.auth_permission",
}


def catalog(schema: str) -> dict[str, set[tuple[Any, ...]]]:
    result = {}
    with connection.cursor() as cursor:
        for name, sql in CATALOG_QUERIES.items():
            if "{schema}" in sql:
                cursor.execute(sql.format(schema=connection.ops.quote_name(schema)))
            elif name == "indexes":
                cursor.execute(sql, [schema, schema])
            else:
                cursor.execute(sql, [schema])
            rows = cursor.fetchall()
            result[name] = {tuple(str(v).replace(schema, "SCHEMA") for v in row) for row in rows}
    return result


def test_cloned_schema_equals_migrated_schema(alpha: World) -> None:
    cloned = provisioning.provision_by_clone()
    migrated = provisioning.provision_by_migrations()
    a, b = catalog(cloned.schema_name), catalog(migrated.schema_name)
    assert len(a["columns"]) > 100 and a["indexes"] and a["constraints"] and a["permissions"]
    for name in CATALOG_QUERIES:
        assert a[name] == b[name], f"{name} differ: {sorted(a[name] ^ b[name])[:10]}"


def test_template_is_migrated_like_a_fresh_schema(alpha: World) -> None:
    migrated = provisioning.provision_by_migrations()
    template = catalog(provisioning.template_schema_name())
    fresh = catalog(migrated.schema_name)
    assert template["migrations"] == fresh["migrations"]
    assert template["columns"] == fresh["columns"]
