"""The Celery app. tenant-schemas-celery stamps every task with the schema it was sent from and
enters that schema before the task runs."""

from __future__ import annotations

import os
from typing import Any

from tenant_schemas_celery.app import CeleryApp
from tenant_schemas_celery.task import TenantTask

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "huiyuan.platform.settings")

from .tenancy import PUBLIC_SCHEMA, current_schema  # noqa: E402


class TenantContextMissing(RuntimeError):
    """A tenant task was sent or run outside any tenant: refusing beats running in public."""


class TenantOnlyTask(TenantTask):
    """Base of every task that touches a merchant's data."""

    abstract = True

    def apply_async(self, args: Any = None, kwargs: Any = None, **options: Any) -> Any:
        headers = options.get("headers") or {}
        schema = headers.get("_schema_name") or current_schema()
        if schema == PUBLIC_SCHEMA and not self.app.conf.task_always_eager:
            raise TenantContextMissing(f"{self.name} sent from the public schema; send it inside a tenant")
        return super().apply_async(args, kwargs, **options)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if current_schema() == PUBLIC_SCHEMA:
            raise TenantContextMissing(f"{self.name} ran in the public schema")
        return super().__call__(*args, **kwargs)


app = CeleryApp("huiyuan")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks(
    lambda: [
        "huiyuan.platform.events",
        "huiyuan.tenants",
        "huiyuan.members",
        "huiyuan.loyalty",
        "huiyuan.automation",
        "huiyuan.integrations",
        "huiyuan.reports",
    ]
)


def tenant_task(*args: Any, **kwargs: Any) -> Any:
    """``@tenant_task(name=...)``: a task that must run inside a tenant schema."""
    kwargs.setdefault("base", TenantOnlyTask)
    return app.task(*args, **kwargs)


def fan_out_to_tenants(*tasks: Any) -> int:
    """Send each task once per active merchant, each in its own tenant and its own message, so
    one merchant's failure (or one job's) never skips another's. Beat's nightly tasks call this."""
    from django_tenants.utils import get_tenant_model, tenant_context

    tenants = list(get_tenant_model().objects.filter(status="active").order_by("pk"))
    for tenant in tenants:
        with tenant_context(tenant):
            for task in tasks:
                task.delay()
    return len(tenants)


def _connect_metrics() -> None:
    """Task failures counted for Prometheus; a worker serves its own /metrics on
    ``HUIYUAN_WORKER_METRICS_PORT`` (workers take no HTTP traffic otherwise)."""
    import os

    from celery.signals import task_failure, worker_ready

    from .metrics import record_task_failure

    task_failure.connect(record_task_failure, weak=False)

    def serve(**_kwargs: Any) -> None:
        port = os.environ.get("HUIYUAN_WORKER_METRICS_PORT")
        if not port:
            return
        from prometheus_client import CollectorRegistry, start_http_server

        registry = None
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            from prometheus_client import multiprocess

            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)
        start_http_server(int(port), registry=registry) if registry else start_http_server(int(port))

    worker_ready.connect(serve, weak=False)


_connect_metrics()
