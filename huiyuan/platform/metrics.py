"""Prometheus metrics at ``/metrics`` (operators only: loopback or the health token), in
Prometheus' own client library so gunicorn's processes add up (``PROMETHEUS_MULTIPROC_DIR``).

- ``huiyuan_http_requests_total{route, method, status}`` and ``huiyuan_http_request_seconds{route}``
  (route = the URL pattern's name, never the raw path, so the label set stays small);
- ``huiyuan_checkout_seconds`` for the till and POS checkout;
- ``huiyuan_task_failures_total{task}`` from Celery workers;
- ``huiyuan_outbox_lag_seconds`` and ``huiyuan_deliveries{state}`` read at scrape time;
- per merchant (``tenant`` label) only with ``HUIYUAN_METRICS_PER_TENANT=1``: cheap for tens of
  merchants, a cardinality problem for thousands.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily

LABELS = ["route", "method", "status", "tenant"]
REQUESTS = Counter("huiyuan_http_requests_total", "HTTP requests answered", LABELS)
LATENCY = Histogram(
    "huiyuan_http_request_seconds",
    "Time to answer a request",
    ["route", "tenant"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
CHECKOUT = Histogram(
    "huiyuan_checkout_seconds", "Time to answer a checkout commit", buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5)
)
TASK_FAILURES = Counter("huiyuan_task_failures_total", "Celery tasks that raised", ["task"])


def _tenant_label(request: HttpRequest) -> str:
    if not settings.HUIYUAN_METRICS_PER_TENANT:
        return ""
    tenant = getattr(request, "tenant", None)
    return str(getattr(tenant, "schema_name", "")) if tenant is not None else ""


class MetricsMiddleware:
    """Counts and times every request by its route name (after URL resolution)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        response = self.get_response(request)
        match = getattr(request, "resolver_match", None)
        route = (match.view_name if match else "") or "unmatched"
        tenant = _tenant_label(request)
        elapsed = time.perf_counter() - started
        REQUESTS.labels(route, request.method or "", str(response.status_code), tenant).inc()
        LATENCY.labels(route, tenant).observe(elapsed)
        if route.endswith("checkout") and request.method == "POST":
            CHECKOUT.observe(elapsed)
        return response


class _BacklogCollector:
    """The event backlog, read from the database when Prometheus scrapes."""

    def collect(self) -> Any:
        from django.db.models import Count, Min
        from django.utils import timezone

        from .events.models import Delivery, OutboxEvent

        lag = GaugeMetricFamily("huiyuan_outbox_lag_seconds", "Age of the oldest event not yet published")
        oldest = OutboxEvent.objects.filter(published_at__isnull=True).aggregate(oldest=Min("created_at"))["oldest"]
        lag.add_metric([], (timezone.now() - oldest).total_seconds() if oldest else 0.0)
        yield lag
        states = GaugeMetricFamily("huiyuan_deliveries", "Event deliveries by state", labels=["state"])
        for row in Delivery.objects.values("status").annotate(n=Count("id")):
            states.add_metric([row["status"]], row["n"])
        yield states


def metrics_response() -> HttpResponse:
    registry = CollectorRegistry()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.MultiProcessCollector(registry)
    else:
        from prometheus_client import REGISTRY

        registry = REGISTRY  # type: ignore[assignment]
    body = generate_latest(registry)
    backlog = CollectorRegistry()
    backlog.register(_BacklogCollector())  # type: ignore[arg-type]
    body += generate_latest(backlog)
    return HttpResponse(body, content_type=CONTENT_TYPE_LATEST)


def record_task_failure(sender: Any = None, **kwargs: Any) -> None:
    TASK_FAILURES.labels(getattr(sender, "name", "unknown")).inc()
