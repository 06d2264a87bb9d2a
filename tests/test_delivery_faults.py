"""Faults injected into a real Celery worker, Redis and PostgreSQL while events stream through:
every event must end handled exactly once by its subscriber, counted by the subscriber's effect.

The worker runs as its own process (prefork, two children) with the probe subscriber loaded; the
test process records events (each transaction hands its events over, as requests do) and runs the
beat sweep's task body every half second, as beat would."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from django.db import connection, transaction
from django_tenants.utils import tenant_context

from huiyuan.platform.celery import app
from huiyuan.platform.events.models import Delivery, OutboxEvent
from huiyuan.platform.events.services import event_record
from huiyuan.platform.events.tasks import publish_pending
from huiyuan.platform.models import AuditEntry

from .conftest import World
from .support.delivery_probe import PROBE_ACTION, PROBE_EVENT, SECOND_ACTION
from .support.services import PrivateRedis, use_broker

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[1]
LEASE = 2.0
WORKER_APP = "huiyuan-test-worker"


class Worker:
    def __init__(self, broker_url: str, lease: float) -> None:
        db = connection.settings_dict
        database_url = (
            f"postgres://{quote(db['USER'] or 'postgres')}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/"
            f"{db['NAME']}?application_name={WORKER_APP}"
        )
        self.env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "tests.settings",
            "DATABASE_URL": database_url,
            "REDIS_URL": broker_url,
            "HUIYUAN_DELIVERY_LEASE_SECONDS": str(lease),
        }
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(  # noqa: S603
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "huiyuan",
                "worker",
                "-I",
                "tests.support.delivery_probe",
                "--pool",
                "prefork",
                "--concurrency",
                "2",
                "--loglevel",
                "error",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
                "-n",
                f"probe-{time.monotonic_ns()}@%h",
            ],
            cwd=ROOT,
            env=self.env,
            start_new_session=True,
        )

    def kill_main_process(self) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait()

    def stop(self) -> None:
        if self.proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)  # the main process and any orphaned children
        self.proc.wait()


class Sweeper:
    """What beat does every 2 s, every half second here."""

    def __init__(self) -> None:
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self.stopping.wait(0.5):
            with contextlib.suppress(Exception):  # the broker or database is being broken on purpose
                publish_pending()
        connection.close()

    def __enter__(self) -> Sweeper:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopping.set()
        self.thread.join()


@pytest.fixture
def stack(committed: dict[str, World], tmp_path: Path, settings: Any) -> Iterator[dict[str, Any]]:
    settings.HUIYUAN_DELIVERY_LEASE_SECONDS = LEASE
    redis = PrivateRedis(tmp_path)
    redis.start()
    real_url = app.conf.broker_url
    use_broker(redis.url)
    workers: list[Worker] = []

    def new_worker() -> Worker:
        worker = Worker(redis.url, LEASE)
        worker.start()
        workers.append(worker)
        return worker

    # As `huiyuan up` (and Kubernetes) do: a worker that exits is started again. Celery's main
    # process can die on a broker that vanishes ("Unrecoverable error" in kombu); the guarantee
    # must hold across that too.
    supervising = threading.Event()

    def supervise() -> None:
        while not supervising.wait(0.5):
            if workers and all(w.proc is not None and w.proc.poll() is not None for w in workers):
                new_worker()

    supervisor = threading.Thread(target=supervise, daemon=True)
    alpha = committed["alpha"]
    try:
        supervisor.start()
        yield {"redis": redis, "new_worker": new_worker, "world": alpha}
    finally:
        supervising.set()
        supervisor.join()
        for worker in workers:
            worker.stop()
        use_broker(real_url)
        redis.kill()
        with tenant_context(alpha.tenant):
            AuditEntry.objects.filter(action__in=[PROBE_ACTION, SECOND_ACTION]).delete()
        OutboxEvent.objects.filter(tenant_schema=alpha.tenant.schema_name).delete()
        connection.set_schema_to_public()


def stream(world: World, *, transactions: int, per_transaction: int, pause: float = 0.02) -> list[int]:
    """Record events the way requests do: several per transaction, handed over after each commit."""
    ids: list[int] = []
    with tenant_context(world.tenant):
        for _ in range(transactions):
            with transaction.atomic():
                ids += [event_record(PROBE_EVENT, {"sleep": 0.01}).pk for _ in range(per_transaction)]
            time.sleep(pause)
    connection.set_schema_to_public()
    return ids


def handled_count(world: World) -> int:
    with tenant_context(world.tenant):
        return AuditEntry.objects.filter(action=PROBE_ACTION).count()


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def assert_each_handled_once(world: World, event_ids: list[int]) -> None:
    """Every event handled once by each of its two subscribers, counted by their effects."""

    def all_handled() -> bool:
        handled = Delivery.objects.filter(event_id__in=event_ids, status=Delivery.Status.HANDLED).count()
        return handled == 2 * len(event_ids)

    wait_until(all_handled, 90, "every delivery to be handled")
    time.sleep(LEASE + 1.5)  # let any stray duplicate (redelivered message, resent delivery) run
    with tenant_context(world.tenant):
        for action in (PROBE_ACTION, SECOND_ACTION):
            effects = list(AuditEntry.objects.filter(action=action).values_list("object_id", flat=True))
            assert sorted(map(int, effects)) == sorted(event_ids), f"{action}: each event's effect exactly once"
    connection.set_schema_to_public()


def test_worker_main_process_killed_mid_stream(stack: dict[str, Any]) -> None:
    world = stack["world"]
    worker = stack["new_worker"]()
    with Sweeper():
        events = stream(world, transactions=20, per_transaction=10)
        wait_until(lambda: handled_count(world) >= 40, 60, "the worker to get going")
        worker.kill_main_process()
        events += stream(world, transactions=10, per_transaction=10)  # while no worker runs
        stack["new_worker"]()
        assert_each_handled_once(world, events)


def test_redis_restarted_with_its_data_gone(stack: dict[str, Any]) -> None:
    world, redis = stack["world"], stack["redis"]
    stack["new_worker"]()
    with Sweeper():
        events = stream(world, transactions=20, per_transaction=10)
        wait_until(lambda: handled_count(world) >= 30, 60, "the worker to get going")
        redis.kill()  # every queued and unacknowledged message is gone
        events += stream(world, transactions=5, per_transaction=10)  # hand-overs fail; the rows wait
        redis.start()
        events += stream(world, transactions=5, per_transaction=10)
        assert_each_handled_once(world, events)


def test_database_connections_terminated_while_publishing(stack: dict[str, Any]) -> None:
    world = stack["world"]
    stack["new_worker"]()

    def worker_connected() -> bool:
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE application_name = %s", [WORKER_APP])
            return bool(cursor.fetchone()[0])

    terminated = 0
    with Sweeper():
        events = stream(world, transactions=1, per_transaction=1, pause=0)  # something to connect for
        wait_until(worker_connected, 60, "the worker to connect to the database")  # a busy machine boots it slowly
        for _round in range(12):
            events += stream(world, transactions=5, per_transaction=10, pause=0)
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE application_name = %s AND pid <> pg_backend_pid()",
                    [WORKER_APP],
                )
                terminated += cursor.fetchone()[0]
            time.sleep(0.15)
        assert terminated > 0, "the worker's connections were cut"
        assert_each_handled_once(world, events)
