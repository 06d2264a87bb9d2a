"""Degrade, never die: the API answers JSON for every status; a dropped database connection is a
503 with a retry hint; a committed order is never answered as failed; with Redis stopped the API
keeps taking orders and the events wait in PostgreSQL until it is back."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.db import OperationalError, connection
from django_tenants.utils import tenant_context
from rest_framework.test import APIClient

from huiyuan.members.models import Order
from huiyuan.platform.events.models import OutboxEvent

from .conftest import World, api, undo_committed_loyalty
from .support.services import PrivateRedis, use_broker


def assert_json_error(response: Any, status: int, code: str) -> None:
    assert response.status_code == status
    assert response["Content-Type"].startswith("application/json"), response.content[:200]
    assert response.json()["error"]["code"] == code


def test_every_api_status_is_json(alpha: World, settings: Any) -> None:
    client = api(alpha, "hq")
    assert_json_error(client.get("/api/v1/no-such-endpoint"), 404, "NOT_FOUND")
    assert_json_error(client.delete("/api/v1/checkout"), 405, "METHOD_NOT_ALLOWED")
    assert_json_error(APIClient(HTTP_HOST="nobody.localhost").get("/api/v1/members"), 404, "NOT_FOUND")
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    big = client.post("/api/v1/orders", {"order_no": "X" * 2000}, format="json")
    assert_json_error(big, 413, "PAYLOAD_TOO_LARGE")
    garbage = client.post("/api/v1/checkout", b"{not json", content_type="application/json")
    assert_json_error(garbage, 400, "PARSE_ERROR")


def test_a_crash_is_a_json_500_even_with_debug_on(alpha: World, settings: Any, monkeypatch: Any) -> None:
    from huiyuan.loyalty import checkout

    def explode(**_: Any) -> Any:
        raise RuntimeError("a bug")

    settings.DEBUG = True
    monkeypatch.setattr(checkout, "checkout_options", explode)
    client = api(alpha, "hq")
    client.raise_request_exception = False
    answer = client.post("/api/v1/checkout/quote", {"order_no": "Q", "store": "A001"}, format="json")
    assert_json_error(answer, 500, "SERVER_ERROR")
    assert "a bug" not in answer.content.decode()


def _terminate_own_connection() -> None:
    """The server ends this connection, as a failover or a restarted PgBouncer would."""
    with contextlib.suppress(OperationalError), connection.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(pg_backend_pid())")


@pytest.mark.slow
def test_a_dropped_database_connection_is_a_json_503(committed: dict[str, World], monkeypatch: Any) -> None:
    from huiyuan.members import selectors

    original = selectors.member_list

    def cut_then_list(*args: Any, **kwargs: Any) -> Any:
        _terminate_own_connection()
        return original(*args, **kwargs)

    monkeypatch.setattr(selectors, "member_list", cut_then_list)
    client = api(committed["alpha"], "hq")
    client.raise_request_exception = False
    answer = client.get("/api/v1/members")
    assert_json_error(answer, 503, "SERVICE_UNAVAILABLE")
    assert answer["Retry-After"] == "2"
    connection.close()


@pytest.mark.slow
def test_a_committed_order_is_answered_as_committed_when_the_connection_drops(
    committed: dict[str, World], monkeypatch: Any
) -> None:
    from huiyuan.loyalty import checkout

    alpha = committed["alpha"]
    original = checkout.checkout_commit

    def commit_then_cut(**kwargs: Any) -> Any:
        result = original(**kwargs)
        _terminate_own_connection()
        return result

    monkeypatch.setattr(checkout, "checkout_commit", commit_then_cut)
    body = {"order_no": "CUT-1", "store": "A001", "lines": [{"sku": "X", "amount": "30.00"}]}
    try:
        answer = api(alpha, "hq").post("/api/v1/checkout", body, format="json")
        assert answer.status_code == 201 and answer.json()["order_no"] == "CUT-1"
        assert answer.json()["paid_amount"] == "30.00"
        connection.close()
        monkeypatch.setattr(checkout, "checkout_commit", original)
        replay = api(alpha, "hq").post("/api/v1/checkout", body, format="json")
        assert replay.status_code == 201 and replay["Idempotent-Replayed"] == "true"
        assert replay.json()["id"] == answer.json()["id"]
    finally:
        connection.close()
        with tenant_context(alpha.tenant):
            Order.objects.filter(order_no="CUT-1").delete()
        OutboxEvent.objects.filter(tenant_schema=alpha.tenant.schema_name).delete()
        connection.set_schema_to_public()


@pytest.fixture
def private_redis(tmp_path: Path, settings: Any) -> Iterator[PrivateRedis]:
    """Cache and broker on a Redis of the test's own, which the test stops and starts."""
    from huiyuan.platform.celery import app

    redis = PrivateRedis(tmp_path)
    redis.start()
    settings.CACHES = {**settings.CACHES, "default": {**settings.CACHES["default"], "LOCATION": redis.url}}
    real_broker = app.conf.broker_url
    use_broker(redis.url)
    try:
        yield redis
    finally:
        redis.kill()
        use_broker(real_broker)


@pytest.mark.slow
def test_with_redis_stopped_checkouts_keep_succeeding_and_the_events_wait(
    committed: dict[str, World], private_redis: PrivateRedis
) -> None:
    from huiyuan.platform.events.services import publish_events

    alpha = committed["alpha"]
    client = api(alpha, "manager_a")
    basket = {"store": "A001", "member": {"phone": "13800000001"}, "lines": [{"sku": "X", "amount": "10.00"}]}
    try:
        assert client.post("/api/v1/checkout", {**basket, "order_no": "RD-0"}, format="json").status_code == 201
        private_redis.kill()
        started = time.monotonic()
        for n in range(1, 21):
            answer = client.post("/api/v1/checkout", {**basket, "order_no": f"RD-{n}"}, format="json")
            assert answer.status_code == 201, answer.content[:300]
        assert time.monotonic() - started < 10, "a dead Redis must not slow every request"
        ready = client.get("/health/ready").json()
        assert ready["status"] == "degraded" and not ready["checks"]["redis"]["ok"]
        with tenant_context(alpha.tenant):
            assert Order.objects.filter(order_no__startswith="RD-").count() == 21
        pending = OutboxEvent.objects.filter(tenant_schema=alpha.tenant.schema_name, published_at__isnull=True)
        assert pending.count() >= 20  # kept in PostgreSQL for the sweep

        private_redis.start()
        assert publish_events() >= 20  # what the beat sweep does once Redis is back
        assert not pending.exists()
    finally:
        undo_committed_loyalty(alpha, alpha.member_a.pk, order_prefix="RD-")
