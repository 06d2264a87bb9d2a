from __future__ import annotations

from django.test import Client

from .conftest import World


def test_health_reports_database_redis_and_workers(alpha: World) -> None:
    body = Client(HTTP_HOST="10.0.0.7").get("/health").json()  # probes arrive with a pod IP
    assert body["checks"]["database"]["ok"] is True
    assert body["checks"]["redis"]["ok"] is True
    assert "workers" in body["checks"]
    assert body["status"] in ("ok", "degraded")


def test_health_without_worker_check(alpha: World) -> None:
    response = Client().get("/health?workers=0")
    assert response.status_code == 200 and response.json()["status"] == "ok"
