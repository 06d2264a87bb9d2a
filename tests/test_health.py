from __future__ import annotations

from django.test import Client

from .conftest import World


def test_liveness_answers_without_touching_database_or_broker(alpha: World, django_assert_num_queries) -> None:  # type: ignore[no-untyped-def]
    with django_assert_num_queries(0):
        response = Client(HTTP_HOST="10.0.0.7").get("/health")  # probes arrive with a pod IP
    assert response.status_code == 200 and response.json() == {"status": "ok"}


def test_readiness_details_for_operators_only(alpha: World, settings) -> None:  # type: ignore[no-untyped-def]
    body = Client().get("/health/ready").json()  # loopback: an operator on the machine
    checks = body["checks"]
    assert checks["database"]["ok"] and checks["redis"]["ok"] and "workers" in checks
    assert set(checks["events"]) >= {"oldest_unpublished_seconds", "overdue_deliveries", "dead_deliveries"}

    remote = Client(REMOTE_ADDR="10.0.0.9").get("/health/ready")
    assert remote.status_code == 200 and remote.json() == {"status": remote.json()["status"]}
    spoofed = Client(HTTP_X_FORWARDED_FOR="127.0.0.1", REMOTE_ADDR="10.0.0.9").get("/health/ready").json()
    assert "checks" not in spoofed

    settings.HUIYUAN_HEALTH_TOKEN = "s3cret-token"
    monitored = Client(REMOTE_ADDR="10.0.0.9", HTTP_AUTHORIZATION="Bearer s3cret-token").get("/health/ready").json()
    assert "checks" in monitored
    wrong = Client(REMOTE_ADDR="10.0.0.9", HTTP_AUTHORIZATION="Bearer guess").get("/health/ready").json()
    assert "checks" not in wrong
