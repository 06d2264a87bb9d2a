"""A subscriber whose effect is a row in the tenant's audit log, so tests count deliveries by what
they did. Imported by the test process and by worker processes the tests start (``-I``)."""

from __future__ import annotations

import time

from huiyuan.platform.events.registry import Event, subscribe
from huiyuan.platform.models import AuditEntry

PROBE_EVENT = "tests.probe"
PROBE_SUBSCRIBER = "tests.probe_effect"
PROBE_ACTION = "tests.probe.handled"


def _handle(event: Event) -> None:
    if event.payload.get("fail"):
        raise RuntimeError("the probe was told to fail")
    AuditEntry.objects.create(action=PROBE_ACTION, object_type="event", object_id=str(event.id))
    time.sleep(float(event.payload.get("sleep", 0.01)))  # long enough for faults to land mid-stream


subscribe(PROBE_EVENT, PROBE_SUBSCRIBER, _handle)
