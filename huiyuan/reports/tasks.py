"""Thin Celery tasks: the nightly rollup per merchant."""

from __future__ import annotations

from huiyuan.platform.celery import app, fan_out_to_tenants, tenant_task


@tenant_task(name="huiyuan.reports.rollup_recent")
def rollup_recent_task() -> int:
    from .rollups import rollup_recent

    return rollup_recent()


@tenant_task(name="huiyuan.reports.rollup_days")
def rollup_days_task(first: str, last: str) -> int:
    from datetime import date

    from .rollups import rollup_days

    return rollup_days(date.fromisoformat(first), date.fromisoformat(last))


@app.task(name="huiyuan.reports.nightly_all_tenants")
def nightly_all_tenants_task() -> int:
    """Beat runs this in public; each merchant rebuilds its last days."""
    return fan_out_to_tenants(rollup_recent_task)


@tenant_task(name="huiyuan.reports.send_schedules")
def send_schedules_task() -> int:
    from .schedules import schedules_send_due

    return schedules_send_due()


@app.task(name="huiyuan.reports.schedules_all_tenants")
def schedules_all_tenants_task() -> int:
    """Beat runs this hourly in public; each merchant sends the summaries that fell due."""
    return fan_out_to_tenants(send_schedules_task)
