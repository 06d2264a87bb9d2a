"""What monitoring reads: Prometheus metrics for operators only, counted by route (never by raw
path), the event backlog at scrape time; JSON log lines carrying the merchant and the request id,
which the response echoes."""

from __future__ import annotations

import json
import logging

from django.db import connection
from django.test import Client
from django_tenants.utils import tenant_context

from huiyuan.platform.logs import JsonFormatter, _request_id

from .conftest import World
from .test_console import console


def test_metrics_are_for_operators_and_count_requests_by_route(alpha: World) -> None:
    console(alpha, "hq").get("/members/")
    assert Client(HTTP_HOST="localhost", REMOTE_ADDR="10.1.2.3").get("/metrics").status_code == 403
    scraped = Client(HTTP_HOST="localhost", REMOTE_ADDR="127.0.0.1").get("/metrics")
    text = scraped.content.decode()
    assert scraped.status_code == 200 and scraped["Content-Type"].startswith("text/plain")
    assert 'huiyuan_http_requests_total{method="GET",route="console:members",status="200",tenant=""}' in text
    assert "huiyuan_outbox_lag_seconds" in text and "huiyuan_http_request_seconds_bucket" in text
    assert "/members/" not in text  # routes, not paths: ids in URLs never become label values


def test_a_request_id_is_echoed_and_json_log_lines_carry_it_with_the_merchant(alpha: World) -> None:
    response = console(alpha, "hq").get("/members/", HTTP_X_REQUEST_ID="req-42")
    assert response["X-Request-ID"] == "req-42"
    made_up = console(alpha, "hq").get("/members/", HTTP_X_REQUEST_ID="x" * 500)["X-Request-ID"]
    assert len(made_up) == 32 and made_up != "x" * 500  # an overlong id is replaced, not echoed
    record = logging.LogRecord("huiyuan.test", logging.WARNING, __file__, 1, "订单 %s 已退款", ("A1",), None)
    token = _request_id.set("req-42")
    try:
        with tenant_context(alpha.tenant):
            line = json.loads(JsonFormatter().format(record))
    finally:
        _request_id.reset(token)
    connection.set_schema_to_public()
    assert line["message"] == "订单 A1 已退款" and line["request_id"] == "req-42"
    assert line["tenant"] == alpha.tenant.schema_name and line["level"] == "WARNING"
