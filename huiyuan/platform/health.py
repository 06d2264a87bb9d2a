"""Health, answered for any host (probes use IPs):

- ``/health`` is liveness: the process answers. No database, Redis or broker round trip, so a
  probe can call it every second and a database outage does not get healthy web pods restarted.
- ``/health/ready`` is readiness: 200 while the database answers (Redis down is "degraded": the
  platform keeps serving with limits and cache off), 503 when it does not. Operators (loopback,
  or ``Authorization: Bearer $HUIYUAN_HEALTH_TOKEN``) get the details: database, Redis, Celery
  workers (one broker round trip) and the event backlog (oldest unpublished event, overdue and
  dead deliveries). Anonymous callers get the status word only.
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse

LIVENESS_PATHS = frozenset({"/health", "/health/"})
READINESS_PATHS = frozenset({"/health/ready", "/health/ready/"})
LOOPBACK = frozenset({"127.0.0.1", "::1"})


def _timed(check: Callable[[], Any]) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        detail = check()
    except Exception as exc:  # noqa: BLE001 - a health check reports failures, it does not raise them
        return {"ok": False, "error": f"{type(exc).__name__}: {exc}"[:300]}
    result = {"ok": True, "ms": round((time.perf_counter() - started) * 1000, 1)}
    if isinstance(detail, dict):
        result.update(detail)
    return result


def _database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")


def _redis() -> dict[str, Any]:
    import redis

    from .cache import cache_unavailable

    redis.Redis.from_url(str(settings.CACHES["default"]["LOCATION"]), socket_timeout=1, socket_connect_timeout=1).ping()
    skipped = cache_unavailable()
    return {"cache": "failing open since an error: " + skipped} if skipped else {}


def _workers() -> dict[str, Any]:
    from .celery import app

    replies = app.control.ping(timeout=1.0) or []
    names = sorted(name for reply in replies for name in reply)
    if not names:
        raise RuntimeError("no Celery worker answered")
    return {"workers": names}


def _backlog() -> dict[str, Any]:
    from django.db.models import Min
    from django.utils import timezone

    from .events.models import Delivery, OutboxEvent

    now = timezone.now()
    oldest = OutboxEvent.objects.filter(published_at__isnull=True).aggregate(oldest=Min("created_at"))["oldest"]
    return {
        "oldest_unpublished_seconds": round((now - oldest).total_seconds(), 1) if oldest else 0,
        "overdue_deliveries": Delivery.objects.filter(status=Delivery.Status.PENDING, next_attempt_at__lt=now).count(),
        "dead_deliveries": Delivery.objects.filter(status=Delivery.Status.DEAD).count(),
    }


def readiness_report(*, details: bool) -> tuple[int, dict[str, Any]]:
    checks = {"database": _timed(_database), "redis": _timed(_redis)}
    if details:
        checks["workers"] = _timed(_workers)
        if checks["database"]["ok"]:
            checks["events"] = _timed(_backlog)
    ready = checks["database"]["ok"]
    status = "ok" if all(c["ok"] for c in checks.values()) else ("degraded" if ready else "down")
    body: dict[str, Any] = {"status": status}
    if details:
        body["checks"] = checks
    return (200 if ready else 503), body


def is_operator(request: HttpRequest) -> bool:
    token = settings.HUIYUAN_HEALTH_TOKEN
    sent = request.META.get("HTTP_AUTHORIZATION", "")
    if token and hmac.compare_digest(sent.encode(), f"Bearer {token}".encode()):
        return True
    return request.META.get("REMOTE_ADDR") in LOOPBACK and "HTTP_X_FORWARDED_FOR" not in request.META


class HealthCheckMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path in LIVENESS_PATHS:
            return JsonResponse({"status": "ok"})
        if request.path in ("/metrics", "/metrics/"):
            if not is_operator(request):
                return JsonResponse({"error": "operators only (loopback or the health token)"}, status=403)
            from .metrics import metrics_response

            return metrics_response()
        if request.path in READINESS_PATHS:
            code, body = readiness_report(details=is_operator(request))
            return JsonResponse(body, status=code)
        return self.get_response(request)
