"""Signup speed: p95 from ``POST /api/v1/signup`` to the new tenant answering a request, through
the whole Django stack (middleware, validation, Argon2, claim, domain, owner, audit), with the pool
refilled between signups as the Celery refill task does in production. Also the cold path (pool
empty: clone the template) and, as the baseline, provisioning a tenant by running every migration.

    python -m bench.tenant_provisioning [--quick]
"""

from __future__ import annotations

import time

from bench._common import median, p95, parse_args, report, start


def main() -> None:
    args = parse_args(__doc__ or "")
    signups, cold, migrations = (20, 3, 3) if args.quick else (100, 10, 10)
    services = start("huiyuan_bench_provisioning")
    try:
        run(signups, cold, migrations)
    finally:
        services.stop()


def run(signups: int, cold: int, migrations: int) -> None:
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client

    from huiyuan.tenants import provisioning
    from huiyuan.tenants.models import Tenant

    call_command("setup_platform", verbosity=0, pool_size=2)

    def signup(i: int, prefix: str) -> float:
        started = time.perf_counter()
        response = Client(HTTP_HOST="localhost").post(
            "/api/v1/signup",
            {
                "name": f"商户{i}",
                "subdomain": f"{prefix}{i}",
                "owner_phone": f"139{i:08d}",
                "password": "Bench-pass-2026",
            },
            content_type="application/json",
        )
        assert response.status_code == 201, response.content
        tenant_host = response.json()["domain"]
        answer = Client(HTTP_HOST=tenant_host).get("/login/")
        assert answer.status_code == 200
        elapsed = time.perf_counter() - started
        connection.set_schema_to_public()  # type: ignore[attr-defined]
        return elapsed

    warm: list[float] = []
    for i in range(signups):
        provisioning.refill_pool(2)  # what the Celery refill task does after each claim
        warm.append(signup(i, "warm"))

    cold_signup: list[float] = []
    clone_only: list[float] = []
    for i in range(cold):
        Tenant.objects.filter(status=Tenant.Status.POOL).update(status=Tenant.Status.SUSPENDED)
        cold_signup.append(signup(i, "cold"))
        started = time.perf_counter()
        provisioning.provision_by_clone(status=Tenant.Status.SUSPENDED)
        clone_only.append(time.perf_counter() - started)

    by_migrations: list[float] = []
    for _ in range(migrations):
        started = time.perf_counter()
        provisioning.provision_by_migrations(status=Tenant.Status.SUSPENDED)
        by_migrations.append(time.perf_counter() - started)

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = %s",
            [provisioning.template_schema_name()],
        )
        (tables,) = cursor.fetchone()  # type: ignore[misc]

    value = p95(warm)
    baseline = median(by_migrations)
    print(f"signup p50 {median(warm) * 1000:.0f} ms, p95 {value * 1000:.0f} ms over {signups} signups")
    print(f"cold signup (clone) p50 {median(cold_signup) * 1000:.0f} ms, max {max(cold_signup) * 1000:.0f} ms")
    print(f"clone alone p50 {median(clone_only) * 1000:.0f} ms; by migrations p50 {baseline * 1000:.0f} ms")
    report(
        bench="tenant_provisioning",
        value=value,
        unit="s (p95 signup to answering tenant)",
        baseline=baseline,
        baseline_label="provision one tenant by running all migrations (median)",
        ratio=baseline / value,
        scale={"signups": signups, "cold_signups": cold, "migration_runs": migrations, "tenant_tables": tables},
        cold_signup_p50_s=round(median(cold_signup), 4),
        cold_signup_max_s=round(max(cold_signup), 4),
        clone_p50_s=round(median(clone_only), 4),
    )


if __name__ == "__main__":
    main()
