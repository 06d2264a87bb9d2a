"""``/health``: database, Redis and Celery worker status, answered for any host (probes use IPs)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse

HEALTH_PATHS = frozenset({"/health", "/health/"})


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


def _redis() -> None:
    import redis

    redis.Redis.from_url(settings.CACHES["default"]["LOCATION"], socket_timeout=2).ping()


def _workers() -> dict[str, Any]:
    from .celery import app

    replies = app.control.ping(timeout=1.0) or []
    names = sorted(name for reply in replies for name in reply)
    if not names:
        raise RuntimeError("no Celery worker answered")
    return {"workers": names}


def health_report(*, include_workers: bool = True) -> tuple[int, dict[str, Any]]:
    checks = {"database": _timed(_database), "redis": _timed(_redis)}
    if include_workers:
        checks["workers"] = _timed(_workers)
    core_ok = checks["database"]["ok"] and checks["redis"]["ok"]
    status = "ok" if all(c["ok"] for c in checks.values()) else ("degraded" if core_ok else "down")
    return (200 if core_ok else 503), {"status": status, "checks": checks}


class HealthCheckMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path in HEALTH_PATHS:
            code, body = health_report(include_workers=request.GET.get("workers") != "0")
            return JsonResponse(body, status=code)
        return self.get_response(request)
