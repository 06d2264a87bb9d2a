"""Migrating 1,000 merchants' schemas: a no-op migrate (nothing new, the usual upgrade) and a
one-column migration (members 0015 adds ``erased_at``, reset in every schema before each run),
with ``huiyuan migrate`` (pending schemas found from their migration tables, 4 processes) against
django-tenants' standard sequential ``migrate_schemas`` in the same run. Published anchor for the
standard way: about 12 minutes for 900 tenants.

    python -m bench.tenant_migrations [--quick]
"""

from __future__ import annotations

import time

from bench._common import parse_args, peak_rss_mb, report, start

PROCESSES = 4


def main() -> None:
    args = parse_args(__doc__ or "")
    tenants = 40 if args.quick else 1000
    services = start("huiyuan_bench_migrations")
    try:
        run(tenants)
    finally:
        services.stop()


def _reset_one_column(schemas: list[str]) -> None:
    """Put every schema back to before members 0015: the column gone, the record gone."""
    from django.db import connection

    with connection.cursor() as cursor:
        for schema in schemas:
            cursor.execute(f'ALTER TABLE "{schema}".members_member DROP COLUMN IF EXISTS erased_at')
            cursor.execute(
                f"DELETE FROM \"{schema}\".django_migrations WHERE app = 'members' AND name = '0015_member_erasure'"
            )


def _make_schemas(count: int, template: str) -> None:
    """``count`` merchant schemas as the template's copies, fast: the template dumped once, replayed
    under each new name on 4 connections (the product's own clone takes a second each, serially)."""
    import os
    import subprocess
    from concurrent.futures import ThreadPoolExecutor

    import psycopg
    from django.conf import settings

    from huiyuan.tenants.models import Tenant

    db = settings.DATABASES["default"]
    env = {**os.environ, "PGHOST": str(db["HOST"]), "PGPORT": str(db["PORT"]), "PGUSER": str(db["USER"])}
    if db.get("PASSWORD"):
        env["PGPASSWORD"] = str(db["PASSWORD"])
    dump = subprocess.run(
        ["pg_dump", "--schema", template, "--no-owner", "--no-privileges", "--inserts", str(db["NAME"])],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    dump = "\n".join(
        line for line in dump.splitlines() if not line.startswith(("SET ", "SELECT pg_catalog.set_config", "\\"))
    )
    names = [f"m_bench{i:05d}" for i in range(count)]
    dsn = os.environ["DATABASE_URL"]

    def make(batch: list[str]) -> None:
        with psycopg.connect(dsn, autocommit=True) as conn:
            for name in batch:
                conn.execute(dump.replace(f"{template}.", f"{name}.").replace(f"SCHEMA {template}", f"SCHEMA {name}"))

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(make, [names[i::4] for i in range(4)]))
    Tenant.objects.bulk_create([Tenant(schema_name=name, status=Tenant.Status.POOL) for name in names])


def _standard() -> float:
    from django.core.management import call_command
    from django.db import connection

    started = time.perf_counter()
    call_command("migrate_schemas", tenant=True, executor="standard", interactive=False, verbosity=0)
    connection.set_schema_to_public()
    return time.perf_counter() - started


def _ours() -> float:
    from huiyuan.tenants.migrating import migrate_tenants

    started = time.perf_counter()
    migrate_tenants(processes=PROCESSES)
    return time.perf_counter() - started


def run(count: int) -> None:
    from django.core.management import call_command
    from django.db import connection

    from huiyuan.tenants import provisioning
    from huiyuan.tenants.migrating import pending_schemas, tenant_schemas

    call_command("setup_platform", verbosity=0, pool_size=0)
    started = time.perf_counter()
    _make_schemas(count, provisioning.template_schema_name())
    connection.set_schema_to_public()
    schemas = tenant_schemas()
    print(f"{len(schemas)} schemas (template included) created in {time.perf_counter() - started:.0f} s", flush=True)

    ours_noop = _ours()
    print(f"no-op:      huiyuan migrate {ours_noop:7.1f} s", flush=True)
    standard_noop = _standard()
    print(f"no-op:      migrate_schemas {standard_noop:7.1f} s", flush=True)

    _reset_one_column(schemas)
    ours_column = _ours()
    assert pending_schemas(schemas) == [], "a schema was left behind"
    print(f"one column: huiyuan migrate {ours_column:7.1f} s", flush=True)
    _reset_one_column(schemas)
    standard_column = _standard()
    assert pending_schemas(schemas) == []
    print(f"one column: migrate_schemas {standard_column:7.1f} s", flush=True)

    report(
        bench="tenant_migrations",
        value=ours_column,
        unit="s (one-column migration over every schema)",
        baseline=standard_column,
        baseline_label="django-tenants migrate_schemas, standard sequential executor, same schemas",
        ratio=standard_column / ours_column,
        peak_rss=peak_rss_mb(),
        scale={"tenants": count, "schemas": len(schemas), "processes": PROCESSES},
        noop_seconds=round(ours_noop, 2),
        noop_baseline_seconds=round(standard_noop, 2),
        noop_ratio=round(standard_noop / ours_noop, 1),
    )


if __name__ == "__main__":
    main()
