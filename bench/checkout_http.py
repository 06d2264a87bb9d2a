"""Checkout through the real HTTP stack: gunicorn (the worker settings ``huiyuan up`` uses), tenant
routing by Host header, API-key authentication, throttling (a rate high enough never to refuse, so
the limiter still reads and writes Redis on every request), ``Idempotency-Key`` and the checkout
itself, from 8 concurrent clients with keep-alive connections. Baseline in the same run, same
server, same clients: a trivial authenticated endpoint (``GET /api/v1/stores``).
``ratio`` = checkout orders/s ÷ trivial requests/s; p50 / p95 / p99 latencies of both.

    python -m bench.checkout_http [--quick]
"""

from __future__ import annotations

import json
import os
import signal
import statistics
import subprocess
import sys
import threading
import time
import uuid
from http.client import HTTPConnection
from typing import Any

from bench._common import parse_args, report, start

CLIENTS = 8
ROUNDS = 3
WEB_WORKERS = int(os.environ.get("BENCH_WEB_WORKERS", "2"))
WEB_THREADS = int(os.environ.get("BENCH_WEB_THREADS", "4"))


def main() -> None:
    args = parse_args(__doc__ or "")
    per_round, members = (60, 2_000) if args.quick else (400, 20_000)
    os.environ["HUIYUAN_THROTTLE_ACTOR"] = "10000000/minute"
    services = start("huiyuan_bench_http")
    server: subprocess.Popen[bytes] | None = None
    try:
        token, host = _setup(members)
        from huiyuan.embedded import free_port, port_open

        port = free_port()
        server = subprocess.Popen(  # noqa: S603
            [
                sys.executable,
                "-m",
                "gunicorn",
                "huiyuan.platform.wsgi:application",
                "--bind",
                f"127.0.0.1:{port}",
                "--workers",
                str(WEB_WORKERS),
                "--threads",
                str(WEB_THREADS),
                "--log-level",
                "warning",
            ],
            env={**os.environ, "HUIYUAN_LOG_LEVEL": "WARNING"},
            stdout=sys.stderr,
            stderr=sys.stderr,
        )
        deadline = time.monotonic() + 30
        while not port_open(port):
            if time.monotonic() > deadline or server.poll() is not None:
                raise RuntimeError("gunicorn did not start")
            time.sleep(0.1)
        base = f"http://127.0.0.1:{port}"
        headers = {"Host": host, "Authorization": f"Api-Key {token}"}
        _load(base, headers, "trivial", 20, members)  # warm both paths: connections, plans, caches
        _load(base, headers, "checkout", 20, members)
        # Alternating rounds, medians: this machine's speed drifts by tens of percent within a minute.
        rounds = [
            (_load(base, headers, "trivial", per_round, members), _load(base, headers, "checkout", per_round, members))
            for _ in range(ROUNDS)
        ]
        trivial = _combine([t for t, _ in rounds])
        checkout = _combine([c for _, c in rounds])
        _check_orders(per_round * ROUNDS * CLIENTS + 20 * CLIENTS)
        report(
            bench="checkout_http",
            value=checkout["rps"],
            unit="orders/s",
            baseline=trivial["rps"],
            baseline_label="GET /api/v1/stores (authenticated, same server and clients)",
            ratio=checkout["rps"] / trivial["rps"],
            scale={
                "clients": CLIENTS,
                "rounds": ROUNDS,
                "requests_per_client_per_round": per_round,
                "members": members,
                "web_workers": WEB_WORKERS,
                "web_threads": WEB_THREADS,
            },
            checkout_ms={k: checkout[k] for k in ("p50", "p95", "p99")},
            trivial_ms={k: trivial[k] for k in ("p50", "p95", "p99")},
            errors=checkout["errors"] + trivial["errors"],
        )
    finally:
        if server is not None and server.poll() is None:
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=30)
        services.stop()


def _setup(members: int) -> tuple[str, str]:
    from django.core.management import call_command
    from django.db import connection
    from django_tenants.utils import tenant_context

    from huiyuan.loyalty.ledger import loyalty_settings
    from huiyuan.members.models import Member, Store
    from huiyuan.platform.apikeys import api_key_create
    from huiyuan.platform.models import User
    from huiyuan.tenants.services import tenant_signup

    call_command("setup_platform", verbosity=0, pool_size=1)
    result = tenant_signup(
        name="HTTP 压测", subdomain="httpbench", owner_phone="13900000001", owner_email="", password="Bench-pass-2026"
    )
    with tenant_context(result.tenant):
        store = Store.objects.create(code="S1", name="一号店")
        loyalty_settings()
        Member.objects.bulk_create(
            [Member(phone=f"+86{13100000000 + i}", card_no=f"B{i}", home_store=store) for i in range(members)],
            batch_size=5000,
        )
        owner = User.objects.get(role="owner")
        issued = api_key_create(
            actor=owner, name="bench till", scopes=["loyalty.order.create", "platform.store.view"], store_id=None
        )
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
    connection.set_schema_to_public()  # type: ignore[attr-defined]
    return issued.token, result.domain


def _load(base: str, headers: dict[str, str], kind: str, per_client: int, members: int) -> dict[str, Any]:
    """``per_client`` requests from each of ``CLIENTS`` threads, each on one keep-alive connection.
    The standard library's client: the load generator shares the two cores with the server and
    should spend as little of them as it can."""
    host, port = base.removeprefix("http://").split(":")
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    barrier = threading.Barrier(CLIENTS + 1)

    def client(number: int) -> None:
        mine: list[float] = []
        http = HTTPConnection(host, int(port), timeout=30)
        barrier.wait()
        for i in range(per_client):
            started = time.perf_counter()
            if kind == "trivial":
                http.request("GET", "/api/v1/stores", headers=headers)
                expected = 200
            else:
                order_no = uuid.uuid4().hex
                member = (number * 7919 + i * 104729) % members
                body = json.dumps(
                    {
                        "order_no": order_no,
                        "store": "S1",
                        "member": {"phone": str(13100000000 + member)},
                        "lines": [{"sku": "LATTE", "category": "咖啡", "amount": "36.00"}],
                    }
                )
                http.request(
                    "POST",
                    "/api/v1/checkout",
                    body=body.encode(),
                    headers={**headers, "Content-Type": "application/json", "Idempotency-Key": order_no},
                )
                expected = 201
            answer = http.getresponse()
            content = answer.read()
            mine.append((time.perf_counter() - started) * 1000)
            if answer.status != expected:
                with lock:
                    errors.append(f"{answer.status} {content[:200]!r}")
        http.close()
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(CLIENTS)]
    for thread in threads:
        thread.start()
    barrier.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    if errors:
        print(f"{kind}: {len(errors)} failed, e.g. {errors[0]}", file=sys.stderr)
    return {"rps": len(latencies) / elapsed, "latencies": latencies, "errors": len(errors)}


def _combine(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """Median throughput of the rounds; latency percentiles over every request of all rounds."""
    ordered = sorted(ms for r in rounds for ms in r["latencies"])

    def pct(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 1)

    return {
        "rps": statistics.median(r["rps"] for r in rounds),
        "p50": pct(0.50),
        "p95": pct(0.95),
        "p99": pct(0.99),
        "errors": sum(r["errors"] for r in rounds),
    }


def _check_orders(expected: int) -> None:
    from django.db import connection
    from django_tenants.utils import schema_context

    from huiyuan.members.models import Order
    from huiyuan.tenants.models import Domain

    schema = Domain.objects.select_related("tenant").get(domain__startswith="httpbench").tenant.schema_name
    with schema_context(schema):
        count = Order.objects.count()
    connection.set_schema_to_public()  # type: ignore[attr-defined]
    if count != expected:
        print(f"expected {expected} orders, found {count}", file=sys.stderr)


if __name__ == "__main__":
    main()
