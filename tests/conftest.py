"""Two merchants, alpha and beta, built once per session with identical primary keys, so a leak
between tenants shows up as wrong data. Each test runs in a transaction that rolls back; tests
that need commits (concurrency, Celery worker) use ``committed`` and clean up after themselves."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import pytest_django.fixtures as pytest_django_fixtures
from django.db import connection, connections
from django_tenants.utils import schema_context, tenant_context
from rest_framework.test import APIClient

from huiyuan.members.models import Member, Store
from huiyuan.platform.models import StoreAssignment, User
from huiyuan.platform.roles import Role
from huiyuan.tenants import provisioning
from huiyuan.tenants.models import Tenant
from huiyuan.tenants.services import tenant_signup

PASSWORD = "Test-pass-2026"


def _databases_always_including_default(items: Any) -> tuple[set[str], set[str]]:
    aliases, serialized = _original_databases_for_setup(items)
    return aliases | {"default"}, serialized


# pytest-django creates the test database only when a collected test asks for ``db``; a run of
# only ``committed`` tests (worker, fault and concurrency tests) would otherwise hit the real one.
_original_databases_for_setup = pytest_django_fixtures._get_databases_for_setup
pytest_django_fixtures._get_databases_for_setup = _databases_always_including_default


@dataclass
class World:
    tenant: Tenant
    host: str
    store_a: Store
    store_b: Store
    owner: User
    hq: User
    manager_a: User
    cashier_b: User
    marketing: User
    service: User
    member_a: Member  # home store A
    member_b: Member  # home store B

    def persona(self, name: str) -> User:
        return getattr(self, name)  # type: ignore[no-any-return]


def _build_world(subdomain: str, label: str) -> World:
    result = tenant_signup(
        name=f"{label} 商户",
        subdomain=subdomain,
        owner_phone="",
        owner_email=f"owner@{subdomain}.cn",
        password=PASSWORD,
    )
    tenant = result.tenant
    with tenant_context(tenant):
        store_a = Store.objects.create(code="A001", name=f"{label} 徐汇店", region="上海")
        store_b = Store.objects.create(code="B001", name=f"{label} 天河店", region="广州")

        def staff(username: str, role: str, stores: list[Store]) -> User:
            user = User(username=username, name=f"{label}-{username}", role=role)
            user.set_password(PASSWORD)
            user.save()
            StoreAssignment.objects.bulk_create([StoreAssignment(user=user, store=s) for s in stores])
            return user

        world = World(
            tenant=tenant,
            host=result.domain,
            store_a=store_a,
            store_b=store_b,
            owner=User.objects.get(role=Role.OWNER),
            hq=staff("hq", Role.HQ_ADMIN, []),
            manager_a=staff("manager_a", Role.STORE_MANAGER, [store_a]),
            cashier_b=staff("cashier_b", Role.CASHIER, [store_b]),
            marketing=staff("marketing", Role.MARKETING, []),
            service=staff("service", Role.CUSTOMER_SERVICE, []),
            member_a=Member.objects.create(
                name=f"{label}-张三", phone="+8613800000001", card_no=f"{label}-0001", home_store=store_a
            ),
            member_b=Member.objects.create(
                name=f"{label}-李四", phone="+8613800000002", card_no=f"{label}-0002", home_store=store_b
            ),
        )
    return world


@pytest.fixture(scope="session")
def worlds(django_db_setup: Any, django_db_blocker: Any) -> Iterator[dict[str, World]]:
    with django_db_blocker.unblock():
        connection.set_schema_to_public()
        provisioning.ensure_public_tenant()
        provisioning.ensure_template()
        built = {"alpha": _build_world("alpha", "Alpha"), "beta": _build_world("beta", "Beta")}
        connection.set_schema_to_public()
    yield built


def _forget_access_caches(worlds: dict[str, World]) -> None:
    """Personas live for the whole session; answers remembered per actor must not outlive a test."""
    for world in worlds.values():
        for name in ("owner", "hq", "manager_a", "cashier_b", "marketing", "service"):
            world.persona(name).__dict__.pop("_huiyuan_access_cache", None)


@pytest.fixture(scope="session")
def server(worlds: dict[str, World], django_db_blocker: Any) -> Iterator[str]:
    """The platform served over HTTP on a free local port, in a thread: requests reach it as a
    browser's would (Host header routing, session and CSRF cookies)."""
    import threading
    from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

    from django.db import connections

    from huiyuan.embedded import free_port
    from huiyuan.platform.wsgi import application

    class Quiet(WSGIRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

    class Threaded(WSGIServer):
        daemon_threads = True

    def closing(environ: Any, start_response: Any) -> Any:
        # Each request runs in a thread of its own: close its connection when it is done, or the
        # test database cannot be dropped at the end of the session.
        try:
            return list(application(environ, start_response))
        finally:
            connections.close_all()

    port = free_port()
    httpd = make_server("127.0.0.1", port, closing, server_class=Threaded, handler_class=Quiet)

    def serve() -> None:
        with django_db_blocker.unblock():
            httpd.serve_forever(poll_interval=0.1)
            connections.close_all()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{port}"
    httpd.shutdown()
    thread.join()


@pytest.fixture
def alpha(worlds: dict[str, World], db: Any) -> Iterator[World]:
    connection.set_schema_to_public()
    _forget_access_caches(worlds)
    yield worlds["alpha"]
    connection.set_schema_to_public()


@pytest.fixture
def beta(worlds: dict[str, World], db: Any) -> World:
    return worlds["beta"]


@pytest.fixture
def in_alpha(alpha: World) -> Iterator[World]:
    """Run the test body inside alpha's schema (ORM-level tests)."""
    with tenant_context(alpha.tenant):
        yield alpha


@pytest.fixture
def committed(worlds: dict[str, World], django_db_blocker: Any) -> Iterator[dict[str, World]]:
    """Real commits, for tests that need other connections (threads, Celery workers) to see data."""
    with django_db_blocker.unblock():
        connection.set_schema_to_public()
        yield worlds
        connection.set_schema_to_public()


def api(world: World, persona: str | None = None) -> APIClient:
    """An API client on the world's host, logged in as ``persona`` (session auth) if given."""
    client = APIClient(HTTP_HOST=world.host)
    if persona:
        with tenant_context(world.tenant):
            client.force_login(world.persona(persona), backend="huiyuan.platform.auth.StaffLoginBackend")
        connection.set_schema_to_public()
    return client


def public_api() -> APIClient:
    with schema_context("public"):
        return APIClient(HTTP_HOST="localhost")


def undo_committed_loyalty(world: World, member_id: int, *, order_prefix: str | None = None) -> None:
    """After a test that committed for real (threads, workers): remove the loyalty entries, the
    orders starting with ``order_prefix`` and the events, and put the member back as built."""
    from huiyuan.loyalty.models import (
        LoyaltySettings,
        PointsAdjustment,
        PointsEntry,
        PointsLot,
        PointsLotMovement,
        StoredValueEntry,
    )
    from huiyuan.members.models import Order
    from huiyuan.platform.events.models import OutboxEvent

    with tenant_context(world.tenant):
        PointsAdjustment.objects.all().delete()
        PointsLotMovement.objects.all().delete()
        PointsLot.objects.all().delete()
        PointsEntry.objects.all().delete()
        StoredValueEntry.objects.all().delete()
        LoyaltySettings.objects.all().delete()
        if order_prefix:
            Order.objects.filter(order_no__startswith=order_prefix).delete()
        Member.objects.filter(pk=member_id).update(
            points_balance=0,
            stored_principal=0,
            stored_bonus=0,
            order_count=0,
            total_spend=0,
            first_purchase_at=None,
            last_purchase_at=None,
            lifecycle="prospect",
        )
    OutboxEvent.objects.filter(tenant_schema=world.tenant.schema_name).delete()
    connection.set_schema_to_public()


@pytest.fixture(autouse=True)
def _fresh_fault_memory() -> Iterator[None]:
    """A test that breaks the broker or Redis leaves its process backing off; the next starts fresh."""
    yield
    from huiyuan.platform import cache
    from huiyuan.platform.events import services

    services._handover_paused_until = 0.0
    cache._state.down_until = 0.0
    from django.core.cache import cache as django_cache

    django_cache.clear()  # counters (daily budgets, rate limits, tokens) must not outlive a test
    from django.utils import translation

    translation.deactivate()  # a request in Chinese must not leave the next test speaking it
    from huiyuan.tenants.middleware import forget_routes

    forget_routes()  # tenants built and rolled back per test must not be remembered by host
    from huiyuan.platform import apikeys

    apikeys._verified.clear()


CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        if os.environ.get("HUIYUAN_REQUIRE_BROWSER") == "1":
            pytest.fail("Chromium is required (apt-get install chromium fonts-noto-cjk)")
        pytest.skip("Chromium is not installed (apt-get install chromium fonts-noto-cjk)")
    from playwright.sync_api import sync_playwright

    # Playwright's sync API runs an event loop in this thread; Django refuses ORM calls there unless
    # told the calls are synchronous (they are: the loop only drives the browser).
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        yield browser
        browser.close()
        # Django keeps a connection per context, and Playwright's greenlets are contexts of their own.
        connections.close_all()
    os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)


@pytest.fixture(scope="session")
def shots() -> Path:
    """Where browser tests keep their screenshots: ``artifacts/screenshots`` (or HUIYUAN_ARTIFACTS),
    left after the run for a reviewer to look at."""
    root = Path(os.environ.get("HUIYUAN_ARTIFACTS") or Path(__file__).resolve().parent.parent / "artifacts")
    folder = root / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    return folder
