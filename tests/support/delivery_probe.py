"""A subscriber whose effect is a row in the tenant's audit log, so tests count deliveries by what
they did. Imported by the test process and by worker processes the tests start (``-I``)."""

from __future__ import annotations

import time

from huiyuan.platform.events.registry import Event, subscribe
from huiyuan.platform.models import AuditEntry

PROBE_EVENT = "tests.probe"
PROBE_SUBSCRIBER = "tests.probe_effect"
PROBE_ACTION = "tests.probe.handled"
SECOND_SUBSCRIBER = "tests.probe_second"
SECOND_ACTION = "tests.probe.second"


def _handle(event: Event) -> None:
    if event.payload.get("fail"):
        raise RuntimeError("the probe was told to fail")
    AuditEntry.objects.create(action=PROBE_ACTION, object_type="event", object_id=str(event.id))
    time.sleep(float(event.payload.get("sleep", 0.01)))  # long enough for faults to land mid-stream


def _second(event: Event) -> None:
    """A second subscriber of the same events: each must handle each event once, on its own."""
    AuditEntry.objects.create(action=SECOND_ACTION, object_type="event", object_id=str(event.id))


subscribe(PROBE_EVENT, PROBE_SUBSCRIBER, _handle, label="测试探针")
subscribe(PROBE_EVENT, SECOND_SUBSCRIBER, _second)
